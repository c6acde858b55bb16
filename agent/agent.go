package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/failover/health"
	"github.com/geomesh/geomesh/failover/membership"
	"github.com/geomesh/geomesh/failover/plane"
	"github.com/geomesh/geomesh/internal/apiserve"
	"github.com/geomesh/geomesh/internal/statedir"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/mirror/acls"
	"github.com/geomesh/geomesh/mirror/heartbeat"
	"github.com/geomesh/geomesh/mirror/offsets"
	"github.com/geomesh/geomesh/topology"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config configures an Agent. Zero values take the defaults named on each
// field; withDefaults applies all of them in one place.
type Config struct {
	// Mesh is the validated topology. Required. The agent runs each
	// newer version stored in the control plane (geomesh apply) instead.
	Mesh *topology.Mesh
	// Source is the topology file's text, for its digest in /v1/status;
	// optional.
	Source []byte

	// Region is the region this agent serves. Required.
	Region string

	// AgentID picks this agent from the region's agents list. Default: the
	// first agent listed.
	AgentID string

	// APIAddr overrides the HTTP listen address of the agent's entry in
	// the topology (tests use 127.0.0.1:0).
	APIAddr string

	// GossipAddr overrides the gossip listen address of the agent's entry.
	GossipAddr string

	// GossipSeeds overrides the addresses the agent joins at start.
	// Default: the gossip addresses of the region's other agents.
	GossipSeeds []string

	// Shards is how many copy shards each flow is split into (default 4).
	// A shard is the unit that moves between the region's agents and the
	// unit of transactions; it costs one source consumer and one target
	// producer. More shards spread a flow over more agents and more
	// parallel transactions; every agent of a region must use the same
	// number, since it decides which transactional ids exist.
	Shards int

	// ReconcileInterval is how often each flow re-reads the source's
	// topics and the region's membership to start, resize or stop shards
	// (default 1s). Membership changes trigger a pass at once.
	ReconcileInterval time.Duration

	// CommitInterval is passed to every shard (default: mirror's, 100ms).
	CommitInterval time.Duration

	// OffsetSyncInterval is how often the translated offsets of idle
	// groups are committed on this region's cluster (default 1s;
	// MirrorMaker 2 syncs every 60 s). See offsets.SyncConfig.
	OffsetSyncInterval time.Duration

	// StopTimeout bounds Close (default 8s, inside the 10 s a rolling
	// restart allows).
	StopTimeout time.Duration

	// Logger receives the agent's logs. Default: slog.Default().
	Logger *slog.Logger

	// HealthInterval is how often the region's cluster health is read
	// through the admin API (default 10s); see broker/health.
	HealthInterval time.Duration

	// GroupStatusWindow is how many health passes a consumer group's
	// status looks back over (default 10: STALLED after 100 s without
	// progress at the default interval).
	GroupStatusWindow int

	// PartitionLagMetrics adds geomesh_mirror_partition_lag_records and
	// geomesh_mirror_partition_rpo_seconds, a series each per copied
	// partition. Off by default: a mesh copying thousands of partitions
	// would multiply Prometheus's series.
	PartitionLagMetrics bool

	// ControlDir is the mesh's control-plane state directory
	// (control_plane.state_dir): the agent's embedded node keeps its
	// JetStream data in <ControlDir>/<agent id>, which the agent locks
	// from Start to Close, so that Start fails at once if another agent
	// holds it (statedir.InUseError). Default: the topology file's
	// state_dir. With an embedded control plane one of the two is
	// required: `geomesh agent` defaults it to /var/lib/geomesh/<mesh>,
	// package local to a directory per mesh or per run (internal/statedir
	// holds the defaults). Unused with an external control plane.
	ControlDir string

	// ControlPlaneGrace is how long the agent waits for the mesh state
	// before it replicates the topology file's flows without it (default
	// 10s). An external control plane that refuses the connection starts
	// them at once. See package failover/plane.
	ControlPlaneGrace time.Duration

	// Registry receives the agent's metrics and serves /metrics.
	// Default: a new registry per agent, so several agents can live in one
	// process (geomesh up, tests).
	Registry *prometheus.Registry
}

