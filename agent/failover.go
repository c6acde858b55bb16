package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/health"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/failover/quorum"
	"github.com/geomesh/geomesh/topology"
)

// The decision plane of an agent (DESIGN.md, "The three planes").
//
// One goroutine, run by decisions.loop, owns the failover machine and the
// health trackers: every input reaches the machine through it and it
// carries out the actions in the order the machine gives them. Around it:
//
//   - the control-plane goroutine (controlPlane) starts or connects to the
//     NATS node, opens the store, watches the mesh state, subscribes to
//     the views and checks every probe interval that a majority answers;
//   - one prober goroutine per data region probes its Kafka cluster.
//
// They talk to the loop over channels; the loop never waits on them, and
// they never hold a lock while they send.
//
// An unreachable control plane stops decisions, never replication: until
// the first state is read the agent runs the flows the topology file
// plans (topology.Plan) — at once when the external NATS cluster refuses
// the connection, else after Config.ControlPlaneGrace, so that a restarted
// standby that might have been promoted meanwhile does not copy from the
// old primary while its node joins the cluster. Once a state has been
// read, the flows are those of the state's roles (topology.PlanFor) that
// the machine starts, and a later loss of the control plane leaves them
// running; only a writer that may be replaced fences itself.

const (
	defaultTickInterval      = 250 * time.Millisecond
	defaultControlPlaneGrace = 10 * time.Second
	// retryControlPlane is how long the agent waits before it connects
	// again to an external NATS cluster that refused it.
	retryControlPlane = 2 * time.Second
	// maxRecentEvents bounds the decisions kept for /v1/failover.
	maxRecentEvents = 20
)

// decisions is the agent's failover machinery.
type decisions struct {
	a   *Agent
	det topology.Detection

	viewsCh chan []machine.View
	cpCh    chan cpReport
	cmdCh   chan commandReq
	staticC chan struct{} // closed when the control plane refused us at start

	probers map[string]*health.Prober // by data region

	// Loop-owned: only decisions.loop touches these.
	m          *machine.Machine
	trackers   map[string]*health.Tracker
	store      *quorum.Store
	controlled bool               // a state has been read: flows follow it
	static     bool               // the file's flows run (no state read yet)
	want       map[[2]string]bool // flows the machine started
	running    map[[2]string]*flowHandle
	pendingCmd *commandReq
	// The pending Demote whose stranded records are unsettled, whether
	// this agent's settlement runs, and the owner last seen.
	pendingStranded *machine.Demote
	settling        bool
	strandedOwner   string
	strandedCh      chan settled // a finished settlement

	mu     sync.Mutex // guards the fields below, read by the API
	snap   api.FailoverStatus
	probes map[string]health.Probe
}

// flowHandle is a running flow and what stops it.
type flowHandle struct {
	fr     *flowRunner
	cancel context.CancelFunc
	done   chan struct{}
}

// cpReport is the control-plane goroutine's news for the loop.
type cpReport struct {
	store     *quorum.Store               // set once, when the store opened
	watch     <-chan machine.StateChanged // with store
	reachable *bool                       // a check's outcome
	state     *machine.StateChanged       // a fresh read after reconnection
}

// commandReq is an operator command waiting for the machine's answer.
type commandReq struct {
	cmd   machine.Command
	reply chan commandResult
}

// commandResult is the outcome of an operator command.
type commandResult struct {
	// Code is the HTTP status: 200 decided, 409 rejected or lost to
	// another proposal, 503 no quorum.
	Code  int
	Error string
	State *api.State
}

