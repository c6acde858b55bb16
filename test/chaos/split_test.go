//go:build linux

package chaos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/test/chaos/history"
	"github.com/geomesh/geomesh/test/netns"
	"github.com/geomesh/geomesh/topology"
)

// Bounds the partition schedules are held to, with the region-kill
// mesh's detection (fastDetection).
const (
	// promotionBound: the standby of a cut-off primary is primary within
	// this of the cut. No region takes a writer's role until
	// machine.WriterStops has passed since the last view its agents
	// published (at most one 500ms interval before the cut): 2 × 500ms +
	// 2s (the majority check's timeout) + FenceAfter (2s) = 5s. By then
	// gossip has found the primary's agent dead (1.1s), its cluster is
	// down (2s after the first failed probe) and the control plane has
	// elected a new leader for the mesh state if the primary's node led
	// it (2–3.5s); one compare-and-set decides, and the standby stops
	// its copy from the cut-off primary (up to 1s: that source does not
	// answer) before it acts as primary. 100 schedules from seed 20261207
	// promoted within 4.7–7.2s. It is below the shortest hold, so a
	// cut-off primary is replaced while it is cut off.
	promotionBound = 8 * time.Second
	// resumeBound: once a split that fails nothing over has ended, the
	// primary accepts writes again within this. A primary that lost the
	// control plane's majority fences itself (after FenceAfter, 2s) and is
	// unfenced by the first fresh read of the state once it reaches the
	// majority again, which the control plane's nodes need a few seconds
	// to route.
	resumeBound = 15 * time.Second
)

// What a partition schedule promises (outcome), from the rules of
// failover/machine and failover/health: a region is down only when a
// majority of the voters (all three regions) sees its Kafka probe fail
// for down_after while gossip has none of its agents; a writer that
// cannot reach the control plane's majority fences itself; nothing else
// moves the writer.
//
//   - cut-primary: the primary's cluster is unreachable from both
//     others and its agent gone from their gossip, so the standby is
//     promoted within promotionBound; the cut-off primary, alone,
//     fences itself and its cluster refuses writes before the standby's
//     accepts them.
//   - cut-witness: the data regions are a majority and the primary's
//     cluster answers everyone: no failover, no self-fence, no write
//     fence changes.
//   - cut-one-way and stop-agent (of any agent): no failover, and the
//     standby never accepts writes. The primary's cluster still answers
//     the witness, and a frozen agent's cluster everyone (its gossip is
//     gone, its probe good), so no majority sees a region down. But the
//     primary may miss the control plane's majority for FenceAfter (2s)
//     meanwhile: a one-way cut breaks its route to the standby's node, a
//     frozen node keeps its connections open while it answers nothing
//     (one check of the primary timed out when the witness's agent was
//     frozen), and the primary's own frozen node loses the lead of the
//     mesh state. Then it fences itself, refusing writes, and must
//     accept them again within resumeBound of the split's end.
func outcome(s SplitStep) string {
	switch s.Split {
	case CutPrimary:
		return "failover"
	case CutWitness:
		return "nothing changes"
	default:
		return "no failover, the primary may fence itself"
	}
}

// splitResult is what the agents' journals show of one schedule, in
// durations from its start.
type splitResult struct {
	s            SplitStep
	failedOver   bool
	promoted     time.Duration // the standby primary
	selfFenced   time.Duration // the old primary fenced itself; -1 if not
	refused      time.Duration // its cluster refused writes; -1 if not
	accepted     time.Duration // the new primary's cluster accepted them (requested)
	resumed      time.Duration // the primary accepted writes again after the split's end; -1 if it never refused
	fenceChanges int
	holdEnded    time.Duration
	violations   []string
}

