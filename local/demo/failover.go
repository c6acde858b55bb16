package demo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/failover/health"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/local"
	"github.com/geomesh/geomesh/topology"
)

// Failover is the failover part of a demo result.
type Failover struct {
	FailRegion string `json:"fail_region"`
	// Role is the failed region's role when it was stopped.
	Role api.Role `json:"role"`
	// EpochBefore is the epoch when the region was stopped, and
	// WritersBefore the regions that took writes then
	// (api.State.Writers: the primary, the hub, or the active
	// regions).
	EpochBefore   uint64   `json:"epoch_before"`
	WritersBefore []string `json:"writers_before"`
	// Decision is the decision that took the failed region's role away:
	// failover (the standby or the standby hub promoted) or evacuate
	// (active-active: its clients moved to another active region). Empty
	// when the topology hands the region's role to nobody: a standby, a
	// spoke, a witness, a hub without a standby hub.
	Decision api.Decision `json:"decision,omitempty"`
	// FailoverEpoch is the epoch of that decision.
	FailoverEpoch uint64 `json:"failover_epoch,omitempty"`
	// TakenOverBy is the region promoted, or in active-active the region
	// now serving the failed one's clients.
	TakenOverBy string `json:"taken_over_by,omitempty"`
	// FedBy lists, in hub-spoke, the spokes whose feeds the new hub runs.
	FedBy []string `json:"fed_by,omitempty"`
	// NoFailover says, when no decision is due, what the mesh does
	// instead: the survivors' alert, or their verdict.
	NoFailover string `json:"no_failover,omitempty"`
	// StoppedFeeds are the flows out of the failed region whose surviving
	// targets report that they cannot read it ("source→target"), seen
	// while no decision was due.
	StoppedFeeds []string `json:"stopped_feeds,omitempty"`
	// DetectionSeconds is from stopping the region to the survivors'
	// verdict: a surviving agent applying the decision (detection plus
	// one compare-and-set), or, where none is due, a majority of the
	// voters seeing the region down.
	DetectionSeconds float64 `json:"detection_seconds"`
	// EpochAfter and Writers are the newest epoch and its writers at the
	// end of the demo (after the failback, when there is one).
	EpochAfter uint64   `json:"epoch_after"`
	Writers    []string `json:"writers"`
	// SplitBrain: what every running agent acted on, sampled every
	// demoSample from before the region was stopped to the end, showed a
	// double writer for the topology kind (machine.SplitBrain):
	// SplitBrainFindings says what, Samples how many rounds were judged.
	SplitBrain         bool     `json:"split_brain"`
	SplitBrainFindings []string `json:"split_brain_findings,omitempty"`
	Samples            int      `json:"samples"`
	// Decisions are the events the agents saw, in epoch order.
	Decisions []api.Event `json:"decisions"`

	// The rest is set when the failed region was an active-passive
	// mesh's primary: an application (producer and consumer group
	// following the mesh through the client library) ran from before
	// the loss until after the failback.
	//
	// AppGroup is how far group offset sync had moved the application's
	// consumer group into TakenOverBy when the region was stopped; the
	// demo waits until it has them all in step first.
	AppGroup *AppGroup `json:"app_group,omitempty"`
	// FailoverSeconds is from stopping the region to the first record
	// the new primary acknowledged to the application's producer.
	FailoverSeconds float64 `json:"failover_seconds,omitempty"`
	// Stranded is what the failed region reported, once back, of the
	// records it took and never replicated; StrandedRecovered how many
	// records of the application <topic>.stranded on the new primary
	// holds (failover.stranded: quarantine).
	Stranded          int64 `json:"stranded"`
	StrandedRecovered int   `json:"stranded_recovered"`
	// FailedBack: the region took its role back by a planned switch.
	FailedBack bool `json:"failed_back"`
	// FailbackAborts: planned switches back that the mesh aborted and the
	// demo asked for again (each adds two epochs).
	FailbackAborts int `json:"failback_aborts,omitempty"`
	// The application's records: acknowledged, read (distinct), never
	// read (apart from the stranded ones) and read more than once. Lost
	// and Duplicated of the whole result include the last two.
	AppAcked      int `json:"app_acked"`
	AppConsumed   int `json:"app_consumed"`
	AppLost       int `json:"app_lost"`
	AppDuplicated int `json:"app_duplicated"`
}