func newDecisions(a *Agent) *decisions {
	mesh := a.cfg.Mesh
	d := &decisions{
		a:          a,
		det:        mesh.Failover.Detection,
		viewsCh:    make(chan []machine.View, 64),
		cpCh:       make(chan cpReport, 16),
		cmdCh:      make(chan commandReq),
		strandedCh: make(chan settled, 1),
		staticC:    make(chan struct{}),
		probers:    map[string]*health.Prober{},
		m:          machine.New(machine.Config{Mesh: mesh, Region: a.region.Name}),
		trackers:   map[string]*health.Tracker{},
		want:       map[[2]string]bool{},
		running:    map[[2]string]*flowHandle{},
		probes:     map[string]health.Probe{},
	}
	for _, r := range mesh.Regions {
		d.trackers[r.Name] = health.NewTracker(r.Name, health.Config{Witness: r.Witness, DownAfter: d.det.DownAfter})
		if r.Kafka != nil {
			d.probers[r.Name] = health.NewProber(r.Name, r.Kafka, min(time.Second, d.det.KafkaProbeInterval))
		}
	}
	d.snap = api.FailoverStatus{Mesh: mesh.Name, Region: a.region.Name, Agent: a.self.ID, ControlPlane: "connecting",
		Views: []api.RegionView{}, Flows: []api.FlowLag{}, Events: []api.Event{}}
	return d
}

// start spawns the loop, the control-plane goroutine and the probers on
// the agent's wait group; the caller holds a.mu.
func (d *decisions) start(ctx context.Context) {
	for region, p := range d.probers {
		d.a.goRun(ctx, "kafka probe "+region, func(ctx context.Context) error {
			defer p.Close()
			p.Run(ctx, d.det.KafkaProbeInterval, func(res health.Probe, err error) {
				if res == health.ProbeUnknown {
					return
				}
				d.mu.Lock()
				d.probes[region] = res
				d.mu.Unlock()
			})
			return nil
		})
	}
	d.a.goRun(ctx, "control plane", d.controlPlane)
	d.a.goRun(ctx, "failover machine", d.loop)
}

// nodeConfig is this agent's control-plane node: embedded on its control
// address, routing to every other agent's (all regions, witnesses
// included), or a client of the file's NATS cluster; with the file's
// control-plane TLS and credentials either way.
func (d *decisions) nodeConfig() quorum.Config {
	a := d.a
	mesh := a.cfg.Mesh
	cfg := quorum.Config{Mesh: mesh.Name, Name: a.self.ID, Logger: a.log,
		TLS: mesh.ControlPlane.TLS, Credentials: mesh.ControlPlane.Credentials}
	if !mesh.ControlPlane.Embedded {
		cfg.URLs = mesh.ControlPlane.URLs
		return cfg
	}
	cfg.ClusterAddr = a.self.Control
	for _, r := range mesh.Regions {
		for _, ag := range r.Agents {
			if !(r.Name == a.region.Name && ag.ID == a.self.ID) && ag.Control != "" {
				cfg.Peers = append(cfg.Peers, ag.Control)
			}
		}
	}
	if a.cfg.ControlDir != "" {
		cfg.StoreDir = filepath.Join(a.cfg.ControlDir, a.self.ID)
	}
	return cfg
}

