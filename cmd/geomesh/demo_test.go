package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/local/demo"
)

// TestDemo runs the demo of every example topology as a user would and
// checks its JSON verdict record by record. Each names its mesh another
// way: a file with -t, a file in $GEOMESH_TOPOLOGY, a built-in example.
func TestDemo(t *testing.T) {
	for _, kind := range exampleNames() {
		t.Run(kind, func(t *testing.T) {
			args := []string{"demo", "--example", kind}
			switch kind {
			case "active-passive":
				args = []string{"demo", "-t", "../../configs/examples/" + kind + ".yaml"}
			case "active-active":
				t.Setenv(envTopology, "../../configs/examples/"+kind+".yaml")
				args = []string{"demo"}
			}
			out, errOut, err := run(t, append(args, "--records", "300", "--json")...)
			if err != nil {
				t.Fatalf("demo %s: %v\n%s", kind, err, errOut)
			}
			var res demo.Result
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("decode %q: %v", out, err)
			}
			if res.Topology != kind || res.Produced == 0 || res.Expected == 0 {
				t.Fatalf("demo did nothing: %+v", res)
			}
			if res.Replicated != res.Expected || res.Lost != 0 || res.Duplicated != 0 || res.OutOfOrder != 0 {
				t.Fatalf("demo %s: %+v", kind, res)
			}
			// Every example selects every group (the default).
			if n := res.GroupsNotSynced(); n != 0 || len(res.GroupSync) == 0 {
				t.Fatalf("demo %s: group offset sync %+v", kind, res.GroupSync)
			}
			if res.P99LatencyMs <= 0 || res.Seconds >= 60 {
				t.Fatalf("demo %s: implausible timing %+v", kind, res)
			}
			t.Logf("%s: produced %d, replicated %d, p99 %.0f ms, %.1f s", kind, res.Produced, res.Replicated, res.P99LatencyMs, res.Seconds)
		})
	}
}

// demoFailRegion runs the demo of example kind with region failed and
// returns its JSON verdict, after the checks every kind shares: every
// record replicated once before the failure, the writers of the epoch
// before it, the split-brain judge shown the whole run and finding
// nothing.
func demoFailRegion(t *testing.T, kind, region string, role api.Role, writersBefore ...string) (demo.Result, *demo.Failover) {
	t.Helper()
	out, errOut, err := run(t, "demo", "--example", kind, "--records", "300", "--fail-region", region, "--json")
	if err != nil {
		t.Fatalf("demo %s --fail-region %s: %v\n%s\n%s", kind, region, err, out, lastLines(errOut, 30))
	}
	var res demo.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	f := res.Failover
	if f == nil {
		t.Fatalf("no failover in %s", out)
	}
	if res.Produced == 0 || res.Replicated != res.Expected || res.Lost != 0 || res.Duplicated != 0 || res.OutOfOrder != 0 {
		t.Errorf("records: %+v", res)
	}
	if f.FailRegion != region || f.Role != role || f.EpochBefore == 0 || !slices.Equal(f.WritersBefore, writersBefore) {
		t.Errorf("before the failure: region %s (%s) at epoch %d, writers %v; want %s (%s), writers %v",
			f.FailRegion, f.Role, f.EpochBefore, f.WritersBefore, region, role, writersBefore)
	}
	// Sampled every 20 ms for several seconds at least.
	if f.SplitBrain || len(f.SplitBrainFindings) > 0 || f.Samples < 100 {
		t.Errorf("split brain %v after %d samples: %v", f.SplitBrain, f.Samples, f.SplitBrainFindings)
	}
	if f.DetectionSeconds <= 0 {
		t.Errorf("detection %.3fs", f.DetectionSeconds)
	}
	return res, f
}

