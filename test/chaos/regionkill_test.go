//go:build linux

package chaos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/test/chaos/history"
	"github.com/geomesh/geomesh/test/netns"
	"github.com/geomesh/geomesh/topology"
)

// wideDelay is the one-way delay between regions of the region-kill
// mesh, as between the US east coast and western Europe.
const wideDelay = 40 * time.Millisecond

// fastDetection is the region-kill mesh's failover detection: gossip
// declares a silent agent dead after 300ms + 200ms + 2 × 300ms = 1.1s
// (probe_timeout 200ms is well above the 80ms round trip), two Kafka
// probes of 500ms fail meanwhile, and the region is down 2s (down_after)
// after the first failed probe, about 2.5s after it died. The failover
// is proposed once its agents' last view is machine.WriterStops old (2 ×
// 500ms + 2s + FenceAfter 2s = 5s: a region that is only cut off has
// fenced itself by then), about 4.5–5s after it died, and decided as
// soon as the control plane's surviving nodes agree.
const fastDetection = "{probe_interval: 300ms, probe_timeout: 200ms, suspicion_mult: 2, kafka_probe_interval: 500ms, down_after: 2s}"

// returnFenceBound is how soon after a dead region's broker serves again
// its cluster must refuse writes (fenced by the new primary): the window
// in which it accepts them is real, nobody can fence a cluster that does
// not answer, so it is held to a bound instead of being judged as a
// double writer by the history checker.
const returnFenceBound = 2 * time.Second

// envCount reads a positive count from the environment variable name,
// def if it is unset.
func envCount(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// TestNetnsAcceptance is the failover acceptance suite on one mesh: us-east
// (primary), eu-west (standby) and a witness in namespaces of their own,
// 40ms each way between them, detection tuned to about 3s
// (fastDetection), and an application in a fourth namespace whose
// producer and consumer follow the mesh with a client.Follower. Its
// parts run in order, each leaving us-east primary: region-kill (the
// GEOMESH_E2E_KILLS rounds, default 1), partitions (GEOMESH_E2E_SCHEDULES
// seeded schedules, default 2, from GEOMESH_E2E_SEED, default the clock)
// and, when GEOMESH_E2E_SWITCH=1, a planned switch and failback under
// load. With GEOMESH_E2E_SOAK set (a duration), a soak on a mesh of its
// own comes first (soak).
func TestNetnsAcceptance(t *testing.T) {
	kills := envCount(t, "GEOMESH_E2E_KILLS", 1)
	schedules := envCount(t, "GEOMESH_E2E_SCHEDULES", 2)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("GEOMESH_E2E_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("GEOMESH_E2E_SEED=%q: %v", v, err)
		}
	}
	// The soak's mesh is its own, gone before the others start.
	if d := soakLength(t); d > 0 && !t.Run("soak", func(t *testing.T) { soak(t, d) }) {
		return
	}
	m := startFailoverMesh(t, meshOptions{delay: wideDelay, detection: fastDetection, app: true})
	mesh, err := topology.Load(m.appPath)
	if err != nil {
		t.Fatal(err)
	}
	if !t.Run("region-kill", func(t *testing.T) { m.followScenario(t, m.goApp(mesh, "kill"), false, kills) }) {
		return
	}
	if !t.Run("partitions", func(t *testing.T) { m.partitions(t, seed, schedules) }) {
		return
	}
	if os.Getenv("GEOMESH_E2E_SWITCH") == "1" {
		t.Run("planned-switch", func(t *testing.T) { m.plannedSwitch(t, mesh) })
	}
}

// appStarter starts an application that records into rec, owned by
// owner, until ctx ends.
type appStarter func(t *testing.T, ctx context.Context, owner *sync.WaitGroup, rec *history.Recorder) application

// goApp starts the Go application name (startApp) on mesh.
func (m *failoverMesh) goApp(mesh *topology.Mesh, name string) appStarter {
	return func(t *testing.T, ctx context.Context, owner *sync.WaitGroup, rec *history.Recorder) application {
		return startApp(t, ctx, owner, m, mesh, rec, name)
	}
}