// controlPlane brings up the node and the store, then checks the
// majority every probe interval until ctx ends.
func (d *decisions) controlPlane(ctx context.Context) error {
	var node *quorum.Node
	defer func() {
		if node != nil {
			_ = node.Close()
		}
	}()
	refused := false
	for node == nil {
		n := quorum.NewNode(d.nodeConfig())
		err := n.Start(ctx)
		if err == nil {
			node = n
			break
		}
		_ = n.Close()
		if !refused {
			refused = true
			close(d.staticC)
			d.a.log.Warn("control plane unreachable: replicating the topology file's flows, deciding nothing until it answers", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retryControlPlane):
		}
	}
	store, err := node.Open(ctx)
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	stopViews, err := store.SubscribeViews(func(vs []machine.View) {
		select {
		case d.viewsCh <- vs:
		default: // views are refreshed every interval; a full queue drops a batch
		}
	})
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	defer stopViews()
	stopEvents, err := store.SubscribeEvents(d.noteEvent)
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	defer stopEvents()
	watch, err := store.Watch(ctx)
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	// A restarted node may first serve the state from its own replica,
	// which can be epochs old: a lost primary would act as primary again
	// until the watch caught up. The machine starts from a state read
	// after a write a majority confirmed, and ignores older revisions.
	first, ok := d.confirmedState(ctx, store)
	if !ok || !d.send(ctx, cpReport{store: store, watch: watch, state: &first}) {
		return nil
	}
	// The leader's questions wait up to the store's timeout each; asked
	// between checks they would delay the next check, and so the notice
	// of a lost majority that FenceAfter counts from.
	var lead sync.WaitGroup
	leadCtx, stopLead := context.WithCancel(ctx)
	lead.Go(func() { d.keepLead(leadCtx, store) })
	defer lead.Wait()
	defer stopLead()
	t := time.NewTicker(d.det.KafkaProbeInterval)
	defer t.Stop()
	reachable := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		ok := store.Check(ctx) == nil
		if ctx.Err() != nil {
			return nil
		}
		rep := cpReport{reachable: &ok}
		if ok && !reachable {
			// The machine proposes and unfences only after a fresh read.
			st, rev, err := store.Load(ctx)
			if err != nil {
				ok = false
			} else {
				rep.state = &machine.StateChanged{State: st, Revision: rev}
			}
		}
		reachable = ok
		if !d.send(ctx, rep) {
			return nil
		}
	}
}

// keepLead runs leadState every probe interval until ctx ends.
func (d *decisions) keepLead(ctx context.Context, store *quorum.Store) {
	t := time.NewTicker(d.det.KafkaProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.leadState(ctx, store)
	}
}

// leadState notes which node leads the mesh state's stream, and keeps it
// in this region while the region holds the single writer role (primary,
// hub): see quorum.Store.LeadFrom.
func (d *decisions) leadState(ctx context.Context, store *quorum.Store) {
	leader, behind := store.Replicas(ctx)
	d.mu.Lock()
	d.snap.StateLeader, d.snap.StateBehind = leader, behind
	d.mu.Unlock()
	st := d.status()
	if st.Fenced || (st.Role != api.RolePrimary && st.Role != api.RoleHub) {
		return
	}
	ours := make([]string, 0, len(d.a.region.Agents))
	for _, ag := range d.a.region.Agents {
		ours = append(ours, ag.ID)
	}
	moved, err := store.LeadFrom(ctx, leader, ours)
	switch {
	case err != nil:
		d.a.log.Warn("control plane: cannot move the state leader into this region", "err", err)
	case moved:
		d.a.log.Info("control plane: state leader moved into this region", "role", st.Role)
	}
}

// confirmedState checks the majority (a write) and then loads the state,
// every probe interval until both succeed or ctx ends.
func (d *decisions) confirmedState(ctx context.Context, store *quorum.Store) (machine.StateChanged, bool) {
	for {
		if store.Check(ctx) == nil {
			if st, rev, err := store.Load(ctx); err == nil {
				return machine.StateChanged{State: st, Revision: rev}, true
			}
		}
		select {
		case <-ctx.Done():
			return machine.StateChanged{}, false
		case <-time.After(d.det.KafkaProbeInterval):
		}
	}
}