// demoAppTopic is the topic the demo's application uses when region
// fails: the active-passive primary's source topic.
func demoAppTopic(m *topology.Mesh, region string, sources map[place]bool) (string, bool) {
	if m.Kind != topology.KindActivePassive || m.Roles.Primary != region {
		return "", false
	}
	for p := range sources {
		if p.region == region {
			return p.topic, true
		}
	}
	return "", false
}

// failDemoRegion stops region's agent and cluster and waits for what the
// topology promises: a decision that hands the region's role to another
// region when the quorum has one to give it to (api.State.Replaceable),
// else the survivors' verdict and no decision. A watch judges what every
// running agent acts on for split brain throughout. When region is an
// active-passive primary, an application runs throughout, and the region
// is restored and fails back (demoFailback).
func failDemoRegion(ctx context.Context, mesh *local.Mesh, region string, sources map[place]bool, res *Result) error {
	m := mesh.Topology()
	var victim *agent.Agent
	var survivors []*agent.Agent
	for _, a := range mesh.Agents() {
		if a.Region() == region {
			victim = a
		} else {
			survivors = append(survivors, a)
		}
	}
	// All agents must know the state and see every region up first, or
	// the figures would include the warm-up.
	var before *api.State
	if err := pollUntil(ctx, 30*time.Second, func() error {
		before = nil
		for _, a := range mesh.Agents() {
			fs := a.Failover()
			if fs.State == nil {
				return fmt.Errorf("agent %s has read no mesh state (control plane %s)", a.ID(), fs.ControlPlane)
			}
			if len(fs.Views) == 0 {
				return fmt.Errorf("agent %s has judged no region yet", a.ID())
			}
			for _, v := range fs.Views {
				if v.Verdict != health.Up {
					return fmt.Errorf("agent %s sees region %s %s: %s", a.ID(), v.Region, v.Verdict, v.Reason)
				}
			}
			if before == nil || fs.State.Epoch > before.Epoch {
				before = fs.State
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	out := &Failover{FailRegion: region, Role: before.Role(region), EpochBefore: before.Epoch,
		WritersBefore: before.Writers(m.Kind), Decisions: []api.Event{}}
	res.Failover = out
	watch := &writerWatch{judge: machine.NewSplitBrain(m.Kind)}
	watch.follow(sighted(mesh.Agents()))
	wctx, stopWatch := context.WithCancel(ctx)
	var wwg sync.WaitGroup
	wwg.Go(func() { watch.run(wctx) })
	defer func() { stopWatch(); wwg.Wait() }()

	var app *demoApp
	var appGroups map[string]*AppGroup
	if topic, ok := demoAppTopic(m, region, sources); ok {
		var err error
		if app, err = startDemoApp(ctx, m, topic); err != nil {
			return fmt.Errorf("demo: application: %w", err)
		}
		defer app.close()
		if err := pollUntil(ctx, 30*time.Second, func() error {
			if n := app.ackedIn(region); n < demoAppWarm {
				return fmt.Errorf("application: %d records acknowledged by %s, want %d", n, region, demoAppWarm)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		appGroups = appGroupSynced(ctx, mesh, region, 20*time.Second)
	}
	_ = victim.Close()
	cluster := mesh.Cluster(region)
	if cluster != nil {
		cluster.SetDown(true)
	}
	failed := time.Now()
	var err error
	if before.Replaceable(m.Kind, region) {
		err = demoTakeover(ctx, m, survivors, before, failed, out)
	} else {
		err = demoNoTakeover(ctx, m, survivors, before, failed, out)
	}
	if err == nil && app != nil {
		out.AppGroup = appGroups[out.TakenOverBy]
		if err = demoFailback(ctx, mesh, app, cluster, watch, failed, out); err == nil {
			res.Lost += out.AppLost
			res.Duplicated += out.AppDuplicated
		}
	}
	stopWatch()
	wwg.Wait()
	watch.sample() // the end, after the last poll
	out.SplitBrainFindings = watch.judge.Findings()
	out.SplitBrain = len(out.SplitBrainFindings) > 0
	out.Samples = watch.judge.Rounds()
	if n := watch.judge.Newest(); n != nil {
		out.EpochAfter, out.Writers = n.Epoch, n.Writers(m.Kind)
	}
	seen := map[uint64]bool{}
	for _, a := range mesh.Agents() {
		for _, ev := range a.Failover().Events {
			if !seen[ev.Epoch] {
				seen[ev.Epoch] = true
				out.Decisions = append(out.Decisions, ev)
			}
		}
	}
	sort.Slice(out.Decisions, func(i, j int) bool { return out.Decisions[i].Epoch < out.Decisions[j].Epoch })
	if err != nil {
		return fmt.Errorf("demo: region %s (%s) stopped %.1fs ago: %w", region, out.Role, time.Since(failed).Seconds(), err)
	}
	return nil
}

// demoTakeover waits until a survivor applied a state that takes the
// failed region's writer role away, then for the event that announced
// it; in hub-spoke, until the new hub runs a feed from every spoke.
func demoTakeover(ctx context.Context, m *topology.Mesh, survivors []*agent.Agent, before *api.State, failed time.Time, out *Failover) error {
	region := out.FailRegion
	if err := pollUntil(ctx, 60*time.Second, func() error {
		for _, a := range survivors {
			st := a.Failover().State
			if st != nil && st.Epoch > before.Epoch && !slices.Contains(st.Writers(m.Kind), region) {
				out.DetectionSeconds = time.Since(failed).Seconds()
				return nil
			}
		}
		return fmt.Errorf("no decision takes the %s role away from %s yet (epoch %d)", out.Role, region, before.Epoch)
	}); err != nil {
		return err
	}
	// The winner publishes the event after it applied the state, which
	// other agents may apply first: wait for it.
	if err := pollUntil(ctx, 15*time.Second, func() error {
		for _, a := range survivors {
			for _, ev := range a.Failover().Events {
				if ev.Epoch > before.Epoch && ev.From == region && (ev.Kind == api.DecisionFailover || ev.Kind == api.DecisionEvacuate) {
					out.FailoverEpoch, out.Decision, out.TakenOverBy = ev.Epoch, ev.Kind, ev.To
					return nil
				}
			}
		}
		return fmt.Errorf("no failover or evacuate event from %s after epoch %d", region, before.Epoch)
	}); err != nil {
		return err
	}
	if m.Kind != topology.KindHubSpoke {
		return nil
	}
	var hub *agent.Agent
	for _, a := range survivors {
		if a.Region() == out.TakenOverBy {
			hub = a
		}
	}
	if hub == nil {
		return fmt.Errorf("no surviving agent in %s, the new hub", out.TakenOverBy)
	}
	return pollUntil(ctx, 30*time.Second, func() error {
		fs := hub.Failover()
		feeds := map[string]bool{}
		for _, f := range fs.Flows {
			feeds[f.Source] = true
		}
		out.FedBy = nil
		for _, r := range m.DataRegions() {
			if fs.State == nil || fs.State.Role(r) != api.RoleSpoke {
				continue
			}
			if !feeds[r] {
				return fmt.Errorf("the new hub %s runs no feed from spoke %s yet", out.TakenOverBy, r)
			}
			out.FedBy = append(out.FedBy, r)
		}
		return nil
	})
}

// demoNoTakeover waits until a majority of the voters sees the failed
// region down, then watches for demoHold that no decision follows, and
// notes the survivors' alert and the feeds out of the region that stop.
func demoNoTakeover(ctx context.Context, m *topology.Mesh, survivors []*agent.Agent, before *api.State, failed time.Time, out *Failover) error {
	region := out.FailRegion
	voters := m.Failover.Quorum.Voters
	need := len(voters)/2 + 1
	if err := pollUntil(ctx, 60*time.Second, func() error {
		var who []string
		for _, a := range survivors {
			if !slices.Contains(voters, a.Region()) {
				continue
			}
			for _, v := range a.Failover().Views {
				if v.Region == region && v.Verdict == health.Down {
					who = append(who, a.Region())
				}
			}
		}
		if len(who) < need {
			return fmt.Errorf("region %s down as seen by %d of %d voters %v, want %d", region, len(who), len(voters), who, need)
		}
		out.DetectionSeconds = time.Since(failed).Seconds()
		return nil
	}); err != nil {
		return err
	}
	end := time.Now().Add(demoHold(m))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	stopped := map[string]bool{}
	for {
		for _, a := range survivors {
			fs := a.Failover()
			if fs.State != nil && fs.State.Epoch > before.Epoch {
				return fmt.Errorf("nobody takes over a %s in a %s mesh, yet %s applied epoch %d: %s", out.Role, m.Kind, a.ID(), fs.State.Epoch, fs.State.Reason)
			}
			for _, al := range fs.Alerts {
				if out.NoFailover == "" && strings.HasPrefix(al, "region "+region+" down") {
					out.NoFailover = al
				}
			}
			for _, f := range a.Status().Flows {
				if f.Source == region && f.Error != "" {
					stopped[f.Source+"→"+f.Target] = true
				}
			}
		}
		if time.Now().After(end) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	out.StoppedFeeds = slices.Sorted(maps.Keys(stopped))
	if out.NoFailover == "" {
		out.NoFailover = fmt.Sprintf("region %s down as seen by a majority of the voters; a %s holds no role the quorum hands to another region", region, out.Role)
	}
	return nil
}

// demoHold is how long the demo watches for a decision that must not
// come once a majority sees a region down: two rounds of views (shared
// every Kafka probe interval) and a second for the proposal.
func demoHold(m *topology.Mesh) time.Duration {
	return 2*m.Failover.Detection.KafkaProbeInterval + time.Second
}

// demoSample is how often the demo samples every running agent for the
// split-brain judge: a fraction of the machine's tick (250 ms), so that a
// double writer for one tick is seen several times.
const demoSample = 20 * time.Millisecond

// watched is what the writer watch reads of an agent: an *agent.Agent,
// or a planted one in tests. Its methods may be called from the watch's
// goroutine while the agent runs.
type watched interface {
	Region() string
	// Running: started and not closed.
	Running() bool
	// Failover: the decision plane as the agent acts on it.
	Failover() api.FailoverStatus
}

var _ watched = (*agent.Agent)(nil)

// sighted returns agents as the watch sees them.
func sighted(agents []*agent.Agent) []watched {
	out := make([]watched, len(agents))
	for i, a := range agents {
		out[i] = a
	}
	return out
}

// writerWatch samples what every running agent acts on and hands it to
// the split-brain judge.
type writerWatch struct {
	mu     sync.Mutex // guards agents and judge
	agents []watched
	judge  *machine.SplitBrain
}

// run samples every demoSample until ctx ends.
func (w *writerWatch) run(ctx context.Context) {
	t := time.NewTicker(demoSample)
	defer t.Stop()
	for {
		w.sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample judges one round: every agent that runs, one after another. A
// stopped agent takes no writes (its region's cluster is down too).
func (w *writerWatch) sample() {
	w.mu.Lock()
	defer w.mu.Unlock()
	var round []machine.Sighting
	for _, a := range w.agents {
		if !a.Running() {
			continue
		}
		fs := a.Failover()
		round = append(round, machine.Sighting{Region: a.Region(), State: fs.State, Fenced: fs.Fenced})
	}
	w.judge.Observe(round)
}

// follow makes the watch sample agents from now on: the mesh's agents
// after one was replaced.
func (w *writerWatch) follow(agents []watched) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.agents = slices.Clone(agents)
}

// demoAppWarm is how many records each region acknowledges to the
// application before the demo moves on: before the loss, after the
// failover, after the failback.
const demoAppWarm = 200

// failbackAttempts bounds how often the demo asks for a failback that the
// mesh aborts.
const failbackAttempts = 3

// demoFailback waits for the application to write and read in the new
// primary, restores the failed region (its cluster with the records it held, a
// new agent), waits until it settled its stranded records, fails back
// with the survivors' agent, waits for the application to write there
// again, and scores the application's records.
func demoFailback(ctx context.Context, mesh *local.Mesh, app *demoApp, cluster *broker.Embedded, watch *writerWatch, failed time.Time, out *Failover) error {
	region, to := out.FailRegion, out.TakenOverBy
	if err := pollUntil(ctx, 30*time.Second, func() error {
		at, ok := app.firstAckElsewhere(region)
		if !ok {
			return fmt.Errorf("application: no record acknowledged outside %s since its loss", region)
		}
		out.FailoverSeconds = at.Sub(failed).Seconds()
		if n := app.ackedIn(to); n < demoAppWarm {
			return fmt.Errorf("application: %d records acknowledged by %s, want %d", n, to, demoAppWarm)
		}
		// A consumer still in the lost region when it returns rejoins
		// its group there and reads again what it read since its last
		// commit: the region returns once the application has moved.
		if r := app.consumerIn(); r != to {
			return fmt.Errorf("application: consumer group still in %s", r)
		}
		return nil
	}); err != nil {
		return err
	}
	if cluster != nil {
		cluster.SetDown(false)
	}
	back, err := mesh.Restart(ctx, region)
	if err != nil {
		return fmt.Errorf("restore region %s: %w", region, err)
	}
	watch.follow(sighted(mesh.Agents()))
	if err := pollUntil(ctx, 60*time.Second, func() error {
		fs := back.Failover()
		if fs.Role != api.RoleStandby || fs.Fenced || fs.Stranded == nil || fs.Stranded.State != "settled" {
			return fmt.Errorf("region %s back: role %q fenced %v, stranded records %+v", region, fs.Role, fs.Fenced, fs.Stranded)
		}
		out.Stranded = fs.Stranded.Records
		return nil
	}); err != nil {
		return err
	}
	survivor := mesh.Agent(to)
	if survivor == nil {
		return fmt.Errorf("no agent in %s, the new primary", to)
	}
	ackedBefore := app.ackedIn(region)
	// The failback goes through the survivor's API, as `geomesh
	// failback` sends it. The returned region counts as up by a majority
	// a few probes later; until then the switch is refused, and the demo
	// retries as an operator would. In its first probes back a majority
	// may also see it down again for a moment, and the mesh aborts the
	// switch it had begun: the demo asks again, as an operator would, at
	// most failbackAttempts times.
	operator := api.NewClient(mesh.Topology(), api.ClientOptions{Admin: true})
	for attempt := 1; ; attempt++ {
		if err := pollUntil(ctx, 60*time.Second, func() error {
			err := operator.Do(ctx, http.MethodPost, survivor.APIAddr(), "/v1/failback", nil, nil)
			if err != nil {
				return fmt.Errorf("failback: %w", err)
			}
			return nil
		}); err != nil {
			return err
		}
		var aborted bool
		if err := pollUntil(ctx, 60*time.Second, func() error {
			st := survivor.Failover().State
			switch {
			case st == nil:
				return errors.New("failback: no mesh state")
			case st.Decision == api.DecisionSwitchAbort:
				aborted = true
				return nil
			case st.Switch != nil || st.Decision != api.DecisionSwitchover:
				return fmt.Errorf("failback: %s at epoch %d", st.Decision, st.Epoch)
			}
			return nil
		}); err != nil {
			return err
		}
		if !aborted {
			break
		}
		out.FailbackAborts++
		if attempt == failbackAttempts {
			return fmt.Errorf("failback: aborted %d times, the last: %s", attempt, survivor.Failover().State.Reason)
		}
	}
	if err := pollUntil(ctx, 60*time.Second, func() error {
		if n := app.ackedIn(region) - ackedBefore; n < demoAppWarm {
			return fmt.Errorf("application: %d records acknowledged by %s since the failback, want %d", n, region, demoAppWarm)
		}
		return nil
	}); err != nil {
		return err
	}
	out.FailedBack = true
	stranded, err := strandedIDs(ctx, mesh.Topology(), to, app.topic+".stranded")
	if err != nil {
		return err
	}
	out.StrandedRecovered = len(stranded)
	app.finish(ctx, stranded, 30*time.Second)
	out.AppAcked, out.AppConsumed, out.AppLost, out.AppDuplicated = app.score(stranded)
	return nil
}

// strandedIDs reads the application's records in topic of region, from
// the start until it has been quiet for a second.
func strandedIDs(ctx context.Context, m *topology.Mesh, region, topic string) (map[string]bool, error) {
	cl, err := regionClient(m, region, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ids := map[string]bool{}
	for quiet := 0; quiet < 2 && ctx.Err() == nil; {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		if fs.NumRecords() == 0 {
			quiet++
		}
		fs.EachRecord(func(r *kgo.Record) { ids[string(r.Value)] = true })
	}
	return ids, ctx.Err()
}

// pollUntil calls cond every 100ms until it returns nil, ctx ends or
// timeout passes; then it returns cond's last error. It is how the demo
// waits for anything: for a state it can ask for, never for a time.
func pollUntil(ctx context.Context, timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}
