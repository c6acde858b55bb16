package plane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/health"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/failover/quorum"
	"github.com/geomesh/geomesh/topology"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Plane. Zero values take the defaults named on each
// field.
type Config struct {
	// Mesh is the validated topology. Required. The plane adopts each
	// version stored in the control plane after it (topology.go).
	Mesh *topology.Mesh
	// Source is the topology file's text, for its digest in Topology;
	// optional.
	Source []byte
	// Region is the region this plane decides for. Required.
	Region string
	// Agent is the id of the agent the plane runs in. Required.
	Agent string
	// Control is the control-plane node: embedded, routing to its peers,
	// or a client of an external NATS cluster (package failover/quorum).
	// Its Errors is the plane's: failed operations are counted in
	// geomesh_control_plane_errors_total.
	Control quorum.Config
	// ControlPlaneGrace is how long the plane waits for the mesh state
	// before it starts the topology file's flows without it (default
	// 10s). An external control plane that refuses the connection starts
	// them at once.
	ControlPlaneGrace time.Duration
	// StopTimeout bounds how long stopping a flow waits for its shards to
	// end their transactions (default 8s).
	StopTimeout time.Duration
	// Logger receives the plane's logs. Default: slog.Default().
	Logger *slog.Logger
	// Registry receives the failover metrics (metrics.go). Default: a
	// registry of the plane's own.
	Registry prometheus.Registerer
}

const (
	defaultTickInterval      = 250 * time.Millisecond
	defaultControlPlaneGrace = 10 * time.Second
	defaultStopTimeout       = 8 * time.Second
	// retryControlPlane is how long the plane waits before it connects
	// again to an external NATS cluster that refused it.
	retryControlPlane = 2 * time.Second
	// maxRecentEvents bounds the decisions kept for Status.
	maxRecentEvents = 20
)