// followRun is what a followScenario measured.
type followRun struct {
	// switchover and failback are the planned switches, when run.
	switchover, failback plannedTimes
	// detection and rto are per kill: kill → eu-west primary, kill →
	// first batch eu-west acknowledged through the follower.
	detection, rto []time.Duration
	// consumerMoves are per kill: how long the consumer's switch to
	// eu-west took, as its follower reported it.
	consumerMoves []time.Duration
	stranded      int64
	findings      int
}

// plannedTimes are the figures of one planned switch, from the
// application's follower events.
type plannedTimes struct {
	// pause is how long the producer held its records: paused → resumed.
	pause time.Duration
	// consumer is how long the consumer's switch took.
	consumer time.Duration
	// firstAck is from the command to the first batch the new primary
	// acknowledged.
	firstAck time.Duration
}

// followScenario runs one application through the mesh's failovers,
// from us-east primary back to us-east primary: with planned, a switch
// to eu-west and a failback first; then kills rounds of a region kill
// (killRegion: detection, RTO at most 15s), each followed by a failback.
// It then judges the history against both regions' logs read to their
// ends: every acknowledged record read unless quarantined as stranded,
// every stranded record in orders.stranded on eu-west once, no copy
// twice, and no record read twice by the application, in any region.
func (m *failoverMesh) followScenario(t *testing.T, start appStarter, planned bool, kills int) followRun {
	var rec history.Recorder
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	m.watchRoles(ctx, &wg, &rec)
	app := start(t, ctx, &wg, &rec)
	defer app.stop()
	log := app.log()
	log.waitAcked(t, "us-east", 100)

	var run followRun
	if planned {
		at := time.Now()
		m.controlReachable(t)
		out, err := m.app.Command(t.Context(), m.bin, "failover", "--to", "eu-west", "--topology", m.path, "--wait", "90s").CombinedOutput()
		if err != nil {
			t.Fatalf("geomesh failover --to eu-west: %v\n%s", err, out)
		}
		waitRoleAfter(t, m.agents[m.west], "primary")
		run.switchover = plannedFigures(t, log, at, "eu-west")
		log.waitAcked(t, "eu-west", 50)
		at = m.failback(t, app)
		run.failback = plannedFigures(t, log, at, "us-east")
		log.waitAcked(t, "us-east", 50)
	}
	for round := range kills {
		st, err := m.agents[m.west].status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		before := st.Epoch
		kill := time.Now()
		d, r, n := m.killRegion(t, app, &rec, before)
		t.Logf("kill %d/%d at epoch %d: detection %s, RTO %s, %d records stranded", round+1, kills, before, d, r, n)
		run.detection, run.rto = append(run.detection, d), append(run.rto, r)
		if f, ok := log.firstFollow("switched", "consumer", kill); ok {
			run.consumerMoves = append(run.consumerMoves, f.took)
		} else {
			t.Errorf("kill %d: the consumer's follower reported no switch", round+1)
		}
		run.stranded += n
		if r > 15*time.Second {
			t.Errorf("kill %d: RTO %s, want at most 15s", round+1, r)
		}
		m.failback(t, app)
	}
	app.stopProducer()
	quarantined := m.readStranded(t, int(run.stranded))
	for id := range quarantined {
		rec.StrandedReported(history.Stranded{Time: time.Now(), Region: "us-east", ID: id})
	}
	log.drain(t)
	app.stop()
	cancel()
	wg.Wait()

	mirrors := m.groundTruth(t, &rec)
	h := rec.History()
	findings := history.Check(h, history.Options{ExactlyOnce: true, ReadOnce: true, Mirrors: mirrors})
	run.findings = len(findings)
	if int64(len(quarantined)) != run.stranded {
		t.Errorf("orders.stranded on eu-west holds %d distinct records, the agents reported %d stranded", len(quarantined), run.stranded)
	}
	for id, n := range quarantined {
		if n != 1 {
			t.Errorf("stranded record %s is in orders.stranded %d times", id, n)
		}
	}
	produced := map[string]bool{}
	for _, p := range h.Produces {
		produced[p.ID] = true
	}
	for id := range quarantined {
		if !produced[id] {
			t.Errorf("orders.stranded holds %s, never produced", id)
		}
	}
	t.Logf("%d planned switches, %d kills; detection p50 %s p99 %s; RTO p50 %s p99 %s; %d records stranded; "+
		"history: %d produced (%d acknowledged), %d consumed (%d read again in another region), %d role events, %d findings",
		map[bool]int{true: 2}[planned], kills, percentile(run.detection, 50), percentile(run.detection, 99), percentile(run.rto, 50), percentile(run.rto, 99), run.stranded,
		len(h.Produces), countAcked(h), len(h.Consumes), rereads(h), len(h.Epochs), len(findings))
	var lost []string
	for n, f := range findings {
		if f.Kind == history.Lost {
			lost = append(lost, f.ID)
		}
		if n < 20 {
			t.Error(f)
		} else if n == 20 {
			t.Errorf("… and %d more", len(findings)-n)
		}
	}
	if len(lost) > 0 {
		m.locate(t, lost)
	}
	if len(findings) > 0 {
		saveWith(t, h, uint64(time.Now().Unix()), "-read-once "+mirrorFlags(mirrors))
	}
	return run
}

