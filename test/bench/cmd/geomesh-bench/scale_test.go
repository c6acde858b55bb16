package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// TestMerge: a run merged into an earlier report keeps the earlier runs
// with their commit, failed ones included, and its notes; medians and
// verdicts use the runs of each scenario's newest commit that succeeded;
// failed runs are counted beside them.
func TestMerge(t *testing.T) {
	old := &results{Machine: machine{Commit: "aaa"}, Throughput: map[string][]tpRun{},
		Notes: []string{"scenario wan failed: no netns"}}
	for _, v := range []float64{100, 110, 120} {
		old.Throughput["throughput"] = append(old.Throughput["throughput"], tpRun{Copier: geomeshEOS, RecordsPerSec: v})
	}
	old.Latency = []latRun{{Copier: geomeshEOS, P99Ms: 30}}
	old.Scale = []scaleRun{{Copier: geomeshEOS, Topics: 100, Partitions: 2000, IdleCPUPct: 2}}
	old.mergeInto(machine{Commit: "bbb"})
	for _, v := range []float64{200, 220} {
		old.addThroughput("throughput", tpRun{Copier: geomeshEOS, RecordsPerSec: v}, nil)
	}
	old.addThroughput("throughput", tpRun{Copier: geomeshEOS}, errors.New("copier timed out after 10m0s"))
	old.addScale(scaleRun{Copier: geomeshEOS, Topics: 500, Partitions: 10000}, errors.New("copier exited"))

	if n := len(old.Throughput["throughput"]); n != 6 {
		t.Fatalf("%d throughput runs, want the 3 earlier and the 3 new", n)
	}
	if c := old.Throughput["throughput"][0].Commit; c != "aaa" {
		t.Errorf("an earlier run's commit %q, want aaa", c)
	}
	if c := old.Throughput["throughput"][5]; c.Commit != "bbb" || c.Error == "" {
		t.Errorf("the failed run: %+v, want commit bbb and its error", c)
	}
	rps := old.metricsOf("throughput", func(t tpRun) float64 { return t.RecordsPerSec })
	if s := rps[geomeshEOS]; s.N != 2 || s.Median != 210 {
		t.Errorf("median %+v, want 210 over the 2 runs of bbb that succeeded", s)
	}
	failed := failedBy(old.Throughput["throughput"], func(t tpRun) (string, runOutcome) { return t.Copier, t.runOutcome })
	if failed[geomeshEOS] != 1 {
		t.Errorf("failed %v, want 1", failed)
	}
	// Latency and the 2,000-partition scale size were not measured again:
	// their aaa runs still count.
	if s := old.latencyOf(func(l latRun) float64 { return l.P99Ms })[geomeshEOS]; s.N != 1 || s.Median != 30 {
		t.Errorf("latency %+v, want the earlier run", s)
	}
	if s := old.scaleOf(2000, func(x scaleRun) float64 { return x.IdleCPUPct })[geomeshEOS]; s.N != 1 {
		t.Errorf("scale 2000 %+v, want the earlier run", s)
	}
	if s, ok := old.scaleOf(10000, func(x scaleRun) float64 { return x.IdleCPUPct })[geomeshEOS]; ok {
		t.Errorf("scale 10000 %+v, want no median: its one run failed", s)
	}
	if !slices.Equal(old.Notes, []string{"commit aaa: scenario wan failed: no netns"}) {
		t.Errorf("notes %q", old.Notes)
	}
	var md bytes.Buffer
	renderMarkdown(&md, old, nil)
	for _, want := range []string{"| 2 (+1 failed) |", "| geomesh-eos | 0 | aaa | 100 |", "copier timed out after 10m0s |", "| — | — | — | — | 0 (+1 failed) |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