func (c Config) withDefaults() Config {
	if c.ControlPlaneGrace <= 0 {
		c.ControlPlaneGrace = defaultControlPlaneGrace
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = defaultStopTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	return c
}

// Host is what the plane needs from the agent it runs in: the flows it
// starts and stops, the write grants and the fence it sets, and the
// evidence about other regions that only the agent holds.
type Host interface {
	// NewFlow prepares a flow into this region; the plane runs it.
	NewFlow(f topology.Flow) (Flow, error)
	// Reconfigure hands the host a new version of the topology, after
	// the plane stopped the flows it changes and before it starts them
	// again.
	Reconfigure(m *topology.Mesh)
	// GrantWrites tells the host which regions take the applications'
	// writes now (this region left out while it is fenced).
	GrantWrites(writers []string)
	// ApplyFence hands the host the machine's status after every step,
	// for the region's ACL fence.
	ApplyFence(st machine.Status)
	// AgentsAlive counts the live agents of each region, by gossip.
	AgentsAlive() map[string]int
	// HeartbeatAge is the age of the newest heartbeat of region read in
	// this region; ok is false when none was read.
	HeartbeatAge(region string, now time.Time) (age time.Duration, ok bool)
	// RegionMembers lists the ids of this region's live agents, sorted.
	RegionMembers() []string
}

// Flow is a flow into this region as the plane runs it.
type Flow interface {
	// Run copies until ctx ends.
	Run(ctx context.Context) error
	// Lag is the flow's lag in records; trusted is false while the flow
	// cannot read its source or has not listed its partitions yet.
	Lag() (records int64, trusted bool)
}

// Plane is one agent's failover plane.
//
// One goroutine, run by Plane.loop, owns the failover machine and the
// health trackers: every input reaches the machine through it and it
// carries out the actions in the order the machine gives them. Around it:
//
//   - the control-plane goroutine (controlPlane) starts or connects to the
//     NATS node, opens the store, watches the mesh state, subscribes to
//     the views and checks every probe interval that a majority answers;
//   - one prober goroutine per data region probes its Kafka cluster;
//   - one goroutine per running flow, and one per hook run and stranded
//     settlement.
//
// They talk to the loop over channels; the loop never waits on them, and
// they never hold a lock while they send. Run waits for all of them.
//
// An unreachable control plane stops decisions, never replication: until
// the first state is read the plane runs the flows the topology file
// plans (topology.Plan) — at once when the external NATS cluster refuses
// the connection, else after Config.ControlPlaneGrace, so that a restarted
// standby that might have been promoted meanwhile does not copy from the
// old primary while its node joins the cluster. Once a state has been
// read, the flows are those of the state's roles (topology.PlanFor) that
// the machine starts, and a later loss of the control plane leaves them
// running; only a writer that may be replaced fences itself.
type Plane struct {
	cfg    Config
	mesh   atomic.Pointer[topology.Mesh] // the topology the plane runs now
	host   Host
	log    *slog.Logger
	met    *metrics
	det    topology.Detection
	region *topology.Region
	flows  []topology.Flow // the file's flows into the region

	viewsCh chan []machine.View
	cpCh    chan cpReport
	cmdCh   chan commandReq
	staticC chan struct{} // closed when the control plane refused us at start

	probers map[string]*health.Prober // by data region
	wg      sync.WaitGroup
	// topoSeen is the newest stored topology version the loop has seen
	// (adopted or rejected), for the control-plane goroutine's checks.
	topoSeen atomic.Uint64
	// reload is set by the loop when the machine asks for a fresh read
	// (machine.Reload); the control-plane goroutine reads the state with
	// its next successful check.
	reload atomic.Bool

	// Loop-owned: only Plane.loop touches these.
	m           *machine.Machine
	topoVersion uint64 // the newest stored topology version seen
	trackers    map[string]*health.Tracker
	store       *quorum.Store
	controlled  bool                        // a state has been read: flows follow it
	static      bool                        // the file's flows run (no state read yet)
	want        map[topology.Route]bool     // flows the machine started
	running     map[topology.Route]*flowRun // flows running
	roles       roleJournal
	pendingCmd  *commandReq
	// The pending Demote whose stranded records are unsettled, whether
	// this agent's settlement runs, and the owner last seen.
	pendingStranded *machine.Demote
	settling        bool
	strandedOwner   string
	strandedCh      chan settled // a finished settlement

	startErrs map[topology.Route]string // flows that should run and could not start

	mu        sync.Mutex // guards the fields below, read by the API
	snap      api.FailoverStatus
	probes    map[string]health.Probe
	lastProbe map[string]probeResult // the latest probe of each region, Unknown ones included
	ready     Readiness
	current   []Flow // the running flows, for the host's readers
	runs      bool   // Run has started and not returned
	topoSt    api.TopologyStatus
	cpStore   *quorum.Store // the loop's store, for the API's topology requests
}

// probeResult is a Kafka probe's outcome.
type probeResult struct {
	res health.Probe
	err error
}

// Readiness is what the plane knows of whether the region's flows run
// as they should, for the agent's /readyz.
type Readiness struct {
	// Waiting, when set, says why no flow runs yet: the plane has not
	// settled which flows run (no mesh state read within the grace).
	Waiting string
	// Failed are the flows that should run and could not start, each
	// with its error.
	Failed []string
	// Notes say why the flows that run are what they are, when that
	// may surprise: none under the mesh state's roles (a primary, a
	// standby of no primary, a witness), or the topology file's while no
	// mesh state has been read.
	Notes []string
}

// flowRun is a running flow and what stops it.
type flowRun struct {
	flow   topology.Flow
	fl     Flow
	cancel context.CancelFunc
	done   chan struct{}
}

// cpReport is the control-plane goroutine's news for the loop.
type cpReport struct {
	store     *quorum.Store               // set once, when the store opened
	watch     <-chan machine.StateChanged // with store
	topology  *api.TopologyVersion        // a stored topology version newer than any before
	reachable *bool                       // a check's outcome
	state     *machine.StateChanged       // a fresh read after reconnection
}

// commandReq is an operator command waiting for the machine's answer.
type commandReq struct {
	cmd   machine.Command
	reply chan CommandResult
}

// CommandResult is the outcome of an operator command.
type CommandResult struct {
	// Code is the HTTP status: 200 decided, 409 rejected or lost to
	// another proposal, 503 no quorum.
	Code  int
	Error string
	State *api.State
}

// New returns the plane of cfg.Region, talking to host; it does no I/O.
func New(cfg Config, host Host) (*Plane, error) {
	cfg = cfg.withDefaults()
	if cfg.Mesh == nil || host == nil {
		return nil, errors.New("failover plane: no topology or no host")
	}
	mesh := cfg.Mesh
	region, ok := mesh.Region(cfg.Region)
	if !ok {
		return nil, fmt.Errorf("failover plane: %w", mesh.NoRegion(cfg.Region))
	}
	met, err := newMetrics(cfg.Registry, cfg.Region)
	if err != nil {
		return nil, fmt.Errorf("failover plane of region %s: metrics: %w", cfg.Region, err)
	}
	cfg.Control.Errors = met
	if cfg.Control.Logger == nil {
		cfg.Control.Logger = cfg.Logger
	}
	p := &Plane{
		cfg:        cfg,
		host:       host,
		log:        cfg.Logger,
		met:        met,
		det:        mesh.Failover.Detection,
		region:     region,
		viewsCh:    make(chan []machine.View, 64),
		cpCh:       make(chan cpReport, 16),
		cmdCh:      make(chan commandReq),
		strandedCh: make(chan settled, 1),
		staticC:    make(chan struct{}),
		probers:    map[string]*health.Prober{},
		m:          machine.New(machine.Config{Mesh: mesh, Region: cfg.Region}),
		trackers:   map[string]*health.Tracker{},
		want:       map[topology.Route]bool{},
		running:    map[topology.Route]*flowRun{},
		startErrs:  map[topology.Route]string{},
		probes:     map[string]health.Probe{},
		lastProbe:  map[string]probeResult{},
	}
	for _, f := range topology.Plan(mesh) {
		if f.Target == cfg.Region {
			p.flows = append(p.flows, f)
		}
	}
	for _, r := range mesh.Regions {
		p.trackers[r.Name] = health.NewTracker(r.Name, health.Config{Witness: r.Witness, DownAfter: p.det.DownAfter})
		if r.Kafka != nil {
			p.probers[r.Name] = health.NewProber(r.Name, r.Kafka, min(time.Second, p.det.KafkaProbeInterval))
		}
	}
	p.mesh.Store(mesh)
	p.topoSt = api.TopologyStatus{Source: "file"}
	if cfg.Source != nil {
		p.topoSt.SHA256 = api.Digest(cfg.Source)
	}
	p.snap = api.FailoverStatus{Mesh: mesh.Name, Region: cfg.Region, Agent: cfg.Agent, ControlPlane: api.ControlConnecting,
		Views: []api.RegionView{}, Flows: []api.FlowLag{}, Events: []api.Event{}}
	p.ready = p.readiness()
	return p, nil
}

// Run runs the loop, the control-plane goroutine and the probers until
// ctx ends, then stops the flows and waits for every goroutine it
// started. It is called once.
func (p *Plane) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.runs || p.snap.ControlPlane == api.ControlStopped {
		p.mu.Unlock()
		return errors.New("failover plane: Run called twice")
	}
	p.runs = true
	p.mu.Unlock()
	defer func() {
		p.wg.Wait()
		p.mu.Lock()
		p.runs, p.snap.ControlPlane = false, api.ControlStopped
		p.mu.Unlock()
	}()
	for region, pr := range p.probers {
		p.goRun(ctx, "kafka probe "+region, func(ctx context.Context) error {
			defer pr.Close()
			pr.Run(ctx, p.det.KafkaProbeInterval, func(res health.Probe, err error) {
				p.mu.Lock()
				defer p.mu.Unlock()
				p.lastProbe[region] = probeResult{res, err}
				if res != health.ProbeUnknown {
					p.probes[region] = res
				}
			})
			return nil
		})
	}
	p.goRun(ctx, "control plane", p.controlPlane)
	return p.loop(ctx)
}