func (d *decisions) send(ctx context.Context, r cpReport) bool {
	select {
	case d.cpCh <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

// noteEvent keeps a decision announced by any agent for /v1/failover; it
// runs on the NATS subscription's goroutine.
func (d *decisions) noteEvent(ev api.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.snap.Events {
		if e.Epoch == ev.Epoch && e.Kind == ev.Kind {
			return
		}
	}
	d.snap.Events = append(d.snap.Events, ev)
	if len(d.snap.Events) > maxRecentEvents {
		d.snap.Events = d.snap.Events[len(d.snap.Events)-maxRecentEvents:]
	}
}

// loop owns the machine: ticks, views, state, control-plane reports and
// operator commands go in, actions come out and are carried out here.
func (d *decisions) loop(ctx context.Context) error {
	defer d.stopFlows()
	tick := time.NewTicker(defaultTickInterval)
	defer tick.Stop()
	probe := time.NewTicker(d.det.KafkaProbeInterval)
	defer probe.Stop()
	grace := time.NewTimer(d.a.cfg.ControlPlaneGrace)
	defer grace.Stop()
	var watch <-chan machine.StateChanged
	staticC := d.staticC
	for {
		select {
		case <-ctx.Done():
			if d.pendingCmd != nil {
				d.pendingCmd.reply <- commandResult{Code: 503, Error: "agent stopping"}
			}
			return nil
		case now := <-tick.C:
			d.step(ctx, machine.Tick{Now: now})
			if acts := d.pollStranded(ctx); len(acts) > 0 {
				d.run(ctx, acts)
			}
			d.feedLag(ctx)
		case now := <-probe.C:
			d.observe(ctx, now)
		case <-grace.C:
			d.startStatic(ctx, "no mesh state read within "+d.a.cfg.ControlPlaneGrace.String())
		case <-staticC:
			staticC = nil
			d.startStatic(ctx, "control plane refused the connection")
		case vs := <-d.viewsCh:
			for _, v := range vs {
				d.step(ctx, v)
			}
		case sc, ok := <-watch:
			if !ok {
				watch = nil
				continue
			}
			d.step(ctx, sc)
		case r := <-d.cpCh:
			if r.store != nil {
				d.store, watch = r.store, r.watch
			}
			if r.state != nil {
				d.step(ctx, *r.state)
			}
			if r.reachable != nil {
				d.step(ctx, machine.ControlPlane{Reachable: *r.reachable})
			}
		case req := <-d.cmdCh:
			d.command(ctx, req)
		case res := <-d.strandedCh:
			d.strandedDone(ctx, res)
		}
	}
}

// command feeds an operator command; the answer comes from the actions:
// a Rejected, or a Propose and its result.
func (d *decisions) command(ctx context.Context, req commandReq) {
	if d.pendingCmd != nil {
		req.reply <- commandResult{Code: 409, Error: "another operator command is being decided; retry"}
		return
	}
	d.pendingCmd = &req
	d.step(ctx, req.cmd)
	if d.pendingCmd != nil {
		// Neither rejected nor proposed: nothing to do.
		d.pendingCmd = nil
		req.reply <- commandResult{Code: 409, Error: "the machine made no decision on this command"}
	}
}

func (d *decisions) answer(r commandResult) {
	if d.pendingCmd != nil {
		d.pendingCmd.reply <- r
		d.pendingCmd = nil
	}
}

// step feeds one input and carries out the actions, including those of
// the proposal results it feeds back.
func (d *decisions) step(ctx context.Context, in machine.Input) {
	queue := d.m.Step(in)
	if sc, ok := in.(machine.StateChanged); ok && sc.State != nil && !d.controlled {
		// From now on the flows are the machine's; the file's flows that
		// it does not start are stopped at the end of this step.
		d.controlled = true
	}
	d.run(ctx, queue)
}

// run carries out actions, those of the inputs they feed back included,
// then brings the flows and the snapshot in line.
func (d *decisions) run(ctx context.Context, queue []machine.Action) {
	for len(queue) > 0 {
		act := queue[0]
		queue = queue[1:]
		queue = append(queue, d.do(ctx, act)...)
	}
	d.syncFlows(ctx)
	d.settleRole()
	d.refresh()
}

// settleRole brings the metrics, the copies' write grants and the fence
// in line with the machine's status once a step's actions are done.
func (d *decisions) settleRole() {
	st := d.m.Status()
	if _, changed := d.a.roles.roleChange(st, d.a.region.Name); changed {
		// Promotions, demotions and fences made their transition in
		// order as actions; an evacuation, a return from one or a new
		// epoch that keeps this region's role has no action of its own,
		// and the writer set, the role and the epoch still changed.
		d.transition()
	}
	d.a.applyFence(st)
}

// do carries out one action and returns the actions of any input it fed
// back.
func (d *decisions) do(ctx context.Context, act machine.Action) []machine.Action {
	log := d.a.log
	switch act := act.(type) {
	case machine.Propose:
		log.Info("proposing", "decision", act.State.Decision, "epoch", act.State.Epoch, "state", act.State.String(), "reason", act.State.Reason)
		if d.store == nil {
			return d.m.Step(machine.ProposalResult{NoQuorum: true})
		}
		res := d.store.Propose(ctx, act)
		switch {
		case res.OK:
			st := act.State
			d.answer(commandResult{Code: 200, State: &st})
		case res.NoQuorum:
			d.answer(commandResult{Code: 503, Error: "no control-plane quorum reachable from region " + d.a.region.Name})
		default:
			d.answer(commandResult{Code: 409, Error: "another decision came first", State: res.Current})
		}
		return d.m.Step(res)
	case machine.Rejected:
		d.answer(commandResult{Code: 409, Error: act.Reason})
	case machine.Fence:
		log.Warn("fenced: acting in no writer role", "epoch", act.Epoch, "reason", act.Reason)
		d.a.fmet.fenced.Set(1)
		d.transition()
	case machine.Unfence:
		log.Info("unfenced", "epoch", act.Epoch)
		d.a.fmet.fenced.Set(0)
		d.transition()
	case machine.Promote:
		log.Warn("promoted", "epoch", act.Epoch, "role", act.Role)
		d.transition()
	case machine.Demote:
		log.Warn("demoted", "epoch", act.Epoch, "role", act.Role, "stranded_policy", act.Stranded)
		d.transition()
		if act.Role == api.RoleFenced {
			// It rejoins as a standby once its stranded records are
			// settled (StrandedDone, fed by the loop).
			return d.settleStranded(ctx, act)
		}
	case machine.StartReplication:
		d.want[[2]string{act.Source, act.Target}] = true
	case machine.StopReplication:
		pair := [2]string{act.Source, act.Target}
		delete(d.want, pair)
		// At once, in order: copies of the old primary's records must stop
		// before this region takes writes.
		d.stopFlow(pair)
	case machine.MoveClients, machine.PauseProducers, machine.ResumeProducers:
		// Clients follow the state and the events themselves.
		log.Info("clients", "action", act.String())
	case machine.Alert:
		log.Warn("failover alert", "key", act.Key, "msg", act.Message)
		d.mu.Lock()
		d.snap.Alerts = append(d.snap.Alerts, act.Message)
		if len(d.snap.Alerts) > maxRecentEvents {
			d.snap.Alerts = d.snap.Alerts[1:]
		}
		d.mu.Unlock()
	case machine.Publish:
		d.noteEvent(act.Event)
		if d.store != nil {
			if err := d.store.PublishEvent(act.Event); err != nil {
				log.Warn("publishing a decision failed", "epoch", act.Event.Epoch, "err", err)
			}
		}
	case machine.RunHooks:
		d.runHooks(ctx, act.Event)
	}
	return nil
}

// transition records a role, epoch or fence change in the metrics.
func (d *decisions) transition() {
	st := d.m.Status()
	fm := d.a.fmet
	fm.lastTransition.Set(float64(time.Now().UnixNano()) / 1e9)
	if st.State == nil {
		return
	}
	fm.epoch.Set(float64(st.State.Epoch))
	fm.role.Reset()
	fm.role.WithLabelValues(d.a.region.Name, string(st.State.Role(d.a.region.Name))).Set(1)
	d.grantWrites(st)
}

// grantWrites tells ACL sync which copies in this region take the
// applications' writes now: in an active-passive or hub-spoke mesh those
// in the one writer region (SetWritePrimary); in an active-active mesh
// the identity copies in a region of the state's writer set, none in an
// evacuated region, and never a prefixed copy. A fenced region is no
// writer, whatever the state says.
func (d *decisions) grantWrites(st machine.Status) {
	m := d.a.cfg.Mesh
	self := d.a.region.Name
	writers := slices.DeleteFunc(st.State.Writers(m.Kind), func(r string) bool { return st.Fenced && r == self })
	if api.SingleWriter(m.Kind) {
		w := ""
		if len(writers) == 1 {
			w = writers[0]
		}
		d.a.SetWritePrimary(w)
		return
	}
	d.a.mu.Lock()
	runners := d.a.runners
	d.a.mu.Unlock()
	for _, fr := range runners {
		fr.acls.SetWritable(fr.flow.Naming == topology.NamingIdentity && slices.Contains(writers, fr.flow.Target))
	}
}

// observe turns the evidence about every region into this agent's views,
// feeds them to the machine and shares them.
func (d *decisions) observe(ctx context.Context, now time.Time) {
	alive := map[string]int{}
	if d.a.members != nil {
		for _, m := range d.a.members.Members() {
			alive[m.Region]++
		}
	}
	d.mu.Lock()
	probes := maps.Clone(d.probes)
	d.mu.Unlock()
	var views []machine.View
	var rv []api.RegionView
	for _, r := range d.a.cfg.Mesh.Regions {
		e := health.Evidence{At: now, AgentsAlive: alive[r.Name], Kafka: probes[r.Name]}
		if h := d.a.health; h != nil && r.Name != d.a.region.Name {
			e.HeartbeatAge, e.HeartbeatKnown = h.beats.Age(r.Name, now)
		}
		t := d.trackers[r.Name]
		was, _ := t.Verdict()
		v := t.Observe(e)
		_, why := t.Verdict()
		if v != was {
			d.a.log.Info("region verdict", "of", r.Name, "was", was, "now", v, "reason", why,
				"agents_alive", e.AgentsAlive, "kafka", e.Kafka, "heartbeat_age", e.HeartbeatAge.Round(time.Millisecond), "heartbeat_known", e.HeartbeatKnown)
		}
		d.a.fmet.setVerdict(r.Name, v)
		views = append(views, machine.View{Observer: d.a.region.Name, Region: r.Name, Verdict: v, At: now})
		rv = append(rv, api.RegionView{Region: r.Name, Verdict: v, Reason: why})
	}
	d.mu.Lock()
	d.snap.Views = rv
	d.mu.Unlock()
	for _, v := range views {
		d.step(ctx, v)
	}
	if d.store != nil {
		if err := d.store.PublishViews(views); err != nil {
			d.a.log.Debug("sharing views failed", "err", err)
		}
	}
}

// feedLag reports the lag of the flows into this region, which a planned
// switch waits to drain. CaughtUpTo is the source time of the newest
// heartbeat copied: it proves a copy newer than the producers' pause.
func (d *decisions) feedLag(ctx context.Context) {
	now := time.Now()
	var lags []api.FlowLag
	for _, pair := range slices.SortedFunc(maps.Keys(d.running), cmpPair) {
		h := d.running[pair]
		lag, _, lastErr := h.fr.lag()
		src, tgt := h.fr.flow.Source, h.fr.flow.Target
		lags = append(lags, api.FlowLag{Source: src, Target: tgt, Lag: lag})
		in := machine.Lag{Source: src, Target: tgt, Records: lag}
		if hs := d.a.health; hs != nil {
			if age, ok := hs.beats.Age(src, now); ok {
				in.CaughtUpTo = now.Add(-age)
			}
		}
		if lastErr != "" || !h.fr.isReconciled() {
			continue // a flow that cannot read its source has no lag to trust
		}
		d.step(ctx, in)
	}
	d.mu.Lock()
	d.snap.Flows = append([]api.FlowLag{}, lags...)
	d.mu.Unlock()
}

func cmpPair(a, b [2]string) int {
	if c := strings.Compare(a[0], b[0]); c != 0 {
		return c
	}
	return strings.Compare(a[1], b[1])
}

// startStatic runs the topology file's flows while no state is known.
func (d *decisions) startStatic(ctx context.Context, why string) {
	if d.controlled || d.static {
		return
	}
	d.static = true
	d.a.log.Info("starting the topology file's flows before the control plane answers", "why", why)
	d.syncFlows(ctx)
	d.refresh()
}

// wantedFlows are the flows into this region that should run now.
func (d *decisions) wantedFlows() map[[2]string]topology.Flow {
	out := map[[2]string]topology.Flow{}
	self := d.a.region.Name
	switch {
	case d.controlled:
		st := d.m.Status().State
		if st == nil {
			return out
		}
		for _, f := range topology.PlanFor(d.a.cfg.Mesh, st.Roles(d.a.cfg.Mesh)) {
			pair := [2]string{f.Source, f.Target}
			if f.Target == self && d.want[pair] {
				out[pair] = f
			}
		}
		for pair := range d.want {
			if _, ok := out[pair]; !ok {
				d.a.log.Warn("the machine started a flow the plan of the current roles does not have", "source", pair[0], "target", pair[1])
			}
		}
	case d.static:
		for _, f := range d.a.flows {
			out[[2]string{f.Source, f.Target}] = f
		}
	}
	return out
}

// syncFlows starts the wanted flows that are not running and stops the
// others.
func (d *decisions) syncFlows(ctx context.Context) {
	want := d.wantedFlows()
	for pair := range d.running {
		if _, ok := want[pair]; !ok {
			d.stopFlow(pair)
		}
	}
	changed := false
	for _, pair := range slices.SortedFunc(maps.Keys(want), cmpPair) {
		if _, ok := d.running[pair]; ok {
			continue
		}
		if err := d.startFlow(ctx, want[pair]); err != nil {
			d.a.log.Error("starting a flow failed", "source", pair[0], "target", pair[1], "err", err)
			continue
		}
		changed = true
	}
	if changed {
		d.publishRunners()
	}
}

func (d *decisions) startFlow(ctx context.Context, f topology.Flow) error {
	a := d.a
	a.mu.Lock()
	fr, err := a.newFlowRunner(f)
	a.mu.Unlock()
	if err != nil {
		return err
	}
	fctx, cancel := context.WithCancel(ctx)
	h := &flowHandle{fr: fr, cancel: cancel, done: make(chan struct{})}
	d.running[[2]string{f.Source, f.Target}] = h
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(h.done)
		if err := fr.run(fctx); err != nil && fctx.Err() == nil {
			a.log.Error("flow stopped with an error", "source", f.Source, "target", f.Target, "err", err)
		}
	}()
	a.log.Info("flow started", "source", f.Source, "target", f.Target, "kind", f.Kind)
	return nil
}

// stopFlow stops a running flow and waits for its shards to end their
// transactions, at most the agent's StopTimeout.
func (d *decisions) stopFlow(pair [2]string) {
	h, ok := d.running[pair]
	if !ok {
		return
	}
	delete(d.running, pair)
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(d.a.cfg.StopTimeout):
		d.a.log.Warn("flow did not stop in time; its shards are fenced by the next owner", "source", pair[0], "target", pair[1])
	}
	d.publishRunners()
	d.a.log.Info("flow stopped", "source", pair[0], "target", pair[1])
}