const (
	defaultShards            = 4
	defaultReconcileInterval = time.Second
	defaultStopTimeout       = 8 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Shards <= 0 {
		c.Shards = defaultShards
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = defaultReconcileInterval
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
	if c.ControlDir == "" && c.Mesh != nil {
		c.ControlDir = c.Mesh.ControlPlane.StateDir
	}
	return c
}

// Agent runs one region's share of the mesh.
type Agent struct {
	cfg Config
	// mesh is the topology the agent runs: cfg.Mesh, then each stored
	// version the failover plane adopts (Reconfigure).
	mesh   atomic.Pointer[topology.Mesh]
	region *topology.Region
	self   topology.Agent
	flows  []topology.Flow
	// inbound: some flow into the region may run, the file's or one a
	// failover starts (topology.Inbound).
	inbound bool
	log     *slog.Logger
	met     *metrics

	mu          sync.Mutex
	started     bool
	closed      bool
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	api         *apiserve.Server
	members     *membership.Membership
	clients     map[string]*kgo.Client
	translation translation
	beats       *heartbeat.Writer
	health      *healthState
	plane       *plane.Plane
	fence       *acls.Fencer     // nil unless active-passive with a cluster
	gate        *acls.Gate       // with fence
	stateLock   *statedir.Locked // the node directory, embedded control plane only
	closeErr    error
}

// New checks the configuration; it does no I/O.
func New(cfg Config) (*Agent, error) {
	cfg = cfg.withDefaults()
	if cfg.Mesh == nil {
		return nil, errors.New("agent: no topology")
	}
	r, ok := cfg.Mesh.Region(cfg.Region)
	if !ok {
		return nil, fmt.Errorf("agent: %w", cfg.Mesh.NoRegion(cfg.Region))
	}
	self, err := pickAgent(r, cfg.AgentID)
	if err != nil {
		return nil, err
	}
	if cfg.Mesh.ControlPlane.Embedded && cfg.ControlDir == "" {
		return nil, fmt.Errorf("agent %s: no control-plane state directory: set control_plane.state_dir in the topology or Config.ControlDir", self.ID)
	}
	if cfg.APIAddr != "" {
		self.API = cfg.APIAddr
	}
	if cfg.GossipAddr != "" {
		self.Gossip = cfg.GossipAddr
	}
	var flows []topology.Flow
	for _, f := range topology.Plan(cfg.Mesh) {
		if f.Target == r.Name {
			flows = append(flows, f)
		}
	}
	a := &Agent{
		cfg:     cfg,
		region:  r,
		self:    self,
		flows:   flows,
		inbound: len(topology.Inbound(cfg.Mesh, r.Name)) > 0,
		log:     cfg.Logger.With("region", r.Name, "agent", self.ID),
		clients: map[string]*kgo.Client{},
	}
	a.mesh.Store(cfg.Mesh)
	return a, nil
}

// topo is the topology the agent runs now.
func (a *Agent) topo() *topology.Mesh { return a.mesh.Load() }

func pickAgent(r *topology.Region, id string) (topology.Agent, error) {
	if id == "" {
		return r.Agents[0], nil
	}
	var ids []string
	for _, a := range r.Agents {
		if a.ID == id {
			return a, nil
		}
		ids = append(ids, a.ID)
	}
	return topology.Agent{}, fmt.Errorf("agent: region %s has no agent %q (agents: %v)", r.Name, id, ids)
}

// ID is the agent's id.
func (a *Agent) ID() string { return a.self.ID }

// Region is the region the agent serves.
func (a *Agent) Region() string { return a.region.Name }

// APIAddr is the address the HTTP API listens on; empty before Start.
func (a *Agent) APIAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.api == nil {
		return ""
	}
	return a.api.Addr()
}