// lastLines keeps the end of a long log.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestDemoFailRegion fails a region of every topology kind and checks
// that the mesh does what the kind promises, with one writer (primary,
// hub) or the quorum's writer set (active-active) at every moment.
func TestDemoFailRegion(t *testing.T) {
	// The primary fails under an application's load: nothing lost or
	// copied twice before it, the standby promoted at the next epoch by
	// the survivors; the application produces in the new primary, the
	// region returns, settles what it stranded and fails back, and the
	// application read every record it got acknowledged once, apart
	// from the stranded ones, which are all in payments.stranded.
	t.Run("active-passive primary", func(t *testing.T) {
		res, f := demoFailRegion(t, "active-passive", "us-east", api.RolePrimary, "us-east")
		if f.Decision != api.DecisionFailover || f.TakenOverBy != "eu-west" || f.FailoverEpoch != f.EpochBefore+1 {
			t.Errorf("failover: %s to %s at epoch %d", f.Decision, f.TakenOverBy, f.FailoverEpoch)
		}
		if f.FailoverSeconds < f.DetectionSeconds {
			t.Errorf("detection %.3fs, application producing again after %.3fs", f.DetectionSeconds, f.FailoverSeconds)
		}
		// Rejoin, switchover-started, switchover: us-east writes again;
		// a switch the mesh aborted and the demo asked for again adds
		// two epochs.
		if !f.FailedBack || f.EpochAfter != f.FailoverEpoch+3+2*uint64(f.FailbackAborts) || !slices.Equal(f.Writers, []string{"us-east"}) {
			t.Errorf("failback: %v at epoch %d after %d aborted switches, writers %v", f.FailedBack, f.EpochAfter, f.FailbackAborts, f.Writers)
		}
		if f.AppAcked < 600 || f.AppLost != 0 || f.AppDuplicated != 0 || f.AppConsumed != f.AppAcked-f.StrandedRecovered ||
			int64(f.StrandedRecovered) != f.Stranded || res.Lost != 0 || res.Duplicated != 0 {
			t.Errorf("application: %+v", f)
		}
		if g := f.AppGroup; g == nil || g.Partitions == 0 || g.Synced != g.Partitions || g.Target != "eu-west" || g.Error != "" {
			t.Errorf("application group when us-east stopped: %+v", g)
		}
		t.Logf("us-east killed at epoch %d: eu-west primary at epoch %d after %.2fs, the application producing there after %.2fs; "+
			"%d stranded; failed back at epoch %d (%d switches aborted and asked again); %d records acknowledged, %d read; %d samples",
			f.EpochBefore, f.FailoverEpoch, f.DetectionSeconds, f.FailoverSeconds, f.Stranded, f.EpochAfter, f.FailbackAborts, f.AppAcked, f.AppConsumed, f.Samples)
	})
	// Every region writes: the failed one is evacuated, its clients move
	// to the next active region in file order, and the writer set is the
	// two survivors.
	t.Run("active-active region", func(t *testing.T) {
		_, f := demoFailRegion(t, "active-active", "us-east", api.RoleActive, "ap-south", "eu-west", "us-east")
		if f.Decision != api.DecisionEvacuate || f.TakenOverBy != "eu-west" || f.FailoverEpoch != f.EpochBefore+1 {
			t.Errorf("evacuation: %s to %s at epoch %d", f.Decision, f.TakenOverBy, f.FailoverEpoch)
		}
		if f.EpochAfter != f.FailoverEpoch || !slices.Equal(f.Writers, []string{"ap-south", "eu-west"}) {
			t.Errorf("after: epoch %d, writers %v", f.EpochAfter, f.Writers)
		}
		t.Logf("us-east evacuated at epoch %d after %.2fs, clients to %s; %d samples", f.FailoverEpoch, f.DetectionSeconds, f.TakenOverBy, f.Samples)
	})
	// The hub fails: the standby hub is promoted and every spoke feeds it.
	t.Run("hub-spoke hub", func(t *testing.T) {
		_, f := demoFailRegion(t, "hub-spoke", "central", api.RoleHub, "central")
		if f.Decision != api.DecisionFailover || f.TakenOverBy != "central-2" || f.FailoverEpoch != f.EpochBefore+1 {
			t.Errorf("failover: %s to %s at epoch %d", f.Decision, f.TakenOverBy, f.FailoverEpoch)
		}
		if f.EpochAfter != f.FailoverEpoch || !slices.Equal(f.Writers, []string{"central-2"}) ||
			!slices.Equal(f.FedBy, []string{"store-a", "store-b", "store-c"}) {
			t.Errorf("after: epoch %d, writers %v, new hub fed by %v", f.EpochAfter, f.Writers, f.FedBy)
		}
		t.Logf("central failed: central-2 hub at epoch %d after %.2fs, fed by %v; %d samples", f.FailoverEpoch, f.DetectionSeconds, f.FedBy, f.Samples)
	})
	// A spoke fails: nobody takes over, its feed to the hub stops, the
	// hub keeps its role at the same epoch.
	t.Run("hub-spoke spoke", func(t *testing.T) {
		_, f := demoFailRegion(t, "hub-spoke", "store-a", api.RoleSpoke, "central")
		if f.Decision != "" || f.FailoverEpoch != 0 || f.TakenOverBy != "" || f.EpochAfter != f.EpochBefore ||
			!slices.Equal(f.Writers, []string{"central"}) {
			t.Errorf("a decision for a spoke: %s to %q at epoch %d; after: epoch %d, writers %v", f.Decision, f.TakenOverBy, f.FailoverEpoch, f.EpochAfter, f.Writers)
		}
		if !strings.Contains(f.NoFailover, "region store-a down") || !strings.Contains(f.NoFailover, "no failover for a spoke") ||
			!slices.Contains(f.StoppedFeeds, "store-a→central") {
			t.Errorf("no failover: %q, stopped feeds %v", f.NoFailover, f.StoppedFeeds)
		}
		t.Logf("store-a failed: seen down after %.2fs, %s; stopped %v; %d samples", f.DetectionSeconds, f.NoFailover, f.StoppedFeeds, f.Samples)
	})
}

