package membership

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/geomesh/geomesh/topology"
)

// Keys resolves and decodes the topology's gossip keys, first the
// one that encrypts. Errors name the reference, never the value.
func Keys(g topology.Gossip) ([][]byte, error) {
	var keys [][]byte
	for _, s := range g.Keys {
		v, err := s.Resolve()
		if err != nil {
			return nil, fmt.Errorf("gossip key: %w", err)
		}
		k, err := DecodeKey(v)
		if err != nil {
			return nil, fmt.Errorf("gossip key %s: %w", s, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// DecodeKey reads a base64 AES key, as `openssl rand -base64 32` writes.
func DecodeKey(v string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, errors.New("not base64 (make one with: openssl rand -base64 32)")
	}
	if n := len(k); n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("%d bytes, want 16, 24 or 32", n)
	}
	return k, nil
}