// Running reports whether the agent has started and is not closed.
func (a *Agent) Running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.started && !a.closed
}

// Start serves the API, joins the region's agents and starts the flows.
// The goroutines it starts run until Close or until ctx ends.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started || a.closed {
		return errors.New("agent: Start called twice or after Close")
	}
	a.started = true
	// First: an agent that would share its node's store with another
	// must not listen, gossip or copy at all.
	if a.topo().ControlPlane.Embedded {
		lock, err := statedir.Lock(a.nodeDir())
		if err != nil {
			return fmt.Errorf("agent %s: %w", a.self.ID, err)
		}
		a.stateLock = lock
	}
	for _, w := range a.topo().Insecure() {
		a.log.Warn("insecure setting allowed by the topology's allow_insecure", "setting", w)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel

	met, err := newMetrics(a.cfg.Registry)
	if err != nil {
		return fmt.Errorf("agent %s: metrics: %w", a.self.ID, err)
	}
	a.met = met

	auth, err := apiserve.NewAuthenticator(a.topo().API, a.cfg.Registry)
	if err != nil {
		return fmt.Errorf("agent %s: metrics: %w", a.self.ID, err)
	}
	tc, err := apiserve.TLSConfig(a.topo().API.TLS)
	if err != nil {
		return fmt.Errorf("agent %s: %w", a.self.ID, err)
	}
	lim := apiserve.DefaultLimits()
	api, err := apiserve.Start(a.self.API, auth.Wrap(apiserve.Admit(a.handler(a.cfg.Registry), lim)), tc, lim, auth.Shed())
	if err != nil {
		return fmt.Errorf("agent %s: %w", a.self.ID, err)
	}
	a.api = api

	keys, err := membership.Keys(a.topo().Gossip)
	if err != nil {
		return fmt.Errorf("agent %s: %w", a.self.ID, err)
	}
	a.members = membership.New(membership.Config{
		SecretKeys: keys,
		AgentID:    a.self.ID,
		Region:     a.region.Name,
		APIAddr:    api.Addr(),
		BindAddr:   a.self.Gossip,
		Seeds:      a.seeds(),
		Logger:     a.log,
		// One pool across all regions: its verdict that every agent of a
		// region is gone is half the evidence of a region's death.
		Timing: membership.WANFrom(a.topo().Failover.Detection),
		// One round through the seeds, no waiting: the seeds include
		// other regions' agents, and a region that is down must not hold
		// this agent's start (replication) back. While alone, the agent
		// retries every second, so the pool forms as agents come up.
		JoinTimeout:    time.Millisecond,
		RejoinInterval: time.Second,
	})
	if err := a.members.Start(ctx); err != nil {
		return fmt.Errorf("agent %s: gossip: %w", a.self.ID, err)
	}

	if a.region.Kafka != nil {
		local, err := a.client(a.region)
		if err != nil {
			return err
		}
		a.beats = heartbeat.NewWriter(heartbeat.WriterConfig{
			Client: local, Region: a.region.Name, AgentID: a.self.ID, Logger: a.log,
		})
		a.goRun(runCtx, "heartbeat", a.beats.Run)
	}
	if err := a.startTranslation(runCtx); err != nil {
		return err
	}
	if err := a.startHealth(runCtx); err != nil {
		return err
	}
	if err := a.startFence(runCtx); err != nil {
		return fmt.Errorf("agent %s: acl fence: %w", a.self.ID, err)
	}
	// The failover plane starts the flows: those of the mesh state's
	// roles, or the file's while the control plane does not answer.
	p, err := a.newPlane()
	if err != nil {
		return fmt.Errorf("agent %s: %w", a.self.ID, err)
	}
	a.plane = p
	a.goRun(runCtx, "failover plane", p.Run)
	if a.stateLock != nil {
		a.log.Info("agent started", "api", api.Addr(), "flows", len(a.flows), "state_dir", a.nodeDir())
	} else {
		a.log.Info("agent started", "api", api.Addr(), "flows", len(a.flows))
	}
	// Stop with the caller's context as well as with Close.
	context.AfterFunc(ctx, func() { a.cancel() })
	return nil
}

