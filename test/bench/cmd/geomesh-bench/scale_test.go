package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestLogsLeft counts the live and to-be-deleted logs of the named topics
// only, topic names with dots and dashes included.
func TestLogsLeft(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{
		"bench-scale-a-000-0", "bench-scale-a-000-1",
		"gmeos.bench-scale-a-000-3.4ffa75fc36e04c50992692854fbeaef0-delete",
		"bench-scale-a-0000-0", // another topic sharing the prefix
		"bench-scale-b-000-0.0123456789abcdef0123456789abcdef-delete", // another run
		"meta.properties", "__cluster_metadata-0",
	} {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if n := logsLeft(dir, []string{"bench-scale-a-000", "gmeos.bench-scale-a-000"}); n != 3 {
		t.Errorf("logsLeft = %d, want 3", n)
	}
	if n := logsLeft(filepath.Join(dir, "missing"), []string{"bench-scale-a-000"}); n != 0 {
		t.Errorf("logsLeft of a missing dir = %d, want 0", n)
	}
}

// TestForget: a merged run replaces the scenarios and scale sizes it
// measured again and keeps the others.
func TestForget(t *testing.T) {
	r := &results{
		Throughput: map[string][]tpRun{"throughput": {{}}, "wan": {{}}},
		Latency:    []latRun{{}},
		Scale:      []scaleRun{{Partitions: 2000}, {Partitions: 10000}, {Partitions: 10000}},
		Notes: []string{"scale 10000 partitions rep 2 geomesh-eos: context deadline exceeded",
			"scale 2000 partitions rep 1 mm2-eos: copier exited", "wan rep 1 raw: timeout", "latency rep 2 raw: timeout"},
	}
	r.forget([]string{"scale", "wan"}, []int{10000})
	if len(r.Throughput["throughput"]) != 1 || len(r.Throughput["wan"]) != 0 || len(r.Latency) != 1 {
		t.Errorf("throughput %v, latency %v: want throughput kept, wan dropped, latency kept", r.Throughput, r.Latency)
	}
	if len(r.Scale) != 1 || r.Scale[0].Partitions != 2000 {
		t.Errorf("scale = %+v, want only the 2,000-partition run", r.Scale)
	}
	want := []string{"scale 2000 partitions rep 1 mm2-eos: copier exited", "latency rep 2 raw: timeout"}
	if !slices.Equal(r.Notes, want) {
		t.Errorf("notes = %q, want %q", r.Notes, want)
	}
}