// plannedFigures reads a planned switch's figures from the application's
// follower events since at, the command: the producer's pause, the
// consumer's switch to to, and the first batch to acknowledged.
func plannedFigures(t *testing.T, log *appLog, at time.Time, to string) plannedTimes {
	t.Helper()
	var p plannedTimes
	poll.Until(t, 60*time.Second, func() error {
		paused, ok := log.firstFollow("paused", "producer", at)
		if !ok {
			return errors.New("the producer's follower reported no pause")
		}
		resumed, ok := log.firstFollow("resumed", "producer", paused.at)
		if !ok {
			return errors.New("the producer's follower reported no resume")
		}
		moved, ok := log.firstFollow("switched", "consumer", at)
		if !ok || moved.to != to {
			return fmt.Errorf("the consumer's follower reported no switch to %s", to)
		}
		ack, ok := log.firstAck(to, at)
		if !ok {
			return fmt.Errorf("no batch acknowledged by %s since the switch", to)
		}
		p = plannedTimes{pause: resumed.at.Sub(paused.at), consumer: moved.took, firstAck: ack.Sub(at)}
		return nil
	})
	t.Logf("planned switch to %s: producer paused %s, consumer switch %s, first batch acknowledged by %s %s after the command",
		to, p.pause.Round(time.Millisecond), p.consumer.Round(time.Millisecond), to, p.firstAck.Round(time.Millisecond))
	return p
}

