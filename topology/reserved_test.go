package topology_test

import (
	"slices"
	"testing"

	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/mirror/heartbeat"
	"github.com/geomesh/geomesh/topology"
)

// TestReservedTopics keeps the list of geomesh's own topics, which a file
// may not use for dead letters, in step with the topics the mirror writes.
func TestReservedTopics(t *testing.T) {
	for _, topic := range []string{mirror.ProgressTopic, heartbeat.Topic} {
		if !slices.Contains(topology.ReservedTopics, topic) {
			t.Errorf("topology.ReservedTopics lacks %s", topic)
		}
	}
}
