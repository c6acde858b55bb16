package health

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
)

// step is one observation in a tracker table: seconds since the start and
// the evidence at that instant.
type step struct {
	at     float64 // seconds
	alive  int
	kafka  Probe
	hbAge  float64 // seconds; <0 means no heartbeat known
	want   Verdict
	reason string // substring expected in the reason, if any
}

func TestTracker(t *testing.T) {
	const ok, failed, unknown = ProbeOK, ProbeFailed, ProbeUnknown
	cfg := Config{DownAfter: 10 * time.Second, HeartbeatFresh: 5 * time.Second}
	tests := []struct {
		name    string
		witness bool
		steps   []step
	}{
		{"all good is up", false, []step{
			{0, 2, ok, 1, Up, ""},
			{30, 2, ok, 1, Up, ""},
		}},
		{"one slow agent of two is not a dead region", false, []step{
			{0, 1, ok, 1, Up, ""},
			{60, 1, ok, 1, Up, ""},
		}},
		{"the only agent dead but kafka serving: suspect forever", false, []step{
			{0, 0, ok, -1, Suspect, "no agent alive"},
			{60, 0, ok, -1, Suspect, "no agent alive"},
		}},
		{"kafka probe failing but agents alive: suspect", false, []step{
			{0, 2, failed, -1, Suspect, "kafka probe failed"},
			{60, 2, failed, -1, Suspect, "kafka probe failed"},
		}},
		{"gossip and kafka bad for DownAfter: down", false, []step{
			{0, 2, ok, 1, Up, ""},
			{1, 2, failed, 2, Suspect, "kafka probe failed"},
			{5, 0, failed, 6, Suspect, "no agent alive"},
			{10.9, 0, failed, 11, Suspect, ""},
			{11, 0, failed, 12, Down, "for 10s"},
		}},
		{"a good probe in between restarts the streak", false, []step{
			{0, 0, failed, -1, Suspect, ""},
			{6, 0, ok, -1, Suspect, ""},
			{7, 0, failed, -1, Suspect, ""},
			{16, 0, failed, -1, Suspect, ""},
			{17, 0, failed, -1, Down, ""},
		}},
		{"a paused agent then one lost probe is not down", false, []step{
			{0, 0, ok, -1, Suspect, "no agent alive"},
			{60, 0, failed, -1, Suspect, "kafka probe failed"},
			{62, 0, ok, -1, Suspect, "no agent alive"},
		}},
		{"a fresh heartbeat vetoes down", false, []step{
			{0, 0, failed, 1, Suspect, "heartbeat fresh"},
			{20, 0, failed, 2, Suspect, "heartbeat fresh"},
			{21, 0, failed, 8, Down, "heartbeat 8s old"},
		}},
		{"unknown probe never makes a data region down", false, []step{
			{0, 0, unknown, -1, Suspect, ""},
			{30, 0, unknown, -1, Suspect, ""},
		}},
		{"back up only after UpAfter of good evidence", false, []step{
			{0, 0, failed, -1, Suspect, ""},
			{10, 0, failed, -1, Down, ""},
			{12, 1, ok, 60, Down, "recovering for 0s"},
			{16, 1, ok, 60, Down, "recovering for 4s"},
			{17, 1, ok, 60, Up, ""},
		}},
		{"flapping region stays down", false, []step{
			{0, 0, failed, -1, Suspect, ""},
			{10, 0, failed, -1, Down, ""},
			{12, 1, ok, -1, Down, "recovering"},
			{14, 0, failed, -1, Down, "kafka probe failed"},
			{16, 1, ok, -1, Down, "recovering for 0s"},
			{20, 1, ok, -1, Down, "recovering for 4s"},
			{21, 1, ok, -1, Up, ""},
		}},
		{"witness: gossip alone", true, []step{
			{0, 1, unknown, -1, Up, ""},
			{1, 0, unknown, -1, Suspect, "no agent alive"},
			{11, 0, unknown, -1, Down, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.Witness = tt.witness
			tr := NewTracker("eu", c)
			start := time.Unix(1_700_000_000, 0)
			for _, s := range tt.steps {
				e := Evidence{
					At:          start.Add(time.Duration(s.at * float64(time.Second))),
					AgentsAlive: s.alive,
					Kafka:       s.kafka,
				}
				if s.hbAge >= 0 {
					e.HeartbeatKnown = true
					e.HeartbeatAge = time.Duration(s.hbAge * float64(time.Second))
				}
				got := tr.Observe(e)
				_, reason := tr.Verdict()
				if got != s.want {
					t.Fatalf("at %vs: verdict %s (%s), want %s", s.at, got, reason, s.want)
				}
				if s.reason != "" && !contains(reason, s.reason) {
					t.Fatalf("at %vs: reason %q, want it to contain %q", s.at, reason, s.reason)
				}
			}
		})
	}
}

// TestTrackerReconfigure shortens DownAfter under a failing streak: the
// streak so far counts, so the region is down at the next evidence.
func TestTrackerReconfigure(t *testing.T) {
	tr := NewTracker("eu", Config{DownAfter: 10 * time.Second})
	start := time.Unix(1_700_000_000, 0)
	bad := func(at float64) Verdict {
		return tr.Observe(Evidence{At: start.Add(time.Duration(at * float64(time.Second))), Kafka: ProbeFailed})
	}
	bad(0)
	if v := bad(8); v != Suspect {
		t.Fatalf("8s into a 10s DownAfter: %s, want suspect", v)
	}
	tr.Reconfigure(Config{DownAfter: 5 * time.Second})
	if v := bad(8.5); v != Down {
		t.Fatalf("8.5s into the streak after DownAfter became 5s: %s, want down", v)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestProber probes an embedded cluster while it serves and after it
// stops: OK, then Failed within the timeout.
func TestProber(t *testing.T) {
	addr := testkit.FreeAddr(t)
	cluster := broker.NewEmbedded("eu", addr)
	ctx := context.Background()
	if err := cluster.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()

	p := NewProber("eu", &topology.Kafka{Bootstrap: []string{addr}}, 500*time.Millisecond)
	defer p.Close()
	if res, err := p.Probe(ctx); res != ProbeOK {
		t.Fatalf("probe of a serving cluster: %v, %v", res, err)
	}

	cluster.Close()
	start := time.Now()
	res, err := p.Probe(ctx)
	if res != ProbeFailed || err == nil {
		t.Fatalf("probe of a stopped cluster: %v, %v", res, err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("failed probe took %v, want about the 500ms timeout", el)
	}
	if !contains(err.Error(), "region eu") {
		t.Fatalf("error %q does not name the region", err)
	}

	p.Close()
	p.Close()
	if res, err := p.Probe(ctx); res != ProbeUnknown || err == nil {
		t.Fatalf("probe after close: %v, %v", res, err)
	}
}