// goRun runs fn in a goroutine that Run waits for.
func (p *Plane) goRun(ctx context.Context, what string, fn func(context.Context) error) {
	p.wg.Go(func() {
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("stopped with an error", "what", what, "err", err)
		}
	})
}

// controlPlane brings up the node and the store, then checks the
// majority every probe interval until ctx ends.
func (p *Plane) controlPlane(ctx context.Context) error {
	var node *quorum.Node
	defer func() {
		if node != nil {
			_ = node.Close()
		}
	}()
	refused := false
	for node == nil {
		n := quorum.NewNode(p.cfg.Control)
		err := n.Start(ctx)
		if err == nil {
			node = n
			break
		}
		_ = n.Close()
		if !refused {
			refused = true
			close(p.staticC)
			p.log.Warn("control plane unreachable: replicating the topology file's flows, deciding nothing until it answers", "err", err)
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
		case p.viewsCh <- vs:
		default: // views are refreshed every interval; a full queue drops a batch
		}
	})
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	defer stopViews()
	stopEvents, err := store.SubscribeEvents(p.noteEvent)
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
	topoWatch, err := store.WatchTopology(ctx)
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	first, ok := p.confirmedState(ctx, store)
	if !ok {
		return nil
	}
	// The flows of the first state start with the stored topology, not
	// with an older file the agent was started from.
	rep := cpReport{store: store, watch: watch, state: &first}
	if tv, ok, err := store.LatestTopology(ctx); err == nil && ok {
		rep.topology = &tv
	}
	if !p.send(ctx, rep) {
		return nil
	}
	// The leader's questions wait up to the store's timeout each; asked
	// between checks they would delay the next check, and so the notice
	// of a lost majority that FenceAfter counts from.
	var lead sync.WaitGroup
	leadCtx, stopLead := context.WithCancel(ctx)
	lead.Go(func() { p.keepLead(leadCtx, store) })
	defer lead.Wait()
	defer stopLead()
	t := time.NewTicker(p.det.KafkaProbeInterval)
	defer t.Stop()
	reachable := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case tv, ok := <-topoWatch:
			if !ok {
				topoWatch = nil
			} else if !p.send(ctx, cpReport{topology: &tv}) {
				return nil
			}
			continue
		case <-t.C:
		}
		ok := store.Check(ctx) == nil
		if ctx.Err() != nil {
			return nil
		}
		rep := cpReport{reachable: &ok}
		stale := p.reload.Swap(false)
		if ok && (!reachable || stale) {
			// The machine proposes and unfences only after a fresh read.
			st, rev, err := store.Load(ctx)
			if err != nil {
				ok = false
			} else {
				rep.state = &machine.StateChanged{State: st, Revision: rev}
			}
		}
		reachable = ok
		if !p.send(ctx, rep) {
			return nil
		}
	}
}

