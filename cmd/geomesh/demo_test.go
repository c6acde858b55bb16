package main

import (
	"encoding/json"
	"testing"

	"github.com/geomesh/geomesh/agent"
)

// TestDemo runs the demo of every example topology as a user would and
// checks its JSON verdict record by record.
func TestDemo(t *testing.T) {
	for _, kind := range exampleNames() {
		t.Run(kind, func(t *testing.T) {
			out, errOut, err := run(t, "demo", "--topology", kind, "--records", "300", "--json")
			if err != nil {
				t.Fatalf("demo %s: %v\n%s", kind, err, errOut)
			}
			var res agent.DemoResult
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("decode %q: %v", out, err)
			}
			if res.Topology != kind || res.Produced == 0 || res.Expected == 0 {
				t.Fatalf("demo did nothing: %+v", res)
			}
			if res.Replicated != res.Expected || res.Lost != 0 || res.Duplicated != 0 || res.OutOfOrder != 0 {
				t.Fatalf("demo %s: %+v", kind, res)
			}
			if res.P99LatencyMs <= 0 || res.Seconds >= 60 {
				t.Fatalf("demo %s: implausible timing %+v", kind, res)
			}
			t.Logf("%s: produced %d, replicated %d, p99 %.0f ms, %.1f s", kind, res.Produced, res.Replicated, res.P99LatencyMs, res.Seconds)
		})
	}
}
