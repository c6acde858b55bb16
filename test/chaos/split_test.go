//go:build linux

package chaos

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/geomesh/geomesh/test/chaos/history"
	"github.com/geomesh/geomesh/test/netns"
	"github.com/geomesh/geomesh/topology"
)

// partitions runs count partition schedules seeded seed, seed+1, ...
// (SplitSchedule), each from a settled mesh: the split is held, undone,
// and the mesh settles again (one unfenced primary, one unfenced
// standby), failing back to us-east at the end. The roles every agent
// reported go into one history; no epoch may have two primaries and no
// two regions may surely act as primary at once.
func (m *failoverMesh) partitions(t *testing.T, seed uint64, count int) {
	var rec history.Recorder
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	m.watchRoles(ctx, &wg, &rec)
	t.Logf("partitions: %d schedules from seed %d (GEOMESH_E2E_SEED=%d replays them)", count, seed, seed)
	failovers := 0
	for i := range count {
		s := SplitSchedule(seed + uint64(i))
		primary, standby, epoch := m.settled(t)
		start := time.Now()
		if err := m.split(t.Context(), s, primary, standby, &rec, epoch); err != nil {
			t.Fatalf("schedule %d (%s): %v", i+1, s, err)
		}
		p, _, e := m.settled(t)
		if p != primary {
			failovers++
		}
		t.Logf("schedule %d/%d, seed %d: %s: primary %s at epoch %d before, %s at epoch %d %s after the split began",
			i+1, count, seed+uint64(i), s, primary.Region, epoch, p.Region, e, time.Since(start).Round(time.Millisecond))
	}
	if p, _, _ := m.settled(t); p != m.east {
		m.failback(t, nil)
	}
	cancel()
	wg.Wait()
	h := rec.History()
	findings := history.Check(h, history.Options{})
	t.Logf("partitions: %d schedules, %d failed over, %d role events, %d findings", count, failovers, len(h.Epochs), len(findings))
	for _, f := range findings {
		t.Error(f)
	}
	if len(findings) > 0 {
		save(t, h, seed)
	}
}

// settled waits until one data region is an unfenced primary and the
// other an unfenced standby at the same epoch, and every agent reaches
// the control plane, and returns them.
func (m *failoverMesh) settled(t *testing.T) (primary, standby *netns.NS, epoch uint64) {
	t.Helper()
	eventually(t, 120*time.Second, func() error {
		es, err := m.agents[m.east].status(t.Context())
		if err != nil {
			return err
		}
		ws, err := m.agents[m.west].status(t.Context())
		if err != nil {
			return err
		}
		switch {
		case es.Fenced || ws.Fenced || es.Epoch != ws.Epoch:
		case es.Role == "primary" && ws.Role == "standby":
			primary, standby, epoch = m.east, m.west, es.Epoch
			return nil
		case ws.Role == "primary" && es.Role == "standby":
			primary, standby, epoch = m.west, m.east, es.Epoch
			return nil
		}
		return fmt.Errorf("not settled: us-east %s at %d fenced %v, eu-west %s at %d fenced %v",
			es.Role, es.Epoch, es.Fenced, ws.Role, ws.Epoch, ws.Fenced)
	})
	m.controlReachable(t)
	return primary, standby, epoch
}

// split puts s on the mesh, holds it and undoes it. A stopped agent acts
// as nothing until it continues, and is recorded so.
func (m *failoverMesh) split(ctx context.Context, s SplitStep, primary, standby *netns.NS, rec *history.Recorder, epoch uint64) error {
	hold := func() bool { return sleep(ctx, s.Hold) }
	switch s.Split {
	case CutPrimary, CutWitness:
		ns := primary
		if s.Split == CutWitness {
			ns = m.witness
		}
		if err := m.net.Isolate(ns); err != nil {
			return err
		}
		hold()
		return m.net.HealAll()
	case CutOneWay:
		from, to := standby, primary
		if s.FromPrimary {
			from, to = primary, standby
		}
		if err := m.net.CutOneWay(from, to); err != nil {
			return err
		}
		hold()
		return m.net.HealAll()
	case StopOneAgent:
		ns := map[string]*netns.NS{"primary": primary, "standby": standby, "witness": m.witness}[s.Agent]
		a := m.agents[ns]
		if err := a.signal(syscall.SIGSTOP); err != nil {
			return err
		}
		rec.EpochSeen(history.Epoch{Time: time.Now(), Epoch: epoch, Region: ns.Region, Role: "stopped", Observer: a.id})
		hold()
		return a.signal(syscall.SIGCONT)
	}
	return fmt.Errorf("unknown split %q", s.Split)
}

// plannedSwitch: the application runs while the operator switches to
// eu-west (`geomesh failover --to eu-west`) and fails back; every
// acknowledged record must be read once, in one region only: a planned
// switch translates offsets exactly.
func (m *failoverMesh) plannedSwitch(t *testing.T, mesh *topology.Mesh) {
	var rec history.Recorder
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	m.watchRoles(ctx, &wg, &rec)
	app := startApp(t, ctx, &wg, m, mesh, &rec, "switch")
	defer app.stop()
	app.waitAcked(t, "us-east", 100)
	start := time.Now()
	out, err := m.app.Command(t.Context(), m.bin, "failover", "--to", "eu-west", "--topology", m.path, "--wait", "90s").CombinedOutput()
	if err != nil {
		t.Fatalf("geomesh failover --to eu-west: %v\n%s", err, out)
	}
	waitRoleAfter(t, m.agents[m.west], "primary")
	eventually(t, 60*time.Second, func() error {
		if _, ok := app.firstAck("eu-west", start); !ok {
			return fmt.Errorf("no record acknowledged by eu-west since the switch")
		}
		return nil
	})
	t.Logf("switch to eu-west: %s until its first acknowledged record", time.Since(start).Round(time.Millisecond))
	app.waitAcked(t, "eu-west", 100)
	m.failback(t, app)
	app.waitAcked(t, "us-east", 100)
	app.stopProducer()
	app.drain(t, &rec)
	app.stop()
	cancel()
	wg.Wait()
	h := rec.History()
	findings := history.Check(h, history.Options{ExactlyOnce: true})
	n := rereads(h)
	t.Logf("planned switch and failback: %d produced (%d acknowledged), %d consumed, %d read in two regions, %d findings",
		len(h.Produces), countAcked(h), len(h.Consumes), n, len(findings))
	if n > 0 {
		t.Errorf("%d records read in both regions across planned switches", n)
	}
	for _, f := range findings {
		t.Error(f)
	}
}