// TestPrintFailover pins the demo's account of a failure: who took over
// or why nobody does, the writers after it, and every split-brain
// finding.
func TestPrintFailover(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    demo.Failover
		want string
	}{
		{"active-active evacuation", demo.Failover{FailRegion: "us-east", Role: api.RoleActive, EpochBefore: 1,
			WritersBefore: []string{"ap-south", "eu-west", "us-east"}, Decision: api.DecisionEvacuate, FailoverEpoch: 2,
			TakenOverBy: "eu-west", DetectionSeconds: 12.34, EpochAfter: 2, Writers: []string{"ap-south", "eu-west"}, Samples: 700},
			"failed us-east (active) at epoch 1, writers ap-south, eu-west, us-east: evacuated at epoch 2 after 12.3 s, its clients now served by eu-west\n" +
				"epoch 2, writers ap-south, eu-west; split brain: false (700 samples of every running agent)\n"},
		{"hub-spoke hub", demo.Failover{FailRegion: "central", Role: api.RoleHub, EpochBefore: 1,
			WritersBefore: []string{"central"}, Decision: api.DecisionFailover, FailoverEpoch: 2, TakenOverBy: "central-2",
			FedBy: []string{"store-a", "store-b"}, DetectionSeconds: 10.6, EpochAfter: 2, Writers: []string{"central-2"}, Samples: 600},
			"failed central (hub) at epoch 1, writers central: central-2 promoted (failover) at epoch 2 after 10.6 s; store-a, store-b now feed central-2\n" +
				"epoch 2, writers central-2; split brain: false (600 samples of every running agent)\n"},
		{"hub-spoke spoke", demo.Failover{FailRegion: "store-a", Role: api.RoleSpoke, EpochBefore: 1,
			WritersBefore: []string{"central"}, NoFailover: "region store-a down; its feed to the hub stops until it returns",
			StoppedFeeds: []string{"store-a→central"}, DetectionSeconds: 11, EpochAfter: 1, Writers: []string{"central"}, Samples: 800},
			"failed store-a (spoke) at epoch 1, writers central: no failover after 11.0 s: region store-a down; its feed to the hub stops until it returns; stopped feeds: store-a→central\n" +
				"epoch 1, writers central; split brain: false (800 samples of every running agent)\n"},
		{"split brain", demo.Failover{FailRegion: "us-east", Role: api.RolePrimary, EpochBefore: 1,
			WritersBefore: []string{"us-east"}, Decision: api.DecisionFailover, FailoverEpoch: 2, TakenOverBy: "eu-west",
			DetectionSeconds: 3, EpochAfter: 2, Writers: []string{"eu-west"}, SplitBrain: true, Samples: 90,
			SplitBrainFindings: []string{"region us-east takes writes as primary of epoch 1 after the quorum decided epoch 2, whose writers are [eu-west]"}},
			"failed us-east (primary) at epoch 1, writers us-east: eu-west promoted (failover) at epoch 2 after 3.0 s\n" +
				"epoch 2, writers eu-west; split brain: true (90 samples of every running agent)\n" +
				"  split brain: region us-east takes writes as primary of epoch 1 after the quorum decided epoch 2, whose writers are [eu-west]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := printFailover(&b, &tc.f); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tc.want)
			}
		})
	}
}
