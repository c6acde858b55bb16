//go:build linux

package chaos

import (
	"context"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/geomesh/geomesh/test/chaos/history"
	"github.com/geomesh/geomesh/test/netns"
	"github.com/geomesh/geomesh/topology"
)

// soakDetection is the topology's default detection, spelled out: gossip
// declares a silent agent dead after 1s + 0.5s + 4 × 1s = 5.5s and a
// region is down after 10s, well past the soak's 3s pauses and the
// stalls of a lossy 100ms link.
const soakDetection = "{probe_interval: 1s, probe_timeout: 500ms, suspicion_mult: 4, kafka_probe_interval: 2s, down_after: 10s}"

// soak runs the application for length on a mesh of its own whose links
// delay 100ms each way and lose 2% of packets, freezing one agent
// (primary's, standby's, witness's in turn) for 3s every 30s. Nothing may
// fail over: every role recorded stays at epoch 1, unfenced, and every
// acknowledged record is read once, in one region.
func soak(t *testing.T, length time.Duration) {
	m := startFailoverMesh(t, meshOptions{delay: 100 * time.Millisecond, loss: 0.02, detection: soakDetection, app: true})
	mesh, err := topology.Load(m.appPath)
	if err != nil {
		t.Fatal(err)
	}
	var rec history.Recorder
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	m.watchWriters(ctx, &wg, &rec)
	app := startApp(t, ctx, &wg, m, mesh, &rec, "soak")
	defer app.stop()
	app.waitAcked(t, "us-east", 50)

	begin := time.Now()
	pauses := 0
	for order := []*netns.NS{m.east, m.west, m.witness}; time.Since(begin)+30*time.Second <= length; pauses++ {
		if !sleep(t.Context(), 27*time.Second) {
			t.Fatal(t.Context().Err())
		}
		a := m.agents[order[pauses%len(order)]]
		if err := a.signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		sleep(t.Context(), 3*time.Second)
		if err := a.signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	sleep(t.Context(), length-time.Since(begin))
	app.stopProducer()
	app.drain(t)
	app.stop()
	cancel()
	wg.Wait()

	h := rec.History()
	for _, e := range h.Epochs {
		if e.Epoch != 1 || e.Role == history.RoleFenced {
			t.Errorf("soak: %s saw %s %s at epoch %d", e.Observer, e.Region, e.Role, e.Epoch)
		}
	}
	findings := history.Check(h, history.Options{ExactlyOnce: true, Regions: []string{"us-east"}})
	n := rereads(h)
	t.Logf("soak: %s with %d pauses of 3s; %d produced (%d acknowledged), %d consumed, %d role events, epoch stayed 1: %v; %d findings",
		time.Since(begin).Round(time.Second), pauses, len(h.Produces), countAcked(h), len(h.Consumes), len(h.Epochs), !t.Failed(), len(findings))
	if n > 0 {
		t.Errorf("soak: %d records read in two regions", n)
	}
	for i, f := range findings {
		if i == 20 {
			t.Errorf("… and %d more", len(findings)-i)
			break
		}
		t.Error(f)
	}
	if len(findings) > 0 {
		save(t, h, uint64(time.Now().Unix()))
	}
}

// soakLength reads GEOMESH_E2E_SOAK, 0 (no soak) when unset.
func soakLength(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("GEOMESH_E2E_SOAK")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute {
		t.Fatalf("GEOMESH_E2E_SOAK=%q: want a duration of at least 1m", v)
	}
	return d
}