// partitions runs count partition schedules seeded seed, seed+1, ...
// (SplitSchedule), each from a settled mesh: the split is held, undone,
// and the mesh settles again (one unfenced primary, one unfenced
// standby), failing back to us-east at the end. Each schedule is judged
// on the agents' journals against what it promises (outcome); all their
// events go into one history, where no epoch may have two primaries, no
// two regions may surely act as primary at once and no two clusters may
// accept writes at once.
func (m *failoverMesh) partitions(t *testing.T, seed uint64, count int) {
	var rec history.Recorder
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	m.watchWriters(ctx, &wg, &rec)
	t.Logf("partitions: %d schedules from seed %d (GEOMESH_E2E_SEED=%d replays them)", count, seed, seed)
	var results []splitResult
	for i := range count {
		s := SplitSchedule(seed + uint64(i))
		primary, standby, epoch := m.settled(t)
		start := time.Now()
		if err := m.split(t.Context(), s, primary, standby, &rec, epoch); err != nil {
			t.Fatalf("schedule %d (%s): %v", i+1, s, err)
		}
		ended := time.Now()
		p, _, e := m.settled(t)
		r := m.judge(t, s, primary, standby, epoch, start, ended)
		results = append(results, r)
		t.Logf("schedule %d/%d, seed %d: %s (promised: %s): %s; primary %s at epoch %d before, %s at epoch %d %s after the split began",
			i+1, count, seed+uint64(i), s, outcome(s), r, primary.Region, epoch, p.Region, e, time.Since(start).Round(time.Millisecond))
		for _, v := range r.violations {
			t.Errorf("schedule %d (%s): %s", i+1, s, v)
		}
	}
	if p, _, _ := m.settled(t); p != m.east {
		m.failback(t, nil)
	}
	cancel()
	wg.Wait()
	h := rec.History()
	findings := history.Check(h, history.Options{})
	failovers := 0
	for _, r := range results {
		if r.failedOver {
			failovers++
		}
	}
	t.Logf("partitions: %d schedules, %d failed over, %d role and %d fence events, %d findings", count, failovers, len(h.Epochs), len(h.Fences), len(findings))
	logSummary(t, results)
	for _, f := range findings {
		t.Error(f)
	}
	if len(findings) > 0 {
		save(t, h, seed)
	}
}

// judge holds one schedule to its promise (outcome), from the journal
// events since start; ended is when the split was undone.
func (m *failoverMesh) judge(t *testing.T, s SplitStep, primary, standby *netns.NS, epoch uint64, start, ended time.Time) splitResult {
	t.Helper()
	evs := since(m.events(t), start)
	p, sb := primary.Region, standby.Region
	r := splitResult{s: s, selfFenced: -1, refused: -1, resumed: -1, holdEnded: ended.Sub(start)}
	bad := func(format string, args ...any) { r.violations = append(r.violations, fmt.Sprintf(format, args...)) }
	d := func(at time.Time) time.Duration { return at.Sub(start).Round(time.Millisecond) }
	if e, ok := firstRole(evs, p, func(e agentEvent) bool { return e.selfFenced }); ok {
		r.selfFenced = d(e.at)
	}
	refused, refusedOK := firstFence(evs, p, history.WritesRefused)
	if refusedOK {
		r.refused = d(refused.at)
	}
	accepted, acceptedOK := firstFence(evs, sb, history.WritesAccepted)
	if acceptedOK {
		r.accepted = d(accepted.requested)
	}
	r.fenceChanges = len(fences(evs, p)) + len(fences(evs, sb))
	promoted, promotedOK := firstRole(evs, sb, func(e agentEvent) bool { return e.role == history.RolePrimary && e.epoch > epoch })
	r.failedOver = promotedOK
	if promotedOK {
		r.promoted = d(promoted.at)
	}

	switch outcome(s) {
	case "failover":
		switch {
		case !promotedOK:
			bad("%s was not promoted", sb)
		case promoted.at.Sub(start) > promotionBound:
			bad("%s promoted %s after the cut, want within %s", sb, r.promoted, promotionBound)
		}
		switch {
		case !refusedOK:
			bad("%s's cluster never refused writes while cut off", p)
		case !acceptedOK:
			bad("%s's cluster never accepted writes after its promotion", sb)
		case !refused.at.Before(accepted.requested):
			bad("%s accepted writes (requested %s) before %s's cluster refused them (%s)", sb, r.accepted, p, r.refused)
		}
	default:
		for _, e := range evs {
			if e.msg == msgRole && e.epoch != epoch {
				bad("failed over: %s", e)
				break
			}
		}
		if acceptedOK {
			bad("the standby's cluster accepted writes: %s", accepted)
		}
		if outcome(s) == "nothing changes" {
			for _, e := range evs {
				// A fence confirmed now but requested before the split
				// began is the last split's aftermath (a gate retrying a
				// region it could not reach then), not this one's doing.
				if e.msg == msgFence && e.requested.Before(start) {
					continue
				}
				if e.msg == msgFence || (e.msg == msgRole && e.selfFenced) {
					bad("changed: %s", e)
				}
			}
			break
		}
		if !refusedOK {
			break
		}
		last, ok := m.resumed(t, p, start, ended.Add(resumeBound))
		switch {
		case !ok:
			bad("%s fenced itself (its cluster refused writes at %s) and did not accept writes again within %s of the split's end", p, r.refused, resumeBound)
		default:
			r.resumed = d(last.at)
		}
	}
	return r
}

