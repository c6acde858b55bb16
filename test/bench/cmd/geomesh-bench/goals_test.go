package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGoalsFile reads the repository's goals: every metric names a
// scenario, a field and copiers the runner has.
func TestGoalsFile(t *testing.T) {
	goals, err := loadGoals()
	if err != nil {
		t.Fatal(err)
	}
	if len(goals) < 10 {
		t.Fatalf("%d goals, want the issues' goals (at least 10)", len(goals))
	}
}

func TestReadGoalsRefuses(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown key", `{"goals": [{"goal": "g", "metric": "throughput.records_per_s.raw", "op": ">=", "threshold": 1, "source": "s", "unit": "x"}]}`, `unknown field "unit"`},
		{"bad op", `{"goals": [{"goal": "g", "metric": "throughput.records_per_s.raw", "op": ">", "threshold": 1, "source": "s"}]}`, `op ">"`},
		{"unknown scenario", `{"goals": [{"goal": "g", "metric": "lan.records_per_s.raw", "op": ">=", "threshold": 1, "source": "s"}]}`, `no scenario "lan"`},
		{"field of another scenario", `{"goals": [{"goal": "g", "metric": "latency.records_per_s.raw", "op": ">=", "threshold": 1, "source": "s"}]}`, `latency has no field "records_per_s"`},
		{"unknown copier", `{"goals": [{"goal": "g", "metric": "throughput.records_per_s.geomesh-eos/mm3", "op": ">=", "threshold": 1, "source": "s"}]}`, `no copier "mm3"`},
		{"scale without size", `{"goals": [{"goal": "g", "metric": "scale-x.idle_cpu_pct.geomesh-eos", "op": "<=", "threshold": 5, "source": "s"}]}`, `want scale-N`},
		{"no source", `{"goals": [{"goal": "g", "metric": "throughput.records_per_s.raw", "op": ">=", "threshold": 1}]}`, `source are required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "goals.json")
			if err := os.WriteFile(path, []byte(tc.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := readGoals(path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// judged returns results with geomesh exactly-once at eos records/s per
// run, MirrorMaker 2 exactly-once at mm2, latency p99s, and scale runs.
func judged(eos, mm2 []float64) *results {
	r := &results{Throughput: map[string][]tpRun{}}
	for i, v := range eos {
		r.addThroughput("throughput", tpRun{Copier: geomeshEOS, Rep: i, RecordsPerSec: v}, nil)
	}
	for i, v := range mm2 {
		r.addThroughput("throughput", tpRun{Copier: mm2EOS, Rep: i, RecordsPerSec: v}, nil)
	}
	r.addLatency(latRun{Copier: geomeshEOS, P99Ms: 50}, nil)
	r.addLatency(latRun{Copier: geomeshEOS, P99Ms: 70}, nil)
	r.addLatency(latRun{Copier: geomeshEOS, P99Ms: 80}, nil)
	r.Scale = []scaleRun{
		{Copier: geomeshEOS, Topics: 500, Partitions: 10000, IdleCPUPct: 4.5, NewTopic: -1},
		{Copier: geomeshEOS, Topics: 500, Partitions: 10000, IdleCPUPct: 6, NewTopic: 3},
		{Copier: geomeshEOS, Topics: 100, Partitions: 2000, IdleCPUPct: 40, NewTopic: 9},
	}
	return r
}

func TestJudge(t *testing.T) {
	goals := []goal{
		{Goal: "2× MM2", Metric: "throughput.records_per_s.geomesh-eos/mm2-eos", Op: ">=", Threshold: 2},
		{Goal: "3× MM2", Metric: "throughput.records_per_s.geomesh-eos/mm2-eos", Op: ">=", Threshold: 3},
		{Goal: "p99", Metric: "latency.p99_ms.geomesh-eos", Op: "<=", Threshold: 60},
		{Goal: "idle", Metric: "scale-10000.idle_cpu_pct.geomesh-eos", Op: "<=", Threshold: 5.25},
		{Goal: "new topic", Metric: "scale-10000.new_topic_s.geomesh-eos", Op: "<=", Threshold: 3},
		{Goal: "raw", Metric: "throughput.records_per_s.geomesh-eos/raw", Op: ">=", Threshold: 0.9},
		{Goal: "wan", Metric: "wan.records_per_s.geomesh-eos", Op: ">=", Threshold: 1},
	}
	// Medians: 200/75 = 2.67; p99 70; idle (4.5+6)/2 = 5.25; new topic 3
	// (the run past the limit, -1, left out); no raw loop, no WAN run.
	got := judged([]float64{300, 100, 200}, []float64{50, 100}).judge(goals)
	want := []struct {
		outcome string
		value   float64
	}{{outcomeMet, 200.0 / 75}, {outcomeMissed, 200.0 / 75}, {outcomeMissed, 70}, {outcomeMet, 5.25}, {outcomeMet, 3}, {outcomeNotMeasured, 0}, {outcomeNotMeasured, 0}}
	for i, v := range got {
		if v.Outcome != want[i].outcome || v.Value != want[i].value {
			t.Errorf("%s: %s %g, want %s %g", v.Goal, v.Outcome, v.Value, want[i].outcome, want[i].value)
		}
	}
	// A worse rerun of the same goals gets its own verdicts: nothing is
	// carried over from an earlier report.
	worse := judged([]float64{120, 130, 140}, []float64{100, 100}).judge(goals[:1])
	if worse[0].Outcome != outcomeMissed || worse[0].Value != 1.3 {
		t.Errorf("a worse rerun: %s %g, want missed 1.3", worse[0].Outcome, worse[0].Value)
	}
}

// TestRenderGoals: the report shows every verdict the results carry.
func TestRenderGoals(t *testing.T) {
	r := judged([]float64{120, 130, 140}, []float64{100, 100})
	r.Goals = r.judge([]goal{
		{Goal: "2× MM2", Metric: "throughput.records_per_s.geomesh-eos/mm2-eos", Op: ">=", Threshold: 2, Source: "issue 10"},
		{Goal: "wan", Metric: "wan.records_per_s.geomesh-eos", Op: ">=", Threshold: 1, Source: "issue 17"},
	})
	var md bytes.Buffer
	renderMarkdown(&md, r, nil)
	for _, want := range []string{
		"0 met, 1 missed, 1 not measured",
		"| 2× MM2 | `throughput.records_per_s.geomesh-eos/mm2-eos` >= 2 | 1.3 | **missed** | issue 10 |",
		"| wan | `wan.records_per_s.geomesh-eos` >= 1 | — | **not measured** | issue 17 |",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestMM2Lines: the tuned rows add every tuning setting, the transaction
// ones in exactly-once only, with the clusters' aliases; the default rows
// add none.
func TestMM2Lines(t *testing.T) {
	def := mm2Lines("mmeos", "s:1", "d:1", "orders", "mm2-rest:8083", "zstd", true, false)
	eos := mm2Lines("mmeost", "s:1", "d:1", "orders", "mm2-rest:8083", "zstd", true, true)
	alo := mm2Lines("mmalot", "s:1", "d:1", "orders", "mm2-rest:8083", "none", false, true)
	for _, l := range def {
		if strings.Contains(l, "batch.size") || strings.Contains(l, "transaction.boundary") || strings.Contains(l, "compression") {
			t.Errorf("the default row has %q", l)
		}
	}
	for _, want := range []string{"mmeost.consumer.max.poll.records = 10000", "mmeostdst.producer.batch.size = 1048576",
		"mmeostdst.producer.compression.type = zstd", "mmeost->mmeostdst.transaction.boundary = interval", "mmeost->mmeostdst.transaction.boundary.interval.ms = 100",
		"mmeostdst.exactly.once.source.support = enabled"} {
		if !slices.Contains(eos, want) {
			t.Errorf("the tuned exactly-once row lacks %q", want)
		}
	}
	if len(eos)-len(def) != len(mm2Tuning) {
		t.Errorf("the tuned exactly-once row adds %d lines, want %d", len(eos)-len(def), len(mm2Tuning))
	}
	if !slices.Contains(alo, "mmalotdst.producer.compression.type = none") {
		t.Errorf("the tuned at-least-once row of a none source lacks compression.type = none: %q", alo)
	}
	if slices.ContainsFunc(alo, func(l string) bool { return strings.Contains(l, ".transaction.") }) {
		t.Errorf("the tuned at-least-once row sets transaction boundaries: %q", alo)
	}
}

func TestDeal(t *testing.T) {
	got := deal([]int32{5, 0, 3, 1, 4, 2, 6}, 4)
	want := [][]int32{{0, 4}, {1, 5}, {2, 6}, {3}}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("deal = %v, want %v", got, want)
		}
	}
}
