package topology

import (
	"path/filepath"
	"testing"
)

// TestExamples keeps the shipped examples loadable, so `geomesh up` on any
// of them works for a newcomer.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../configs/examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d examples, want at least 3", len(files))
	}
	files = append(files, "testdata/valid/minimal.yaml", "testdata/valid/full.yaml")
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s:\n%v", f, err)
		}
	}
}

// TestExamplePortsDisjoint: the examples can run side by side on one
// machine only if no two of them listen on the same port.
func TestExamplePortsDisjoint(t *testing.T) {
	files, err := filepath.Glob("../configs/examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]string{}
	for _, f := range files {
		m, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		var addrs []string
		for _, r := range m.Regions {
			if r.Kafka != nil && r.Kafka.Embedded {
				addrs = append(addrs, r.Kafka.Bootstrap[0])
			}
			for _, a := range r.Agents {
				addrs = append(addrs, a.Gossip, a.API, a.Control)
			}
		}
		for _, a := range addrs {
			if other, dup := used[a]; dup && other != f {
				t.Errorf("%s: %s is also used by %s", f, a, other)
			}
			used[a] = f
		}
	}
}
