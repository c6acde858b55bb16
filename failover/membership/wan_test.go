package membership

import (
	"testing"
	"time"

	"github.com/geomesh/geomesh/topology"
)

func TestWANDetectionTimeFigures(t *testing.T) {
	t.Parallel()
	w := WAN()
	for _, tt := range []struct {
		n    int
		want time.Duration
	}{
		{2, 5400 * time.Millisecond},
		{3, 6400 * time.Millisecond},
		{5, 8400 * time.Millisecond},
	} {
		if got := w.DetectionTime(tt.n); got != tt.want {
			t.Errorf("DetectionTime(%d) = %v, want %v (update the WAN doc)", tt.n, got, tt.want)
		}
	}
	if w.withDefaults() != w {
		t.Error("WAN leaves a field to the LAN defaults")
	}
}

// TestWANCrashDetection measures the WAN profile the way
// TestCrashDetection measures LAN: three agents (one per region), one
// crashes without a leave.
func TestWANCrashDetection(t *testing.T) {
	t.Parallel()
	const n = 3
	ms := cluster(t, n, Config{Timing: WAN()})
	victim := ms[n-1]
	list := victim.list.Swap(nil)
	killed := time.Now()
	if err := list.Shutdown(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	timing := WAN()
	bound := timing.DetectionTime(n)
	waitMembers(t, ms[:n-1], bound+time.Second, names(n-1)...)
	took := time.Since(killed)
	t.Logf("WAN profile, %d nodes: crashed member declared dead by all peers after %v (documented bound %v)",
		n, took.Round(time.Millisecond), bound)
	if took < timing.SuspicionTimeout(n) {
		t.Errorf("dead after %v, faster than the suspicion timeout %v", took, timing.SuspicionTimeout(n))
	}
}

func TestWANFrom(t *testing.T) {
	t.Parallel()
	if got := WANFrom(topology.Detection{}); got != WAN() {
		t.Errorf("WANFrom(zero) = %+v, want WAN()", got)
	}
	got := WANFrom(topology.Detection{ProbeInterval: 2 * time.Second, ProbeTimeout: time.Second, SuspicionMult: 5})
	want := WAN()
	want.ProbeInterval, want.ProbeTimeout, want.SuspicionMult = 2*time.Second, time.Second, 5
	if got != want {
		t.Errorf("WANFrom = %+v, want %+v", got, want)
	}
}