func (d *decisions) stopFlows() {
	for pair := range d.running {
		d.stopFlow(pair)
	}
}

// publishRunners hands the running flows to the agent's status, health
// and readiness readers.
func (d *decisions) publishRunners() {
	var rs []*flowRunner
	for _, pair := range slices.SortedFunc(maps.Keys(d.running), cmpPair) {
		rs = append(rs, d.running[pair].fr)
	}
	d.a.mu.Lock()
	d.a.runners = rs
	d.a.mu.Unlock()
}

// refresh copies the machine's state into the snapshot the API reads.
func (d *decisions) refresh() {
	st := d.m.Status()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.snap.State, d.snap.Revision, d.snap.Fenced = st.State, st.Revision, st.Fenced
	switch {
	case d.store == nil:
		d.snap.ControlPlane = "connecting"
	case st.Reachable:
		d.snap.ControlPlane = "reachable"
	default:
		d.snap.ControlPlane = "unreachable"
	}
	if st.State != nil {
		d.snap.Role, d.snap.Epoch = st.State.Role(d.a.region.Name), st.State.Epoch
	}
}

// status returns a copy of the snapshot.
func (d *decisions) status() api.FailoverStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.snap
	s.Views = slices.Clone(s.Views)
	s.Flows = slices.Clone(s.Flows)
	s.Events = slices.Clone(s.Events)
	s.Alerts = slices.Clone(s.Alerts)
	if s.Stranded != nil {
		st := *s.Stranded
		st.Topics = maps.Clone(st.Topics)
		s.Stranded = &st
	}
	return s
}