// resumed waits until deadline for region's cluster to accept writes
// again, its last fence event since start saying so, and returns that
// event.
func (m *failoverMesh) resumed(t *testing.T, region string, start, deadline time.Time) (agentEvent, bool) {
	t.Helper()
	for {
		pf := fences(since(m.events(t), start), region)
		if len(pf) > 0 && pf[len(pf)-1].writes == history.WritesAccepted {
			return pf[len(pf)-1], !pf[len(pf)-1].at.After(deadline)
		}
		if time.Now().After(deadline) || !sleep(t.Context(), 200*time.Millisecond) {
			return agentEvent{}, false
		}
	}
}

func (r splitResult) String() string {
	var parts []string
	if r.failedOver {
		parts = append(parts, fmt.Sprintf("promoted after %s", r.promoted))
	} else {
		parts = append(parts, "no failover")
	}
	if r.selfFenced >= 0 {
		parts = append(parts, fmt.Sprintf("old primary self-fenced at %s", r.selfFenced))
	}
	if r.refused >= 0 {
		parts = append(parts, fmt.Sprintf("its cluster refused writes at %s", r.refused))
	}
	if r.failedOver {
		parts = append(parts, fmt.Sprintf("the new primary's accepted them at %s (%s later)", r.accepted, r.accepted-r.refused))
	}
	if r.resumed >= 0 {
		parts = append(parts, fmt.Sprintf("accepted again at %s (split ended at %s)", r.resumed, r.holdEnded.Round(time.Millisecond)))
	}
	parts = append(parts, fmt.Sprintf("%d fence changes", r.fenceChanges))
	if len(r.violations) > 0 {
		parts = append(parts, fmt.Sprintf("%d violations", len(r.violations)))
	}
	return strings.Join(parts, ", ")
}

// logSummary logs, per kind of schedule, how many ran and kept their
// promise, and the promotion and fence times of the failovers.
func logSummary(t *testing.T, rs []splitResult) {
	t.Helper()
	type agg struct {
		n, kept          int
		promoted, margin []time.Duration
		selfFenced       int
	}
	kinds := map[string]*agg{}
	var order []string
	for _, r := range rs {
		k := r.s.String()
		if i := strings.Index(k, " for "); i >= 0 {
			k = k[:i]
		}
		a := kinds[k]
		if a == nil {
			a = &agg{}
			kinds[k] = a
			order = append(order, k)
		}
		a.n++
		if len(r.violations) == 0 {
			a.kept++
		}
		if r.failedOver {
			a.promoted = append(a.promoted, r.promoted)
			a.margin = append(a.margin, r.accepted-r.refused)
		}
		if r.selfFenced >= 0 {
			a.selfFenced++
		}
	}
	slices.Sort(order)
	for _, k := range order {
		a := kinds[k]
		line := fmt.Sprintf("%s: %d run, %d kept their promise, %d with the primary self-fenced", k, a.n, a.kept, a.selfFenced)
		if len(a.promoted) > 0 {
			line += fmt.Sprintf("; promotion %v; the new primary accepted writes %v after the old one's cluster refused them", a.promoted, a.margin)
		}
		t.Log(line)
	}
}

// settled waits until one data region is an unfenced primary and the
// other an unfenced standby at the same epoch, and every agent reaches
// the control plane, and returns them.
func (m *failoverMesh) settled(t *testing.T) (primary, standby *netns.NS, epoch uint64) {
	t.Helper()
	poll.Until(t, 120*time.Second, func() error {
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
		if err := a.signal(syscall.SIGCONT); err != nil {
			return err
		}
		// It acts again in the role it last logged, until it logs another.
		evs, _ := journalOf(a).read()
		for i := len(evs) - 1; i >= 0; i-- {
			if evs[i].msg == msgRole {
				e := evs[i].epochEvent()
				e.Time = time.Now()
				rec.EpochSeen(e)
				break
			}
		}
		return nil
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
	m.watchWriters(ctx, &wg, &rec)
	app := startApp(t, ctx, &wg, m, mesh, &rec, "switch")
	defer app.stop()
	app.waitAcked(t, "us-east", 100)
	start := time.Now()
	out, err := m.app.Command(t.Context(), m.bin, "failover", "--to", "eu-west", "--topology", m.path, "--wait", "90s").CombinedOutput()
	if err != nil {
		t.Fatalf("geomesh failover --to eu-west: %v\n%s", err, out)
	}
	waitRoleAfter(t, m.agents[m.west], "primary")
	poll.Until(t, 60*time.Second, func() error {
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
	app.drain(t)
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