// keepLead runs leadState and nextTopology every probe interval until
// ctx ends.
func (p *Plane) keepLead(ctx context.Context, store *quorum.Store) {
	t := time.NewTicker(p.det.KafkaProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.leadState(ctx, store)
		p.nextTopology(ctx, store)
	}
}

// nextTopology asks for the topology version after the newest the loop
// has seen and hands it over if there is one: the watch's consumer can
// lag a node that restarted by its heartbeat timeout (seconds), and this
// bounds a new version's arrival to a probe interval or two.
func (p *Plane) nextTopology(ctx context.Context, store *quorum.Store) {
	if tv, ok := store.PeekTopology(ctx, p.topoSeen.Load()+1); ok {
		p.send(ctx, cpReport{topology: &tv})
	}
}

// leadState notes which node leads the mesh state's stream, and keeps it
// in this region while the region holds the single writer role (primary,
// hub): see quorum.Store.LeadFrom.
func (p *Plane) leadState(ctx context.Context, store *quorum.Store) {
	leader, behind := store.Replicas(ctx)
	p.mu.Lock()
	p.snap.StateLeader, p.snap.StateBehind = leader, behind
	p.mu.Unlock()
	st := p.Status()
	if st.Fenced || (st.Role != api.RolePrimary && st.Role != api.RoleHub) {
		return
	}
	ours := make([]string, 0, len(p.region.Agents))
	for _, ag := range p.region.Agents {
		ours = append(ours, ag.ID)
	}
	// A failure is logged and counted by the node (quorum.OpLead).
	if moved, err := store.LeadFrom(ctx, leader, ours); err == nil && moved {
		p.log.Info("control plane: state leader moved into this region", "role", st.Role)
	}
}

// confirmedState checks the majority (a write) and then loads the state,
// every probe interval until both succeed or ctx ends.
func (p *Plane) confirmedState(ctx context.Context, store *quorum.Store) (machine.StateChanged, bool) {
	for {
		if store.Check(ctx) == nil {
			if st, rev, err := store.Load(ctx); err == nil {
				return machine.StateChanged{State: st, Revision: rev}, true
			}
		}
		select {
		case <-ctx.Done():
			return machine.StateChanged{}, false
		case <-time.After(p.det.KafkaProbeInterval):
		}
	}
}