// errNoDecisions: the decision plane is not running (before Start, after
// Close).
var errNoDecisions = errors.New("the agent's decision plane is not running")

// Command hands an operator command to the machine and waits for its
// answer: the decided state, or why not.
func (a *Agent) Command(ctx context.Context, c machine.Command) (commandResult, error) {
	a.mu.Lock()
	d := a.dec
	running := a.started && !a.closed
	a.mu.Unlock()
	if d == nil || !running {
		return commandResult{}, errNoDecisions
	}
	req := commandReq{cmd: c, reply: make(chan commandResult, 1)}
	select {
	case d.cmdCh <- req:
	case <-ctx.Done():
		return commandResult{}, fmt.Errorf("command %s: %w", c.Kind, ctx.Err())
	}
	select {
	case r := <-req.reply:
		return r, nil
	case <-ctx.Done():
		return commandResult{}, fmt.Errorf("command %s: %w", c.Kind, ctx.Err())
	}
}

// Failover returns the decision plane as this agent sees it.
func (a *Agent) Failover() api.FailoverStatus {
	a.mu.Lock()
	d := a.dec
	a.mu.Unlock()
	if d == nil {
		return api.FailoverStatus{Mesh: a.cfg.Mesh.Name, Region: a.region.Name, Agent: a.self.ID, ControlPlane: "stopped"}
	}
	return d.status()
}

