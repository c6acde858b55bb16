//go:build linux

package chaos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	gmclient "github.com/geomesh/geomesh/client"
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
	if !t.Run("region-kill", func(t *testing.T) { m.regionKill(t, mesh, kills) }) {
		return
	}
	if !t.Run("partitions", func(t *testing.T) { m.partitions(t, seed, schedules) }) {
		return
	}
	if os.Getenv("GEOMESH_E2E_SWITCH") == "1" {
		t.Run("planned-switch", func(t *testing.T) { m.plannedSwitch(t, mesh) })
	}
}

// regionKill is the region kill: each round kills us-east's agent and
// broker with SIGKILL, measures detection (kill → eu-west primary at the
// next epoch) and RTO (kill → first record acknowledged by eu-west
// through the Follower, at most 15s), restores the region, waits for it
// to quarantine what it took and never replicated, and fails back. In
// the end the consumer must have read every acknowledged record that was
// not stranded, none twice in one region, and every stranded record must
// be in orders.stranded on eu-west once.
func (m *failoverMesh) regionKill(t *testing.T, mesh *topology.Mesh, kills int) {
	var rec history.Recorder
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	m.watchRoles(ctx, &wg, &rec)
	app := startApp(t, ctx, &wg, m, mesh, &rec, "kill")
	defer app.stop()
	app.waitAcked(t, "us-east", 200)

	var detections, rtos []time.Duration
	strandedTotal := int64(0)
	for round := range kills {
		st, err := m.agents[m.west].status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		before := st.Epoch
		d, r, n := m.killRegion(t, app, &rec, before)
		t.Logf("kill %d/%d at epoch %d: detection %s, RTO %s, %d records stranded", round+1, kills, before, d, r, n)
		detections, rtos = append(detections, d), append(rtos, r)
		strandedTotal += n
		if r > 15*time.Second {
			t.Errorf("kill %d: RTO %s, want at most 15s", round+1, r)
		}
		m.failback(t, app)
	}
	app.stopProducer()
	quarantined := m.readStranded(t, int(strandedTotal))
	for id := range quarantined {
		rec.StrandedReported(history.Stranded{Time: time.Now(), Region: "us-east", ID: id})
	}
	app.drain(t, &rec)
	app.stop()
	cancel()
	wg.Wait()

	mirrors := m.groundTruth(t, &rec)
	h := rec.History()
	findings := history.Check(h, history.Options{ExactlyOnce: true, Mirrors: mirrors})
	if int64(len(quarantined)) != strandedTotal {
		t.Errorf("orders.stranded on eu-west holds %d distinct records, the agents reported %d stranded", len(quarantined), strandedTotal)
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
	t.Logf("region kill: %d kills; detection p50 %s p99 %s; RTO p50 %s p99 %s; %d records stranded; "+
		"history: %d produced (%d acknowledged), %d consumed (%d read again in another region), %d role events, %d findings",
		kills, percentile(detections, 50), percentile(detections, 99), percentile(rtos, 50), percentile(rtos, 99), strandedTotal,
		len(h.Produces), countAcked(h), len(h.Consumes), rereads(h), len(h.Epochs), len(findings))
	if n := rereads(h); n > 0 {
		t.Errorf("%d records read in more than one region; the consumer must read each once apart from the stranded ones", n)
	}
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
		saveWith(t, h, uint64(time.Now().Unix()), mirrorFlags(mirrors))
	}
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
func (m *failoverMesh) killRegion(t *testing.T, app *app, rec *history.Recorder, epoch uint64) (detection, rto time.Duration, stranded int64) {
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
		at, ok := app.firstAck("eu-west", kill)
		if !ok {
			return errors.New("no record acknowledged by eu-west since the kill")
		}
		rto = at.Sub(kill)
		return nil
	})
	app.waitAcked(t, "eu-west", 100)

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
// producer writes there.
func (m *failoverMesh) failback(t *testing.T, app *app) {
	t.Helper()
	m.controlReachable(t)
	start := time.Now()
	// A region that just returned or continued is up by a majority a
	// few probes later; until then the agents refuse the switch, and the
	// operator tries again.
	poll.Until(t, 60*time.Second, func() error {
		out, err := m.app.Command(t.Context(), m.bin, "failback", "--topology", m.path, "--wait", "90s").CombinedOutput()
		if err != nil {
			return fmt.Errorf("geomesh failback: %w\n%s", err, out)
		}
		return nil
	})
	waitRoleAfter(t, m.agents[m.east], "primary")
	waitRoleAfter(t, m.agents[m.west], "standby")
	if app == nil {
		return
	}
	poll.Until(t, 60*time.Second, func() error {
		if _, ok := app.firstAck("us-east", start); !ok {
			return errors.New("no record acknowledged by us-east since the failback")
		}
		return nil
	})
	t.Logf("failback to us-east: %s until its first acknowledged record", time.Since(start).Round(time.Millisecond))
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

// app is the application: a producer and a consumer group in the app
// namespace that follow the mesh with a client.Follower, reaching the
// agents and brokers through the WAN relays.
type app struct {
	name     string // of its consumer group (app-NAME) and in its record ids
	rec      *history.Recorder
	prod     *gmclient.Producer
	cons     *gmclient.Consumer
	follower *gmclient.Follower
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the consumer
	pwg      sync.WaitGroup // the producer
	once     sync.Once
	switches atomic.Int64 // names records whose region a switch made uncertain
	halted   atomic.Bool  // the producer stops

	mu   sync.Mutex
	acks map[string][]time.Time // region → acknowledgement times, in order
}

// startApp starts the application name: its producer (batches of 5
// records, each batch given 3s) and its consumer group app-NAME, both recording into rec, until stop or
// ctx ends. The owner wg waits for them.
func startApp(t *testing.T, ctx context.Context, owner *sync.WaitGroup, m *failoverMesh, mesh *topology.Mesh, rec *history.Recorder, name string) *app {
	t.Helper()
	dial := gmclient.KgoOpts(kgo.Dialer(m.app.Dial), kgo.RecordDeliveryTimeout(2*time.Second), kgo.MetadataMinAge(500*time.Millisecond))
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: m.app.Dial}}
	prod, err := gmclient.NewProducer(mesh, dial)
	if err != nil {
		t.Fatal(err)
	}
	// An unreachable old region gets 1s for the final commit; then the
	// consumer resumes from the offsets the agents synced (every second),
	// of commits every 500ms, so it reads again what it read since.
	cons, err := gmclient.NewConsumer(mesh, "app-"+name, gmclient.Topics("orders"), dial, gmclient.CommitTimeout(time.Second), gmclient.HTTPClient(hc),
		gmclient.KgoOpts(kgo.AutoCommitInterval(500*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := gmclient.NewFollower(mesh, []gmclient.Followed{prod, cons}, gmclient.HTTPClient(hc),
		gmclient.FollowInterval(200*time.Millisecond), gmclient.OnEvent(func(ev gmclient.FollowEvent) {
			t.Logf("follower: %s %s epoch %d %s %s→%s %s %v", ev.Kind, ev.Client, ev.Epoch, ev.Decision, ev.From, ev.To, ev.Took, ev.Err)
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	a := &app{name: name, rec: rec, prod: prod, cons: cons, follower: f, cancel: cancel, acks: map[string][]time.Time{}}
	f.Start(ctx)
	a.pwg.Go(func() { a.produce(ctx) })
	a.wg.Go(func() { a.consume(ctx) })
	owner.Go(func() {
		<-ctx.Done()
		a.stop()
	})
	return a
}

// stop ends the application, once: the producer and the consumer stop,
// then the follower and the clients close.
func (a *app) stop() {
	a.once.Do(func() {
		a.stopProducer()
		a.cancel()
		a.wg.Wait()
		a.follower.Close()
		a.prod.Close()
		_ = a.cons.Close()
	})
}

// stopProducer stops the producer and waits until it has recorded its
// last batch.
func (a *app) stopProducer() {
	a.halted.Store(true)
	a.pwg.Wait()
}

// region names where records went, or one name of their own when a
// switch happened while they were produced, so the checker never orders
// them against another region's.
func (a *app) region(before, after string) string {
	if before == after {
		return after
	}
	return fmt.Sprintf("switching-%d", a.switches.Add(1))
}

func (a *app) produce(ctx context.Context) {
	for i := 0; ctx.Err() == nil && !a.halted.Load(); i++ {
		rs := make([]*kgo.Record, 5)
		for j := range rs {
			id := fmt.Sprintf("%s/%d-%d", a.name, i, j)
			rs[j] = &kgo.Record{Topic: "orders", Key: []byte(id), Value: []byte(id)}
		}
		before := a.prod.Region()
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		res := a.prod.ProduceSync(pctx, rs...)
		pcancel()
		now := time.Now()
		region := a.region(before, a.prod.Region())
		ok := false
		for _, r := range res {
			a.rec.Produced(history.Produce{Time: now, Region: region, Topic: "orders", Partition: r.Record.Partition,
				Offset: r.Record.Offset, ID: string(r.Record.Value), Acked: r.Err == nil})
			ok = ok || r.Err == nil
		}
		if ok {
			a.mu.Lock()
			a.acks[region] = append(a.acks[region], now)
			a.mu.Unlock()
		} else if !sleep(ctx, 50*time.Millisecond) {
			return
		}
		sleep(ctx, 20*time.Millisecond)
	}
}

func (a *app) consume(ctx context.Context) {
	for ctx.Err() == nil {
		before := a.cons.Region()
		pctx, pcancel := context.WithTimeout(ctx, 250*time.Millisecond)
		rs, _ := a.cons.Poll(pctx)
		pcancel()
		region := a.region(before, a.cons.Region())
		now := time.Now()
		for _, r := range rs {
			a.rec.Consumed(history.Consume{Time: now, Region: region, Topic: r.Topic, Partition: r.Partition,
				Offset: r.Offset, ID: string(r.Value), ReadCommitted: true})
		}
	}
}

// drain gives the consumer up to 60s to read what was acknowledged
// last, once the producer has stopped.
func (a *app) drain(t *testing.T, rec *history.Recorder) {
	deadline := time.Now().Add(60 * time.Second)
	for len(history.Check(rec.History(), history.Options{})) > 0 && time.Now().Before(deadline) {
		if !sleep(t.Context(), 500*time.Millisecond) {
			return
		}
	}
}

// firstAck is when region first acknowledged a batch after since.
func (a *app) firstAck(region string, since time.Time) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, at := range a.acks[region] {
		if at.After(since) {
			return at, true
		}
	}
	return time.Time{}, false
}

// waitAcked waits until region acknowledged n more batches.
func (a *app) waitAcked(t *testing.T, region string, n int) {
	t.Helper()
	a.mu.Lock()
	base := len(a.acks[region])
	a.mu.Unlock()
	poll.Until(t, 60*time.Second, func() error {
		a.mu.Lock()
		got := len(a.acks[region]) - base
		a.mu.Unlock()
		if got < n {
			return fmt.Errorf("%s acknowledged %d more batches, want %d", region, got, n)
		}
		return nil
	})
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
