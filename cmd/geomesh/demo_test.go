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

// TestDemoFailRegion kills the primary of the active-passive example
// under an application's load: nothing lost or copied twice before it,
// the standby promoted at the next epoch by the survivors, no epoch with
// two primaries; the application produces in the new primary, the
// region returns, settles what it stranded and fails back, and the
// application read every record it got acknowledged once, apart from the
// stranded ones, which are all in payments.stranded.
func TestDemoFailRegion(t *testing.T) {
	out, errOut, err := run(t, "demo", "--topology", "active-passive", "--records", "300", "--fail-region", "us-east", "--json")
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, errOut)
	}
	var res agent.DemoResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	f := res.DemoFailover
	if f == nil {
		t.Fatalf("no failover in %s", out)
	}
	if res.Replicated != res.Expected || res.Lost != 0 || res.Duplicated != 0 {
		t.Errorf("before the failure: %+v", res)
	}
	if f.FailRegion != "us-east" || f.NewPrimary != "eu-west" || f.FailoverEpoch != f.EpochBefore+1 || f.SplitBrain {
		t.Errorf("failover: %+v", f)
	}
	if f.DetectionSeconds <= 0 || f.FailoverSeconds < f.DetectionSeconds {
		t.Errorf("detection %.3fs, application producing again after %.3fs", f.DetectionSeconds, f.FailoverSeconds)
	}
	// Rejoin, switchover-started, switchover.
	if !f.FailedBack || f.EpochAfter != f.FailoverEpoch+3 {
		t.Errorf("failback: %v at epoch %d", f.FailedBack, f.EpochAfter)
	}
	if f.AppAcked < 600 || f.AppLost != 0 || f.AppDuplicated != 0 || f.AppConsumed != f.AppAcked-f.StrandedRecovered ||
		int64(f.StrandedRecovered) != f.Stranded || res.Lost != 0 || res.Duplicated != 0 {
		t.Errorf("application: %+v", f)
	}
	t.Logf("us-east killed at epoch %d: eu-west primary at epoch %d after %.2fs, the application producing there after %.2fs; "+
		"%d stranded; failed back at epoch %d; %d records acknowledged, %d read",
		f.EpochBefore, f.FailoverEpoch, f.DetectionSeconds, f.FailoverSeconds, f.Stranded, f.EpochAfter, f.AppAcked, f.AppConsumed)
}