// isReconciled reports whether a reconcile pass has completed.
func (fr *flowRunner) isReconciled() bool {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return fr.reconciled
}

// inboundFlows are the flows into this region under any data region as
// primary (or hub): the file's, then those a failover could start. The
// heartbeat reader follows all of them, so that a region whose role
// changes has the heartbeat evidence of its new sources at once.
func (a *Agent) inboundFlows() []topology.Flow {
	out := append([]topology.Flow(nil), a.flows...)
	seen := map[[2]string]bool{}
	for _, f := range out {
		seen[[2]string{f.Source, f.Target}] = true
	}
	m := a.cfg.Mesh
	for _, p := range m.DataRegions() {
		r := m.Roles
		switch m.Kind {
		case topology.KindActivePassive:
			r.Primary, r.Standby = p, nil
			for _, s := range m.DataRegions() {
				if s != p {
					r.Standby = append(r.Standby, s)
				}
			}
		case topology.KindHubSpoke:
			// The hub and the standby hub trade roles: with either as hub,
			// the other is its standby hub, fed by the standby flow.
			r.Hub, r.StandbyHub = p, ""
			switch p {
			case m.Roles.Hub:
				r.StandbyHub = m.Roles.StandbyHub
			case m.Roles.StandbyHub:
				r.StandbyHub = m.Roles.Hub
			}
		}
		for _, f := range topology.PlanFor(m, r) {
			pair := [2]string{f.Source, f.Target}
			if f.Target == a.region.Name && !seen[pair] {
				seen[pair] = true
				out = append(out, f)
			}
		}
	}
	return out
}