// seeds are the gossip addresses of every other agent of the mesh, in
// all regions: the pool is cross-region, and shard assignment filters its
// members by region (regionMembers).
func (a *Agent) seeds() []string {
	if a.cfg.GossipSeeds != nil {
		return a.cfg.GossipSeeds
	}
	var out []string
	for _, r := range a.topo().Regions {
		for _, ag := range r.Agents {
			if !(r.Name == a.region.Name && ag.ID == a.self.ID) {
				out = append(out, ag.Gossip)
			}
		}
	}
	return out
}

func (a *Agent) goRun(ctx context.Context, what string, fn func(context.Context) error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("stopped with an error", "what", what, "err", err)
		}
	}()
}

// client returns the agent's shared admin/producer client of a region's
// cluster. Callers hold a.mu.
func (a *Agent) client(r *topology.Region) (*kgo.Client, error) {
	if cl, ok := a.clients[r.Name]; ok {
		return cl, nil
	}
	// Flows list topics every ReconcileInterval; kgo would otherwise answer
	// from metadata up to 5 s old and see new topics and partitions late.
	cl, err := broker.NewClient(r.Name, r.Kafka, kgo.MetadataMinAge(min(a.cfg.ReconcileInterval, time.Second)))
	if err != nil {
		return nil, err
	}
	a.clients[r.Name] = cl
	return cl, nil
}

// regionMembers lists the agent ids of this region's live agents.
func (a *Agent) regionMembers() []string {
	var ids []string
	for _, m := range a.members.Members() {
		if m.Region == a.region.Name {
			ids = append(ids, m.AgentID)
		}
	}
	if len(ids) == 0 {
		ids = []string{a.self.ID}
	}
	sort.Strings(ids)
	return ids
}