// locate logs where records the consumer never read are in topic orders
// of each region, to tell a record Kafka lost from one the consumer
// skipped.
func (m *failoverMesh) locate(t *testing.T, ids []string) {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for _, ns := range []*netns.NS{m.east, m.west} {
		cl, err := kgo.NewClient(append(m.clusters[ns].ClientOptions(), kgo.ConsumeTopics("orders"),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
		if err != nil {
			t.Log(err)
			continue
		}
		found := 0
		for quiet := 0; quiet < 3; {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			fs := cl.PollFetches(ctx)
			cancel()
			if fs.NumRecords() == 0 {
				quiet++
			}
			fs.EachRecord(func(r *kgo.Record) {
				if want[string(r.Value)] {
					found++
					t.Logf("unread record %s is in %s orders[%d]@%d", r.Value, ns.Region, r.Partition, r.Offset)
				}
			})
		}
		cl.Close()
		t.Logf("%s holds %d of the %d unread records", ns.Region, found, len(ids))
	}
}

// killRegion kills us-east's agent and broker with SIGKILL while it is
// primary at epoch, and returns detection, RTO and the number of records
// it reported stranded once restored and settled.
func (m *failoverMesh) killRegion(t *testing.T, app application, rec *history.Recorder, epoch uint64) (detection, rto time.Duration, stranded int64) {
	t.Helper()
	east := m.agents[m.east]
	kill := time.Now()
	if err := east.kill(); err != nil {
		t.Fatal(err)
	}
	// A dead agent acts as nothing; without this its last role would
	// last, in the history, until it logs again after the restart.
	rec.EpochSeen(history.Epoch{Time: kill, Epoch: epoch, Region: "us-east", Role: "killed", Observer: east.id})
	if err := m.clusters[m.east].KillBroker(0); err != nil {
		t.Fatal(err)
	}
	dead := time.Now()
	poll.Until(t, 60*time.Second, func() error {
		st, err := m.agents[m.west].status(t.Context())
		if err != nil {
			return err
		}
		if st.Role != "primary" || st.Epoch <= epoch {
			return fmt.Errorf("eu-west: role %q at epoch %d, want primary after epoch %d", st.Role, st.Epoch, epoch)
		}
		return nil
	})
	// Detection ends when eu-west's agent applied its promotion, by its
	// own clock.
	promoted, ok := firstRole(since(m.events(t), kill), "eu-west", func(e agentEvent) bool { return e.role == history.RolePrimary && e.epoch > epoch })
	if !ok {
		t.Fatalf("eu-west reports itself primary after epoch %d, its journal does not", epoch)
	}
	detection = promoted.at.Sub(kill)
	poll.Until(t, 60*time.Second, func() error {
		at, ok := app.log().firstAck("eu-west", kill)
		if !ok {
			return errors.New("no record acknowledged by eu-west since the kill")
		}
		rto = at.Sub(kill)
		return nil
	})
	app.log().waitAcked(t, "eu-west", 100)

	// eu-west took writes only once us-east's cluster was dead: the
	// new primary's write gate found it unreachable.
	if accepted, ok := firstFence(since(m.events(t), kill), "eu-west", history.WritesAccepted); !ok || accepted.requested.Before(dead) {
		t.Errorf("eu-west's cluster accepting writes (%v, requested %s) before us-east's broker died (%s)", ok, accepted.requested.Format(time.RFC3339Nano), dead.Format(time.RFC3339Nano))
	}

	restart := time.Now()
	if err := m.clusters[m.east].StartBroker(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	// The broker serves by now, maybe a moment before: from then on
	// its cluster accepts writes, with the fence open as it was when it
	// died, until someone fences it; nobody can before it serves. The
	// new primary's write gate does, before us-east's own agent has read
	// the mesh state: within about a retry (remoteFenceBackoff, 100ms)
	// and a pass of four round trips (320ms).
	up := time.Now()
	if err := east.start(); err != nil {
		t.Fatal(err)
	}
	fenced := m.waitFence(t, restart, "us-east", history.WritesRefused, 30*time.Second)
	window := fenced.at.Sub(up)
	t.Logf("us-east's broker restarted in %s; its cluster refused writes %s after StartBroker returned (confirmed by %s, requested %s)",
		up.Sub(restart).Round(time.Millisecond), window.Round(time.Millisecond), fenced.agent, fenced.requested.Sub(up).Round(time.Millisecond))
	if window > returnFenceBound {
		t.Errorf("us-east's returning cluster accepted writes for %s after its broker served, want within %s", window.Round(time.Millisecond), returnFenceBound)
	}
	poll.Until(t, 120*time.Second, func() error {
		fs, err := east.failover(t.Context())
		if err != nil {
			return err
		}
		if fs.Role != "standby" || fs.Fenced || fs.Epoch <= epoch {
			return fmt.Errorf("us-east: role %q epoch %d fenced %v, want an unfenced standby after epoch %d", fs.Role, fs.Epoch, fs.Fenced, epoch)
		}
		if fs.Stranded == nil || fs.Stranded.State != "settled" {
			return fmt.Errorf("us-east: stranded records not settled: %+v", fs.Stranded)
		}
		stranded = fs.Stranded.Records
		return nil
	})
	return detection, rto, stranded
}

// failback runs `geomesh failback` from the application's namespace and
// waits until us-east is primary again and, if app is not nil, its
// producer writes there. It returns when the command that was taken
// started.
func (m *failoverMesh) failback(t *testing.T, app application) time.Time {
	t.Helper()
	m.controlReachable(t)
	var start time.Time
	// A region that just returned or continued is up by a majority a
	// few probes later; until then the agents refuse the switch, and the
	// operator tries again.
	poll.Until(t, 60*time.Second, func() error {
		start = time.Now()
		out, err := m.app.Command(t.Context(), m.bin, "failback", "--topology", m.path, "--wait", "90s").CombinedOutput()
		if err != nil {
			return fmt.Errorf("geomesh failback: %w\n%s", err, out)
		}
		return nil
	})
	waitRoleAfter(t, m.agents[m.east], "primary")
	waitRoleAfter(t, m.agents[m.west], "standby")
	if app == nil {
		return start
	}
	poll.Until(t, 60*time.Second, func() error {
		if _, ok := app.log().firstAck("us-east", start); !ok {
			return errors.New("no record acknowledged by us-east since the failback")
		}
		return nil
	})
	t.Logf("failback to us-east: %s until its first acknowledged record", time.Since(start).Round(time.Millisecond))
	return start
}

// controlReachable waits until every agent reaches the control plane, as
// an operator's command needs, and the mesh state's leader reports every
// replica current: after a cut heals or an agent continues, the
// control-plane nodes take a moment to route again, and a node that was
// cut off to catch up. Until it has, the majority hangs on the other two
// nodes, and the next fault (the witness cut off) would leave none.
func (m *failoverMesh) controlReachable(t *testing.T) {
	t.Helper()
	poll.Until(t, 60*time.Second, func() error {
		for _, a := range m.agents {
			fs, err := a.failover(t.Context())
			if err != nil {
				return err
			}
			switch {
			case fs.ControlPlane != "reachable":
				return fmt.Errorf("%s: control plane %s", a.id, fs.ControlPlane)
			case fs.StateLeader == "" || len(fs.StateBehind) > 0:
				return fmt.Errorf("%s: mesh state led by %q, replicas behind %v", a.id, fs.StateLeader, fs.StateBehind)
			}
		}
		return nil
	})
}

// waitRoleAfter waits until the agent reports role, unfenced, at any
// epoch.
func waitRoleAfter(t *testing.T, a *agent, role string) {
	t.Helper()
	poll.Until(t, 60*time.Second, func() error {
		st, err := a.status(t.Context())
		if err != nil {
			return err
		}
		if st.Role != role || st.Fenced {
			return fmt.Errorf("%s: role %q epoch %d fenced %v, want %s", a.id, st.Role, st.Epoch, st.Fenced, role)
		}
		return nil
	})
}

// readStranded reads orders.stranded on eu-west until it holds want
// records (or 30s pass) and returns how often each record id is there.
func (m *failoverMesh) readStranded(t *testing.T, want int) map[string]int {
	t.Helper()
	got := map[string]int{}
	cl, err := kgo.NewClient(append(m.clusters[m.west].ClientOptions(), kgo.ConsumeTopics("orders.stranded"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := 0
	deadline := time.Now().Add(30 * time.Second)
	for n < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			got[string(r.Value)]++
			n++
		})
	}
	// A moment more, to see a copy too many.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[string(r.Value)]++ })
	return got
}

// failoverState is the part of GET /v1/failover the tests look at.
type failoverState struct {
	// ControlPlane: reachable, unreachable or connecting.
	ControlPlane string   `json:"control_plane"`
	Role         string   `json:"role"`
	Epoch        uint64   `json:"epoch"`
	Fenced       bool     `json:"fenced"`
	StateLeader  string   `json:"state_leader"`
	StateBehind  []string `json:"state_replicas_behind"`
	Stranded     *struct {
		State   string `json:"state"`
		Records int64  `json:"records"`
	} `json:"stranded"`
}

// failover reads the agent's /v1/failover from inside its namespace.
func (a *agent) failover(ctx context.Context) (failoverState, error) {
	var fs failoverState
	return fs, a.get(ctx, "/v1/failover", &fs)
}

// rereads counts the records the consumer read in more than one region:
// after an unplanned failover it resumes from the offsets the agents
// last synced, so what it read since is read again.
func rereads(h history.History) int {
	regions := map[string]map[string]bool{}
	for _, c := range h.Consumes {
		if regions[c.ID] == nil {
			regions[c.ID] = map[string]bool{}
		}
		regions[c.ID][c.Region] = true
	}
	n := 0
	for _, rs := range regions {
		if len(rs) > 1 {
			n++
		}
	}
	return n
}

// percentile is the p-th percentile of ds (nearest rank), 0 for none.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.SortFunc(s, cmp.Compare)
	i := (p*len(s)+99)/100 - 1
	return s[max(i, 0)].Round(time.Millisecond)
}
