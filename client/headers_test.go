package client_test

import (
	"testing"

	"github.com/geomesh/geomesh/client"
	"github.com/geomesh/geomesh/mirror"
)

// TestHeadersMatchMirror pins the header names the client repeats to the
// ones the mirror engine writes: they are a wire contract.
func TestHeadersMatchMirror(t *testing.T) {
	for _, c := range [][2]string{
		{client.HeaderOriginRegion, mirror.HeaderOriginRegion},
		{client.HeaderOriginTopic, mirror.HeaderOriginTopic},
		{client.HeaderOriginPartition, mirror.HeaderOriginPartition},
		{client.HeaderOriginOffset, mirror.HeaderOriginOffset},
		{client.HeaderVisited, mirror.HeaderVisited},
	} {
		if c[0] != c[1] {
			t.Errorf("client says %q, mirror writes %q", c[0], c[1])
		}
	}
}