// Close stops the flows (each shard finishes or aborts its transaction),
// leaves the gossip pool so that peers take the shards over at once, and
// stops the API. It is idempotent; later calls return the first result.
func (a *Agent) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return a.closeErr
	}
	a.closed = true
	a.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.StopTimeout)
	defer cancel()
	if a.cancel != nil {
		a.cancel()
	}
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	var errs []error
	select {
	case <-done:
		_ = a.stateLock.Unlock()
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("agent %s: flows did not stop within %s", a.self.ID, a.cfg.StopTimeout))
		// The control-plane node may still write its store: the
		// directory stays locked until it has stopped.
		go func() { <-done; _ = a.stateLock.Unlock() }()
	}
	if a.members != nil {
		if err := a.members.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if a.api != nil {
		if err := a.api.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, cl := range a.clients {
		cl.Close()
	}
	a.mu.Lock()
	a.closeErr = errors.Join(errs...)
	a.mu.Unlock()
	a.log.Info("agent stopped")
	return a.closeErr
}

// readiness lists every reason the agent cannot do its job now (none:
// it can), and notes on why it copies less than the file says, when it
// does so by decision: /readyz. Not ready: not running; its own cluster
// (the target of its flows) not answering the failover plane's probe;
// no mesh state read yet within the grace; a flow that could not start;
// a running flow whose last pass failed (a cluster it cannot reach, its
// source and target one cluster), that has not passed yet, whose shards
// fail and wait to retry, or whose source cluster does not answer the
// probe.
func (a *Agent) readiness() (reasons, notes []string) {
	runners := a.flowRunners()
	a.mu.Lock()
	started := a.started && !a.closed
	p := a.plane
	a.mu.Unlock()
	if !started || p == nil {
		return []string{"agent not running"}, nil
	}
	if a.region.Kafka != nil {
		which := "own"
		if a.inbound {
			which = "target"
		}
		switch res, err := p.KafkaProbe(a.region.Name); {
		case res == health.ProbeOK:
		case res == health.ProbeFailed:
			reasons = append(reasons, fmt.Sprintf("%s cluster %s unreachable: %v", which, a.region.Name, err))
		case err != nil:
			reasons = append(reasons, fmt.Sprintf("%s cluster %s cannot be probed: %v", which, a.region.Name, err))
		default:
			reasons = append(reasons, fmt.Sprintf("%s cluster %s not probed yet", which, a.region.Name))
		}
	}
	r := p.Readiness()
	if r.Waiting != "" {
		reasons = append(reasons, r.Waiting)
	}
	reasons = append(reasons, r.Failed...)
	for _, fr := range runners {
		why := fr.notReady()
		if res, err := p.KafkaProbe(fr.flow.Source); len(why) == 0 && res == health.ProbeFailed {
			why = []string{fmt.Sprintf("flow %s->%s: source cluster %s unreachable: %v", fr.flow.Source, fr.flow.Target, fr.flow.Source, err)}
		}
		reasons = append(reasons, why...)
	}
	return reasons, r.Notes
}

// SetWritePrimary tells the agent which region is now primary for the
// mesh's topics. ACL sync then grants applications WRITE on the copies in
// this region only if it is that region, and withdraws the WRITE ACLs it
// granted otherwise. The failover wiring calls it after each decided
// failover or failback; the DENYs that override the operator's own WRITE
// ACLs follow the mesh state separately (fence.go).
func (a *Agent) SetWritePrimary(primary string) {
	for _, fr := range a.flowRunners() {
		fr.acls.SetWritable(fr.flow.Target == primary)
	}
}

// Status is the agent's state for /v1/status.
type Status struct {
	Mesh    string   `json:"mesh"`
	Region  string   `json:"region"`
	Agent   string   `json:"agent"`
	Members []string `json:"members"`
	// Role, Epoch and Fenced are the region's place in the mesh state as
	// the agent last read it (empty and 0 before the first read).
	Role   api.Role     `json:"role"`
	Epoch  uint64       `json:"epoch"`
	Fenced bool         `json:"fenced"`
	Flows  []FlowStatus `json:"flows"`
	// Fence is the region's ACL fence (active-passive only): whether
	// application writes to mirrored topics are denied here, the DENYs
	// geomesh holds and the last pass's error.
	Fence *acls.FenceStatus `json:"fence,omitempty"`
	// OffsetSync is the group offset sync of every flow of the topology
	// file into the region: since when every group is in step, and each
	// group that fails to sync with its error.
	OffsetSync []offsets.SyncStatus `json:"offset_sync"`
	// Topology is the topology version the agent runs.
	Topology api.TopologyStatus `json:"topology"`
}

// Status returns a snapshot; safe to call at any time.
func (a *Agent) Status() Status {
	runners := a.flowRunners()
	a.mu.Lock()
	members := a.members
	fence := a.fence
	p := a.plane
	a.mu.Unlock()
	st := Status{Mesh: a.topo().Name, Region: a.region.Name, Agent: a.self.ID, Flows: []FlowStatus{}, OffsetSync: a.offsetSync()}
	if members != nil {
		st.Members = a.regionMembers()
	}
	now := time.Now()
	for _, fr := range runners {
		st.Flows = append(st.Flows, a.flowStatus(fr, now))
	}
	fs := a.Failover()
	st.Role, st.Epoch, st.Fenced = fs.Role, fs.Epoch, fs.Fenced
	if fence != nil {
		f := fence.Status()
		st.Fence = &f
	}
	st.Topology = api.TopologyStatus{Source: "file"}
	if p != nil {
		st.Topology = p.Topology()
	}
	return st
}

var _ mirror.Metrics = (*flowMetrics)(nil)