func (p *Plane) send(ctx context.Context, r cpReport) bool {
	select {
	case p.cpCh <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

// noteEvent keeps a decision announced by any agent for /v1/failover; it
// runs on the NATS subscription's goroutine.
func (p *Plane) noteEvent(ev api.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.snap.Events {
		if e.Epoch == ev.Epoch && e.Kind == ev.Kind {
			return
		}
	}
	p.snap.Events = append(p.snap.Events, ev)
	if len(p.snap.Events) > maxRecentEvents {
		p.snap.Events = p.snap.Events[len(p.snap.Events)-maxRecentEvents:]
	}
}

// loop owns the machine: ticks, views, state, control-plane reports and
// operator commands go in, actions come out and are carried out here.
func (p *Plane) loop(ctx context.Context) error {
	defer p.stopFlows()
	tick := time.NewTicker(defaultTickInterval)
	defer tick.Stop()
	probe := time.NewTicker(p.det.KafkaProbeInterval)
	defer probe.Stop()
	grace := time.NewTimer(p.cfg.ControlPlaneGrace)
	defer grace.Stop()
	// Said at once, so that an operator who sees no copying yet knows why.
	p.log.Info("waiting for the mesh state before copying: this region may have lost its role while the agent was down",
		"at_most", p.cfg.ControlPlaneGrace, "then", "the topology file's flows, deciding nothing until a majority answers")
	var watch <-chan machine.StateChanged
	staticC := p.staticC
	for {
		select {
		case <-ctx.Done():
			if p.pendingCmd != nil {
				p.pendingCmd.reply <- CommandResult{Code: 503, Error: "agent stopping"}
			}
			return nil
		case now := <-tick.C:
			p.step(ctx, machine.Tick{Now: now})
			if acts := p.pollStranded(ctx); len(acts) > 0 {
				p.run(ctx, acts)
			}
			p.feedLag(ctx)
		case now := <-probe.C:
			p.observe(ctx, now)
		case <-grace.C:
			p.startStatic(ctx, "no mesh state read within "+p.cfg.ControlPlaneGrace.String())
		case <-staticC:
			staticC = nil
			p.startStatic(ctx, "control plane refused the connection")
		case vs := <-p.viewsCh:
			for _, v := range vs {
				p.step(ctx, v)
			}
		case sc, ok := <-watch:
			if !ok {
				watch = nil
				continue
			}
			p.step(ctx, sc)
		case r := <-p.cpCh:
			if r.store != nil {
				p.store, watch = r.store, r.watch
				p.mu.Lock()
				p.cpStore = r.store
				p.mu.Unlock()
			}
			if r.topology != nil {
				p.adopt(ctx, *r.topology, r.store != nil)
			}
			if r.state != nil {
				p.step(ctx, *r.state)
			}
			if r.reachable != nil {
				p.step(ctx, machine.ControlPlane{Reachable: *r.reachable})
			}
		case req := <-p.cmdCh:
			p.command(ctx, req)
		case res := <-p.strandedCh:
			p.strandedDone(ctx, res)
		}
	}
}

// command feeds an operator command; the answer comes from the actions:
// a Rejected, or a Propose and its result.
func (p *Plane) command(ctx context.Context, req commandReq) {
	if p.pendingCmd != nil {
		req.reply <- CommandResult{Code: 409, Error: "another operator command is being decided; retry"}
		return
	}
	p.pendingCmd = &req
	p.step(ctx, req.cmd)
	if p.pendingCmd != nil {
		// Neither rejected nor proposed: nothing to do.
		p.pendingCmd = nil
		req.reply <- CommandResult{Code: 409, Error: "the machine made no decision on this command"}
	}
}

func (p *Plane) answer(r CommandResult) {
	if p.pendingCmd != nil {
		p.pendingCmd.reply <- r
		p.pendingCmd = nil
	}
}

// step feeds one input and carries out the actions, including those of
// the proposal results it feeds back.
func (p *Plane) step(ctx context.Context, in machine.Input) {
	queue := p.m.Step(in)
	if sc, ok := in.(machine.StateChanged); ok && sc.State != nil && !p.controlled {
		// From now on the flows are the machine's; the file's flows that
		// it does not start are stopped at the end of this step.
		p.controlled = true
	}
	p.run(ctx, queue)
}

// run carries out actions, those of the inputs they feed back included,
// then brings the flows and the snapshot in line.
func (p *Plane) run(ctx context.Context, queue []machine.Action) {
	for len(queue) > 0 {
		act := queue[0]
		queue = queue[1:]
		queue = append(queue, p.do(ctx, act)...)
	}
	p.syncFlows(ctx)
	p.settleRole()
	p.refresh()
}

// settleRole brings the metrics, the copies' write grants and the fence
// in line with the machine's status once a step's actions are done.
func (p *Plane) settleRole() {
	st := p.m.Status()
	if _, changed := p.roles.roleChange(st, p.cfg.Region); changed {
		// Promotions, demotions and fences made their transition in
		// order as actions; an evacuation, a return from one or a new
		// epoch that keeps this region's role has no action of its own,
		// and the writer set, the role and the epoch still changed.
		p.transition()
	}
	p.journalRole(st)
	p.host.ApplyFence(st)
}

// do carries out one action and returns the actions of any input it fed
// back.
func (p *Plane) do(ctx context.Context, act machine.Action) []machine.Action {
	log := p.log
	switch act := act.(type) {
	case machine.Propose:
		log.Info("proposing", "decision", act.State.Decision, "epoch", act.State.Epoch, "state", act.State.String(), "reason", act.State.Reason)
		if p.store == nil {
			return p.m.Step(machine.ProposalResult{NoQuorum: true})
		}
		res := p.store.Propose(ctx, act)
		switch {
		case res.OK:
			st := act.State
			p.answer(CommandResult{Code: 200, State: &st})
		case res.NoQuorum:
			p.answer(CommandResult{Code: 503, Error: "no control-plane quorum reachable from region " + p.cfg.Region})
		default:
			p.answer(CommandResult{Code: 409, Error: "another decision came first", State: res.Current})
		}
		return p.m.Step(res)
	case machine.Rejected:
		p.answer(CommandResult{Code: 409, Error: act.Reason})
	case machine.Reload:
		p.reload.Store(true)
	case machine.Fence:
		log.Warn("fenced: acting in no writer role", "epoch", act.Epoch, "reason", act.Reason)
		p.met.fenced.Set(1)
		p.transition()
	case machine.Unfence:
		log.Info("unfenced", "epoch", act.Epoch)
		p.met.fenced.Set(0)
		p.transition()
	case machine.Promote:
		log.Log(ctx, p.transitionLevel(act.Role), "promoted", "epoch", act.Epoch, "role", act.Role)
		p.transition()
	case machine.Demote:
		log.Log(ctx, p.transitionLevel(act.Role), "demoted", "epoch", act.Epoch, "role", act.Role, "stranded_policy", act.Stranded)
		p.transition()
		if act.Role == api.RoleFenced {
			// It rejoins as a standby once its stranded records are
			// settled (StrandedDone, fed by the loop).
			return p.settleStranded(ctx, act)
		}
	case machine.StartReplication:
		p.want[topology.Route{Source: act.Source, Target: act.Target}] = true
	case machine.StopReplication:
		route := topology.Route{Source: act.Source, Target: act.Target}
		delete(p.want, route)
		// At once, in order: copies of the old primary's records must stop
		// before this region takes writes.
		p.stopFlow(route)
	case machine.MoveClients, machine.PauseProducers, machine.ResumeProducers:
		// Clients follow the state and the events themselves.
		log.Info("clients", "action", act.String())
	case machine.Alert:
		log.Warn("failover alert", "key", act.Key, "msg", act.Message)
		p.mu.Lock()
		p.snap.Alerts = append(p.snap.Alerts, act.Message)
		if len(p.snap.Alerts) > maxRecentEvents {
			p.snap.Alerts = p.snap.Alerts[1:]
		}
		p.mu.Unlock()
	case machine.Publish:
		p.noteEvent(act.Event)
		if p.store != nil && ctx.Err() == nil {
			// A failure is logged and counted by the node (quorum.OpPublish);
			// once ctx has ended the node is closing, and that is none.
			_ = p.store.PublishEvent(act.Event)
		}
	case machine.RunHooks:
		p.runHooks(ctx, act.Event)
	}
	return nil
}

// transitionLevel is the log level of a promotion or demotion to role:
// a warning after an unplanned failover (a region was lost, or this one
// was cut off and fenced), information when the roles come from the file
// or a planned switch, as on every healthy start.
func (p *Plane) transitionLevel(role api.Role) slog.Level {
	if st := p.m.Status().State; role == api.RoleFenced || (st != nil && st.Decision == api.DecisionFailover) {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// transition records a role, epoch or fence change in the metrics.
func (p *Plane) transition() {
	st := p.m.Status()
	fm := p.met
	fm.lastTransition.Set(float64(time.Now().UnixNano()) / 1e9)
	if st.State == nil {
		return
	}
	fm.epoch.Set(float64(st.State.Epoch))
	fm.role.Reset()
	fm.role.WithLabelValues(p.cfg.Region, string(st.State.Role(p.cfg.Region))).Set(1)
	p.grantWrites(st)
}

// grantWrites tells the host which regions take the applications'
// writes now: the state's writers, this region left out while it is
// fenced, whatever the state says.
func (p *Plane) grantWrites(st machine.Status) {
	self := p.cfg.Region
	p.host.GrantWrites(slices.DeleteFunc(st.State.Writers(p.topo().Kind), func(r string) bool { return st.Fenced && r == self }))
}

// observe turns the evidence about every region into this agent's views,
// feeds them to the machine and shares them.
func (p *Plane) observe(ctx context.Context, now time.Time) {
	alive := p.host.AgentsAlive()
	p.mu.Lock()
	probes := maps.Clone(p.probes)
	p.mu.Unlock()
	var views []machine.View
	var rv []api.RegionView
	for _, r := range p.topo().Regions {
		e := health.Evidence{At: now, AgentsAlive: alive[r.Name], Kafka: probes[r.Name]}
		if r.Name != p.cfg.Region {
			e.HeartbeatAge, e.HeartbeatKnown = p.host.HeartbeatAge(r.Name, now)
		}
		t := p.trackers[r.Name]
		was, _ := t.Verdict()
		v := t.Observe(e)
		_, why := t.Verdict()
		if v != was {
			p.log.Info("region verdict", "of", r.Name, "was", was, "now", v, "reason", why,
				"agents_alive", e.AgentsAlive, "kafka", e.Kafka, "heartbeat_age", e.HeartbeatAge.Round(time.Millisecond), "heartbeat_known", e.HeartbeatKnown)
		}
		p.met.setVerdict(r.Name, v)
		views = append(views, machine.View{Observer: p.cfg.Region, Region: r.Name, Verdict: v, At: now})
		rv = append(rv, api.RegionView{Region: r.Name, Verdict: v, Reason: why})
	}
	p.mu.Lock()
	p.snap.Views = rv
	p.mu.Unlock()
	for _, v := range views {
		p.step(ctx, v)
	}
	if p.store != nil && ctx.Err() == nil {
		// A failure is logged and counted by the node (quorum.OpPublish);
		// once ctx has ended the node is closing, and that is none.
		_ = p.store.PublishViews(views)
	}
}

// feedLag reports the lag of the flows into this region, which a planned
// switch waits to drain. CaughtUpTo is the source time of the newest
// heartbeat copied: it proves a copy newer than the producers' pause.
func (p *Plane) feedLag(ctx context.Context) {
	now := time.Now()
	var lags []api.FlowLag
	for _, route := range slices.SortedFunc(maps.Keys(p.running), topology.CompareRoutes) {
		lag, trusted := p.running[route].fl.Lag()
		lags = append(lags, api.FlowLag{Source: route.Source, Target: route.Target, Lag: lag})
		in := machine.Lag{Source: route.Source, Target: route.Target, Records: lag}
		if age, ok := p.host.HeartbeatAge(route.Source, now); ok {
			in.CaughtUpTo = now.Add(-age)
		}
		if !trusted {
			continue // a flow that cannot read its source has no lag to trust
		}
		p.step(ctx, in)
	}
	p.mu.Lock()
	p.snap.Flows = append([]api.FlowLag{}, lags...)
	p.mu.Unlock()
}

// startStatic runs the topology file's flows while no state is known.
func (p *Plane) startStatic(ctx context.Context, why string) {
	if p.controlled || p.static {
		return
	}
	p.static = true
	p.log.Info("starting the topology file's flows before the control plane answers", "why", why)
	p.syncFlows(ctx)
	p.refresh()
}

// wantedFlows are the flows into this region that should run now.
func (p *Plane) wantedFlows() map[topology.Route]topology.Flow {
	out := map[topology.Route]topology.Flow{}
	switch {
	case p.controlled:
		st := p.m.Status().State
		if st == nil {
			return out
		}
		for _, f := range topology.PlanFor(p.topo(), st.Roles(p.topo())) {
			if f.Target == p.cfg.Region && p.want[f.Route()] {
				out[f.Route()] = f
			}
		}
		for route := range p.want {
			if _, ok := out[route]; !ok {
				p.log.Warn("the machine started a flow the plan of the current roles does not have", "source", route.Source, "target", route.Target)
			}
		}
	case p.static:
		for _, f := range p.flows {
			out[f.Route()] = f
		}
	}
	return out
}

// syncFlows starts the wanted flows that are not running and stops the
// others.
func (p *Plane) syncFlows(ctx context.Context) {
	want := p.wantedFlows()
	for route := range p.running {
		if _, ok := want[route]; !ok {
			p.stopFlow(route)
		}
	}
	changed := false
	for _, route := range slices.SortedFunc(maps.Keys(want), topology.CompareRoutes) {
		if _, ok := p.running[route]; ok {
			continue
		}
		if err := p.startFlow(ctx, want[route]); err != nil {
			if p.startErrs[route] != err.Error() {
				p.log.Error("starting a flow failed", "source", route.Source, "target", route.Target, "err", err)
			}
			p.startErrs[route] = err.Error()
			continue
		}
		delete(p.startErrs, route)
		changed = true
	}
	for route := range p.startErrs {
		if _, ok := want[route]; !ok {
			delete(p.startErrs, route)
		}
	}
	if changed {
		p.publishFlows()
	}
}

func (p *Plane) startFlow(ctx context.Context, f topology.Flow) error {
	fl, err := p.host.NewFlow(f)
	if err != nil {
		return err
	}
	fctx, cancel := context.WithCancel(ctx)
	r := &flowRun{flow: f, fl: fl, cancel: cancel, done: make(chan struct{})}
	p.running[f.Route()] = r
	p.wg.Go(func() {
		defer close(r.done)
		if err := fl.Run(fctx); err != nil && fctx.Err() == nil {
			p.log.Error("flow stopped with an error", "source", f.Source, "target", f.Target, "err", err)
		}
	})
	p.log.Info("flow started", "source", f.Source, "target", f.Target, "kind", f.Kind)
	return nil
}

// stopFlow stops a running flow and waits for its shards to end their
// transactions, at most StopTimeout.
func (p *Plane) stopFlow(route topology.Route) {
	r, ok := p.running[route]
	if !ok {
		return
	}
	delete(p.running, route)
	r.cancel()
	t := time.NewTimer(p.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
		p.log.Warn("flow did not stop in time; its shards are fenced by the next owner", "source", route.Source, "target", route.Target)
	}
	p.publishFlows()
	p.log.Info("flow stopped", "source", route.Source, "target", route.Target)
}

func (p *Plane) stopFlows() {
	for route := range p.running {
		p.stopFlow(route)
	}
}

// publishFlows hands the running flows to Flows' callers.
func (p *Plane) publishFlows() {
	fs := make([]Flow, 0, len(p.running))
	for _, route := range slices.SortedFunc(maps.Keys(p.running), topology.CompareRoutes) {
		fs = append(fs, p.running[route].fl)
	}
	p.mu.Lock()
	p.current = fs
	p.mu.Unlock()
}

// Flows returns the flows running now, ordered by route: the host's
// status, health and readiness read them.
func (p *Plane) Flows() []Flow {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current
}

// Readiness says whether the region's flows run as they should; the
// host's /readyz reads it.
func (p *Plane) Readiness() Readiness {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.ready
	r.Failed, r.Notes = slices.Clone(r.Failed), slices.Clone(r.Notes)
	return r
}

// KafkaProbe is the latest probe of region's cluster, every
// kafka_probe_interval: ProbeFailed with the reason, ProbeOK, or
// ProbeUnknown before the first probe ended (err nil) or when the probe
// cannot be made (err says why: bad TLS or SASL settings).
func (p *Plane) KafkaProbe(region string) (health.Probe, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.lastProbe[region]
	return r.res, r.err
}

// refresh copies the machine's state into the snapshot the API reads.
func (p *Plane) refresh() {
	st := p.m.Status()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.snap.State, p.snap.Revision, p.snap.Fenced = st.State, st.Revision, st.Fenced
	switch {
	case p.store == nil:
		p.snap.ControlPlane = api.ControlConnecting
	case st.Reachable:
		p.snap.ControlPlane = api.ControlReachable
	default:
		p.snap.ControlPlane = api.ControlUnreachable
	}
	if st.State != nil {
		p.snap.Role, p.snap.Epoch = st.State.Role(p.cfg.Region), st.State.Epoch
	}
	p.ready = p.readiness()
}

// readiness says whether the flows run as they should; the loop calls it
// (refresh), and New before the loop runs.
func (p *Plane) readiness() Readiness {
	var r Readiness
	region := p.cfg.Region
	switch {
	case p.controlled:
		if len(p.running) > 0 || len(p.startErrs) > 0 {
			break
		}
		st := p.m.Status()
		if st.State == nil {
			r.Notes = append(r.Notes, fmt.Sprintf("no flows into %s: the mesh state was deleted", region))
			break
		}
		role := st.State.Role(region)
		why := fmt.Sprintf("its role is %s", role)
		switch {
		case role == api.RoleStandby && len(st.State.Writers(p.topo().Kind)) == 0:
			why = "it is a standby of no primary"
		case role == api.RolePrimary:
			why = "it is the primary"
		}
		if st.Fenced {
			why += ", and fenced"
		}
		r.Notes = append(r.Notes, fmt.Sprintf("no flows into %s under the mesh state of epoch %d: %s", region, st.State.Epoch, why))
	case p.static:
		note := "running the topology file's flows: no mesh state read yet"
		if len(p.flows) == 0 {
			note = fmt.Sprintf("no flows into %s in the topology file, and no mesh state read yet", region)
		}
		r.Notes = append(r.Notes, note)
	default:
		r.Waiting = fmt.Sprintf("waiting for the mesh state before starting the flows into %s (at most %s, then the topology file's)",
			region, p.cfg.ControlPlaneGrace)
	}
	for _, route := range slices.SortedFunc(maps.Keys(p.startErrs), topology.CompareRoutes) {
		r.Failed = append(r.Failed, fmt.Sprintf("flow %s->%s could not start: %s", route.Source, route.Target, p.startErrs[route]))
	}
	return r
}

// Status returns the decision plane as this agent sees it, for
// GET /v1/failover and the status page.
func (p *Plane) Status() api.FailoverStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.snap
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

// ErrNotRunning: the plane's loop is not running (before Run, after it
// returned).
var ErrNotRunning = errors.New("the failover plane is not running")

// Command hands an operator command to the machine and waits for its
// answer: the decided state, or why not.
func (p *Plane) Command(ctx context.Context, c machine.Command) (CommandResult, error) {
	p.mu.Lock()
	runs := p.runs
	p.mu.Unlock()
	if !runs {
		return CommandResult{}, ErrNotRunning
	}
	req := commandReq{cmd: c, reply: make(chan CommandResult, 1)}
	select {
	case p.cmdCh <- req:
	case <-ctx.Done():
		return CommandResult{}, fmt.Errorf("command %s: %w", c.Kind, ctx.Err())
	}
	select {
	case r := <-req.reply:
		return r, nil
	case <-ctx.Done():
		return CommandResult{}, fmt.Errorf("command %s: %w", c.Kind, ctx.Err())
	}
}
