package machine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/health"
	"github.com/geomesh/geomesh/topology"
)

// Config configures a Machine. Zero optional fields take their defaults,
// applied in [Config.withDefaults].
type Config struct {
	// Mesh is the validated topology: kind, original roles, regions,
	// voters, failover mode, stranded policy and detection timings.
	// Required.
	Mesh *topology.Mesh

	// Region is the region of the agent running this machine. Required.
	Region string

	// FenceAfter is how long a region in a writer role (primary, active,
	// hub) keeps acting after it lost the control plane, before it fences
	// itself. The majority waits for it (WriterStops) before it hands the
	// role to another region, so the longer it is, the later a cut-off
	// writer is replaced. Default DownAfter / 2,
	// at least 2s: the control plane is without a leader for 2–3.5s while
	// it elects one (a witness returning from a cut deposes the leader:
	// nats-server's raft has no pre-vote), and with the check's 2s
	// timeout a writer then rides out up to 4s.
	//
	// Losing the control plane is noticed by the caller: the agent asks
	// the majority to confirm a write every KafkaProbeInterval, and a
	// request waits up to the store's timeout (2s) before it counts as
	// failed. So a cut-off primary stops writing within interval + 2s +
	// FenceAfter of the loss; the majority promotes no sooner than the
	// first failed probe + DownAfter. With short timings the majority can
	// be quicker (down_after 2s and probes of 500ms in test/chaos's
	// partitions); WriterStops then holds the promotion back.
	FenceAfter time.Duration

	// WriterStops is how long after the last view a writer region's
	// agents published (View.At, their clock) that region has surely
	// fenced itself if it is cut off: its last confirmed check came at
	// most one interval after that view, it notices the loss within
	// another interval plus the store's timeout, and fences FenceAfter
	// later. No region takes over a writer role sooner, so the old writer
	// stops before the new one starts even when the majority decides
	// quickly. It assumes clocks in step to well within FenceAfter (NTP).
	// Default 2 × KafkaProbeInterval + 2s (the store's timeout) +
	// FenceAfter.
	WriterStops time.Duration

	// ViewTTL is how long a region's view of another counts after it was
	// made. Agents republish their views every KafkaProbeInterval, so a
	// view older than a few intervals comes from a region that is itself
	// cut off or dead, and must not vote. Default 3 × KafkaProbeInterval.
	ViewTTL time.Duration

	// DrainTimeout bounds a planned switch: if replication has not drained
	// within it, the switch is aborted and producers resume where they
	// were. Default 2m.
	DrainTimeout time.Duration

	// PauseGrace is how long after a planned switch started producers may
	// still write to the old region: clients learn of the pause by reading
	// the state (client.Follower polls an agent every 500ms by default,
	// and a poll may wait on a slow agent). A switch counts as drained only
	// when the copy holds a record written at least PauseGrace after the
	// start, so whatever a producer wrote before it paused is replicated
	// before the epoch flips. It should exceed the clients' follow
	// interval plus one request. Default 2s.
	PauseGrace time.Duration
}

const (
	// defaultCheckTimeout is how long the agent's check of the majority
	// waits before it counts as failed (quorum's default timeout).
	defaultCheckTimeout = 2 * time.Second
	minFenceAfter       = 2 * time.Second
	defaultDrainTimeout = 2 * time.Minute
	defaultPauseGrace   = 2 * time.Second
)

func (c Config) withDefaults() Config {
	det := c.Mesh.Failover.Detection
	if c.FenceAfter == 0 {
		c.FenceAfter = max(det.DownAfter/2, minFenceAfter)
	}
	if c.WriterStops == 0 {
		c.WriterStops = 2*det.KafkaProbeInterval + defaultCheckTimeout + c.FenceAfter
	}
	if c.ViewTTL == 0 {
		c.ViewTTL = 3 * det.KafkaProbeInterval
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = defaultDrainTimeout
	}
	if c.PauseGrace == 0 {
		c.PauseGrace = defaultPauseGrace
	}
	return c
}

// Machine is one agent's failover decision logic. It is pure: it does no
// I/O and reads no clock; the caller feeds [Input]s to [Machine.Step] and
// carries out the [Action]s it returns. It is not safe for concurrent
// use: one goroutine owns it.
//
// Every agent of every region runs one. They all see the same state and,
// through the control plane, the same views, so they compute the same
// proposal; the compare-and-set lets exactly one through and the others
// adopt it.
type Machine struct {
	base   Config // as given to New: MeshChanged derives cfg from it again
	cfg    Config
	mesh   *topology.Mesh
	self   string
	voters []string

	now  time.Time
	born time.Time // the first tick: nothing was heard of any region before

	known bool       // a state (or its absence) has been read
	state *api.State // nil: the store holds none yet
	rev   uint64

	// Control plane: reachable, when it was lost, and whether a state has
	// been read since it came back (fresh). No proposal and no unfence
	// without fresh.
	reachable bool
	lostAt    time.Time
	fresh     bool

	pending *Propose
	fenced  bool     // Fence issued and not yet lifted
	acting  api.Role // the role this region acts in, as last applied

	views         map[viewKey]View        // newest view per observer and region
	lags          map[topology.Route]Lag  // newest lag per flow
	flows         map[topology.Route]bool // flows into this region now running
	alerts        map[string]bool         // alert keys raised and not cleared
	settled       bool                    // StrandedDone received while fenced
	strandedCount int64                   // what StrandedDone reported, for the rejoin's reason
}

// viewKey names the view an observer region has of a region.
type viewKey struct{ observer, region string }

// New returns a machine. It does no I/O and never fails: the config is
// validated by package topology before.
func New(base Config) *Machine {
	cfg := base.withDefaults()
	return &Machine{
		base:   base,
		cfg:    cfg,
		mesh:   cfg.Mesh,
		self:   cfg.Region,
		voters: cfg.Mesh.Failover.Quorum.Voters,
		views:  map[viewKey]View{},
		lags:   map[topology.Route]Lag{},
		flows:  map[topology.Route]bool{},
		alerts: map[string]bool{},
	}
}

// Status is a snapshot for the status page and API.
type Status struct {
	State    *api.State // nil before the first read
	Revision uint64
	// Fenced: this agent fenced itself and has not been unfenced.
	Fenced bool
	// Reachable: the control plane answered last time.
	Reachable bool
	// Pending: a proposal awaits its result.
	Pending bool
}

// Status returns a snapshot; the state is a copy.
func (m *Machine) Status() Status {
	st := Status{Revision: m.rev, Fenced: m.fenced, Reachable: m.reachable, Pending: m.pending != nil}
	if m.state != nil {
		c := m.state.Clone()
		st.State = &c
	}
	return st
}

// Step feeds one input and returns the actions it leads to, in order.
func (m *Machine) Step(in Input) []Action {
	var out []Action
	switch in := in.(type) {
	case Tick:
		if in.Now.After(m.now) {
			m.now = in.Now
		}
		if m.born.IsZero() {
			m.born = m.now
		}
	case MeshChanged:
		c := m.base
		c.Mesh = in.Mesh
		m.cfg, m.mesh, m.voters = c.withDefaults(), in.Mesh, in.Mesh.Failover.Quorum.Voters
		out = m.startFlows(m.stopFlows(out))
	case StateChanged:
		m.reachable, m.fresh = true, true
		if in.Revision >= m.rev || !m.known {
			out = m.apply(in.State, in.Revision, out)
		}
	case View:
		k := viewKey{observer: in.Observer, region: in.Region}
		if old, ok := m.views[k]; !ok || !in.At.Before(old.At) {
			m.views[k] = in
		}
	case ProposalResult:
		out = m.result(in, out)
	case ControlPlane:
		if !in.Reachable && m.reachable {
			m.lostAt, m.fresh = m.now, false
		}
		m.reachable = in.Reachable
		if m.reachable && !m.fresh && m.known {
			out = append(out, Reload{})
		}
	case Command:
		out = m.command(in, out)
	case Lag:
		m.lags[topology.Route{Source: in.Source, Target: in.Target}] = in
	case StrandedDone:
		if m.acting == api.RoleFenced {
			m.settled, m.strandedCount = true, in.Count
		}
	}
	return m.evaluate(out)
}

// apply adopts a state read from the control plane and emits what this
// region must do about the difference.
func (m *Machine) apply(s *api.State, rev uint64, out []Action) []Action {
	old := m.state
	m.known, m.rev = true, rev
	if s == nil {
		m.state = nil
		return out
	}
	c := s.Clone()
	m.state = &c
	if old != nil && old.Epoch == c.Epoch {
		return out
	}

	out = m.stopFlows(out)
	newRole := c.Role(m.self)
	if newRole != m.acting {
		switch {
		case newRole == api.RolePrimary || newRole == api.RoleHub:
			out = append(out, Promote{Epoch: c.Epoch, Role: newRole})
		case m.acting == api.RolePrimary || m.acting == api.RoleHub || (m.acting == "" && newRole == api.RoleFenced):
			d := Demote{Epoch: c.Epoch, Role: newRole}
			if newRole == api.RoleFenced {
				// Unplanned: what this region took after its last
				// replicated record is stranded.
				d.Stranded = m.mesh.Failover.Stranded
			}
			out = append(out, d)
		}
		if newRole == api.RoleFenced {
			m.settled = false
		}
		m.acting = newRole
		if m.fenced && !newRole.Writer() {
			// The role the fence protected is gone; Demote says the rest.
			m.fenced = false
		}
	}

	// Clients that moved, for the two regions concerned.
	for _, r := range slices.Sorted(maps.Keys(c.Regions)) {
		var was string
		if old != nil {
			was = old.Regions[r].ClientsTo
		}
		now := c.Regions[r].ClientsTo
		if was == now || (r != m.self && now != m.self && was != m.self) {
			continue
		}
		to := now
		if to == "" {
			to = r
		}
		out = append(out, MoveClients{Epoch: c.Epoch, Region: r, To: to})
	}

	// Producers paused for a planned switch, and resumed after it, by
	// the agents of the region they write to.
	var oldSw *api.Switch
	if old != nil {
		oldSw = old.Switch
	}
	switch {
	case c.Switch != nil && oldSw == nil && c.Switch.From == m.self:
		out = append(out, PauseProducers{Epoch: c.Epoch, Clients: c.Switch.Clients, At: m.self})
	case c.Switch == nil && oldSw != nil:
		at := ""
		switch c.Decision {
		case api.DecisionSwitchover:
			at = oldSw.To
		case api.DecisionSwitchAbort:
			at = oldSw.From
		}
		if at == m.self {
			out = append(out, ResumeProducers{Epoch: c.Epoch, Clients: oldSw.Clients, At: m.self})
		}
	}
	return m.startFlows(out)
}

// result handles the answer to this machine's proposal.
func (m *Machine) result(r ProposalResult, out []Action) []Action {
	p := m.pending
	m.pending = nil
	if p == nil {
		return out
	}
	switch {
	case r.OK:
		out = m.apply(&p.State, r.Revision, out)
		ev := p.State.Event()
		out = append(out, Publish{Event: ev}, RunHooks{Event: ev})
	case r.NoQuorum:
		if m.reachable {
			m.lostAt, m.fresh = m.now, false
		}
		m.reachable = false
	default:
		// Another proposal won: adopt it.
		if r.Revision >= m.rev {
			out = m.apply(r.Current, r.Revision, out)
		}
	}
	return out
}

// evaluate runs after every input: fencing, flows, alerts, proposals.
func (m *Machine) evaluate(out []Action) []Action {
	out = m.fence(out)
	if !m.known {
		return out
	}
	out = m.startFlows(m.stopFlows(out))
	if m.state != nil {
		out = m.alertsFor(out)
	}
	if m.pending != nil || !m.reachable || !m.fresh {
		return out
	}
	if next := m.decide(); next != nil {
		out = m.propose(*next, out)
	}
	return out
}

// fence stops a writer that lost the control plane, and lifts the fence
// once a fresh read says it still holds its role.
func (m *Machine) fence(out []Action) []Action {
	switch {
	case !m.fenced && !m.reachable && m.replaceable() && !m.lostAt.IsZero() &&
		m.now.Sub(m.lostAt) >= m.cfg.FenceAfter:
		m.fenced = true
		reason := fmt.Sprintf("region %s: control plane unreachable for %s, its majority may move role %s elsewhere",
			m.self, m.now.Sub(m.lostAt), m.acting)
		out = append(out, Fence{Epoch: m.epoch(), Reason: reason})
	case m.fenced && m.reachable && m.fresh && m.state != nil && m.state.Role(m.self).Writer():
		m.fenced = false
		out = append(out, Unfence{Epoch: m.epoch()})
	}
	return out
}

// replaceable reports whether this region acts in a writer role that the
// majority could hand to another region: a primary with a standby, an
// active region with another active one, a hub with a standby hub. Only
// such a region must fence itself when cut off; a hub nobody can replace
// keeps serving its spokes.
func (m *Machine) replaceable() bool {
	if m.state == nil || !m.acting.Writer() {
		return false
	}
	var other api.Role
	switch m.acting {
	case api.RolePrimary:
		other = api.RoleStandby
	case api.RoleActive:
		other = api.RoleActive
	case api.RoleHub:
		other = api.RoleStandbyHub
	}
	for r, rs := range m.state.Regions {
		if r != m.self && rs.Role == other {
			return true
		}
	}
	return false
}

func (m *Machine) epoch() uint64 {
	if m.state == nil {
		return 0
	}
	return m.state.Epoch
}

func (m *Machine) propose(next api.State, out []Action) []Action {
	next.Time = m.now
	p := Propose{Revision: m.rev, State: next}
	m.pending = &p
	return append(out, p)
}

// fresh views: how many voters see region with verdict v.
func (m *Machine) seen(region string, v health.Verdict) (n int, who []string) {
	return m.seenAfter(region, v, time.Time{})
}

// seenAfter is seen counting only views taken after t.
func (m *Machine) seenAfter(region string, v health.Verdict, t time.Time) (n int, who []string) {
	for _, voter := range m.voters {
		view, ok := m.views[viewKey{observer: voter, region: region}]
		if !ok || view.Verdict != v || m.now.Sub(view.At) > m.cfg.ViewTTL || !view.At.After(t) {
			continue
		}
		n++
		who = append(who, voter)
	}
	return n, who
}

func (m *Machine) majority() int { return len(m.voters)/2 + 1 }

// down reports whether a majority of voters sees region down, and why.
func (m *Machine) down(region string) (bool, string) {
	n, who := m.seen(region, health.Down)
	if n < m.majority() {
		return false, ""
	}
	return true, fmt.Sprintf("region %s down as seen by %d of %d voters (%s)",
		region, n, len(m.voters), strings.Join(who, ", "))
}

// up reports whether a majority of voters sees region up.
func (m *Machine) up(region string) bool {
	n, _ := m.seen(region, health.Up)
	return n >= m.majority()
}

// regions returns the regions of the state with role r, in file order.
func (m *Machine) regions(r api.Role) []string {
	var out []string
	for _, reg := range m.mesh.Regions {
		if m.state.Role(reg.Name) == r {
			out = append(out, reg.Name)
		}
	}
	return out
}

// desiredFlows returns the flows into this region that the state and the
// views call for.
func (m *Machine) desiredFlows() map[topology.Route]bool {
	want := map[topology.Route]bool{}
	if m.state == nil {
		return want
	}
	add := func(src string) { want[topology.Route{Source: src, Target: m.self}] = true }
	switch m.state.Role(m.self) {
	case api.RoleStandby:
		for _, p := range m.regions(api.RolePrimary) {
			add(p)
		}
	case api.RoleActive, api.RoleEvacuated:
		// Every active region's topics; an evacuated one's again once it
		// is back, so what it took before it failed arrives.
		for _, r := range m.mesh.DataRegions() {
			if r == m.self {
				continue
			}
			switch m.state.Role(r) {
			case api.RoleActive:
				add(r)
			case api.RoleEvacuated:
				if m.up(r) {
					add(r)
				}
			}
		}
	case api.RoleHub:
		for _, s := range m.regions(api.RoleSpoke) {
			add(s)
		}
	case api.RoleSpoke:
		if len(m.mesh.Roles.Broadcast.Include) > 0 {
			for _, h := range m.regions(api.RoleHub) {
				add(h)
			}
		}
	case api.RoleStandbyHub:
		for _, h := range m.regions(api.RoleHub) {
			add(h)
		}
	}
	return want
}

// stopFlows stops the flows into this region that are no longer wanted.
// On a role change it runs before Promote and Demote, so that copies of
// the old primary's records stop before this region takes writes.
func (m *Machine) stopFlows(out []Action) []Action {
	want := m.desiredFlows()
	for _, f := range slices.SortedFunc(maps.Keys(m.flows), topology.CompareRoutes) {
		if !want[f] {
			delete(m.flows, f)
			out = append(out, StopReplication{Source: f.Source, Target: f.Target})
		}
	}
	return out
}

// startFlows starts the wanted flows not running yet; on a role change
// after Demote, so a demoted region receives only once it refuses writes.
func (m *Machine) startFlows(out []Action) []Action {
	want := m.desiredFlows()
	for _, f := range slices.SortedFunc(maps.Keys(want), topology.CompareRoutes) {
		if !m.flows[f] {
			m.flows[f] = true
			out = append(out, StartReplication{Source: f.Source, Target: f.Target})
		}
	}
	return out
}

// alertsFor raises an alert per region that a majority sees down and no
// decision is coming for, and clears it when the region is no longer down.
func (m *Machine) alertsFor(out []Action) []Action {
	manual := m.mesh.Failover.Mode == topology.FailoverManual
	for _, reg := range m.mesh.Regions {
		r := reg.Name
		key := "region-down:" + r
		isDown, why := m.down(r)
		if !isDown {
			delete(m.alerts, key)
			continue
		}
		if m.alerts[key] {
			continue
		}
		var msg string
		switch role := m.state.Role(r); {
		case role == api.RoleWitness:
			msg = why + "; a witness takes no traffic, but the quorum now tolerates one failure less"
		case role == api.RoleSpoke:
			msg = why + "; its feed to the hub stops until it returns (no failover for a spoke)"
		case role == api.RoleHub && m.state.Role(m.mesh.Roles.StandbyHub) != api.RoleStandbyHub:
			msg = why + "; no standby hub to promote: spokes buffer until the hub returns"
		case manual && role.Writer():
			msg = why + "; failover mode is manual: run geomesh failover --to <region>"
		case role.Writer():
			if m.candidate(r) == "" {
				msg = why + "; no healthy region to take over"
			}
		}
		if msg == "" {
			continue // a decision follows
		}
		m.alerts[key] = true
		out = append(out, Alert{Key: key, Message: msg})
	}
	return out
}

// candidate returns the region that takes over from a failed writer r, or
// "" if there is none: the first standby up (active-passive), the standby
// hub if up (hub-spoke), or the next active region up after r in file
// order (active-active), so every agent picks the same one and several
// failed regions spread over the survivors.
func (m *Machine) candidate(r string) string {
	switch m.mesh.Kind {
	case topology.KindActivePassive:
		for _, s := range m.regions(api.RoleStandby) {
			if m.up(s) {
				return s
			}
		}
	case topology.KindHubSpoke:
		if sh := m.regions(api.RoleStandbyHub); len(sh) > 0 && m.up(sh[0]) {
			return sh[0]
		}
	case topology.KindActiveActive:
		data := m.mesh.DataRegions()
		i := slices.Index(data, r)
		for k := 1; k < len(data); k++ {
			s := data[(i+k)%len(data)]
			if m.state.Role(s) == api.RoleActive && m.up(s) {
				return s
			}
		}
	}
	return ""
}

// decide returns the state to propose next, or nil. Every agent computes
// the same from the same state and views.
func (m *Machine) decide() *api.State {
	if m.state == nil {
		s := Initial(m.mesh, m.now)
		return &s
	}
	s := m.state
	automatic := m.mesh.Failover.Mode == topology.FailoverAutomatic

	// An unplanned loss first: it overrides a switch in progress.
	if automatic {
		for _, reg := range m.mesh.Regions {
			r := reg.Name
			if !s.Role(r).Writer() {
				continue
			}
			isDown, why := m.down(r)
			if !isDown {
				continue
			}
			if to := m.candidate(r); to != "" && !m.mayStillWrite(r) {
				return m.takeOver(r, to, why)
			}
		}
	}

	if sw := s.Switch; sw != nil {
		lag, ok := m.lags[topology.Route{Source: sw.From, Target: sw.To}]
		switch {
		case m.now.Sub(sw.Started) > m.cfg.DrainTimeout:
			return m.abort(fmt.Sprintf("replication %s→%s did not drain within %s", sw.From, sw.To, m.cfg.DrainTimeout))
		case func() bool {
			// Only views taken since the switch began: it was accepted on
			// views that saw the target up, and an agent that missed those
			// (a dropped batch, a reconnection) still holds older ones.
			n, _ := m.seenAfter(sw.To, health.Down, sw.Started)
			return n >= m.majority()
		}():
			return m.abort(fmt.Sprintf("region %s, the switch target, is down", sw.To))
		case ok && lag.Records == 0 && !lag.CaughtUpTo.Before(sw.Started.Add(m.cfg.PauseGrace)):
			return m.flip(sw.From, sw.To, fmt.Sprintf("replication %s→%s drained", sw.From, sw.To))
		}
	}

	// A fenced region that settled its stranded records rejoins.
	if s.Role(m.self) == api.RoleFenced && m.settled {
		next := m.next(api.DecisionRejoin, m.self, "", fmt.Sprintf("region %s settled its stranded records: %d (%s)", m.self, m.strandedCount, m.mesh.Failover.Stranded))
		role := api.RoleStandby
		if m.mesh.Kind == topology.KindHubSpoke {
			role = api.RoleStandbyHub
		}
		next.Regions[m.self] = api.RegionState{Role: role}
		return &next
	}
	return nil
}

// mayStillWrite reports whether writer region r may still take writes
// though the majority sees it down: its agents' newest view (or, if
// none came, this machine's first tick) is older than ViewTTL, so it may
// be cut off from the control plane, and younger than WriterStops, so it
// may not have fenced itself yet. A region whose views still arrive is
// connected: it reads the new state and steps down.
func (m *Machine) mayStillWrite(r string) bool {
	if r == m.self {
		return false
	}
	heard, viewed := m.born, false
	for k, v := range m.views {
		if k.observer == r && !v.At.Before(heard) {
			heard, viewed = v.At, true
		}
	}
	age := m.now.Sub(heard)
	if viewed && age < m.cfg.ViewTTL {
		return false
	}
	return age < m.cfg.WriterStops
}

// next returns a copy of the state one epoch on, for decision d.
func (m *Machine) next(d api.Decision, from, to, reason string) api.State {
	n := m.state.Clone()
	n.Epoch++
	n.Decision, n.From, n.To, n.Reason = d, from, to, reason
	return n
}

// takeOver hands the writer role of failed region r to region to at once.
func (m *Machine) takeOver(r, to, reason string) *api.State {
	var n api.State
	if m.mesh.Kind == topology.KindActiveActive {
		n = m.next(api.DecisionEvacuate, r, to, reason)
		n.Regions[r] = api.RegionState{Role: api.RoleEvacuated, ClientsTo: to}
		// Clients parked in r move on with it.
		for name, rs := range n.Regions {
			if rs.ClientsTo == r {
				rs.ClientsTo = to
				n.Regions[name] = rs
			}
		}
	} else {
		n = m.next(api.DecisionFailover, r, to, reason)
		n.Regions[to] = api.RegionState{Role: n.Role(r)} // primary or hub
		n.Regions[r] = api.RegionState{Role: api.RoleFenced}
	}
	n.Switch = nil
	return &n
}

// flip completes a planned switch: writes move from → to, nothing lost.
func (m *Machine) flip(from, to, reason string) *api.State {
	n := m.next(api.DecisionSwitchover, from, to, reason)
	n.Switch = nil
	switch m.mesh.Kind {
	case topology.KindActivePassive:
		n.Regions[from] = api.RegionState{Role: api.RoleStandby}
		n.Regions[to] = api.RegionState{Role: api.RolePrimary}
	case topology.KindHubSpoke:
		n.Regions[from] = api.RegionState{Role: api.RoleStandbyHub}
		n.Regions[to] = api.RegionState{Role: api.RoleHub}
	case topology.KindActiveActive:
		if n.Role(to) == api.RoleEvacuated {
			// Failback: the region's clients come home.
			n.Regions[to] = api.RegionState{Role: api.RoleActive}
		} else {
			n.Regions[from] = api.RegionState{Role: api.RoleEvacuated, ClientsTo: to}
		}
	}
	return &n
}

func (m *Machine) abort(reason string) *api.State {
	sw := m.state.Switch
	n := m.next(api.DecisionSwitchAbort, sw.From, sw.To, reason)
	n.Switch = nil
	return &n
}

// command turns an operator command into a proposal or a rejection.
func (m *Machine) command(c Command, out []Action) []Action {
	reject := func(format string, args ...any) []Action {
		return append(out, Rejected{Command: c, Reason: fmt.Sprintf(format, args...)})
	}
	switch {
	case !m.reachable || !m.fresh || m.state == nil:
		return reject("control plane unreachable from region %s: no decision possible", m.self)
	case m.pending != nil:
		return reject("a proposal is in flight; retry")
	case m.state.Switch != nil:
		return reject("switch %s→%s in progress at epoch %d", m.state.Switch.From, m.state.Switch.To, m.state.Epoch)
	}
	from, to, err := m.commandRegions(c)
	if err != "" {
		return reject("%s", err)
	}
	why := fmt.Sprintf("operator: %s to %s", c.Kind, to)
	if isDown, downWhy := m.down(from); isDown || c.Force {
		if c.Force && !isDown {
			why += " (forced)"
		} else {
			why += "; " + downWhy
		}
		return m.propose(*m.takeOver(from, to, why), out)
	}
	if !m.up(from) {
		return reject("region %s is neither up nor down by a majority of voters; retry, or --force", from)
	}
	if !m.up(to) {
		return reject("region %s is not up by a majority of voters", to)
	}
	// Whose clients move: the writer's, or in an active-active failback
	// those of the region coming home.
	clients := from
	if m.state.Role(to) == api.RoleEvacuated {
		clients = to
	}
	n := m.next(api.DecisionSwitchStart, from, to, fmt.Sprintf("%s; pausing producers of %s's clients in %s to drain", why, clients, from))
	n.Switch = &api.Switch{From: from, To: to, Clients: clients, Started: m.now}
	return m.propose(n, out)
}

// commandRegions returns the region losing writes and the one gaining
// them, or why the command does not apply.
func (m *Machine) commandRegions(c Command) (from, to, err string) {
	s := m.state
	writer := api.RolePrimary
	target := api.RoleStandby
	if m.mesh.Kind == topology.KindHubSpoke {
		writer, target = api.RoleHub, api.RoleStandbyHub
	}
	if c.Kind == CommandFailback {
		switch m.mesh.Kind {
		case topology.KindActiveActive:
			for _, r := range m.regions(api.RoleEvacuated) {
				if m.up(r) {
					return s.Regions[r].ClientsTo, r, ""
				}
			}
			return "", "", "no evacuated region is up"
		case topology.KindActivePassive:
			to = m.mesh.Roles.Primary
		default:
			to = m.mesh.Roles.Hub
		}
		switch s.Role(to) {
		case writer:
			return "", "", fmt.Sprintf("region %s is already %s at epoch %d", to, writer, s.Epoch)
		case api.RoleFenced:
			return "", "", fmt.Sprintf("region %s has not rejoined yet (stranded records unsettled)", to)
		}
		if w := m.regions(writer); len(w) > 0 {
			from = w[0]
		}
		return from, to, ""
	}
	to = c.To
	if m.mesh.Kind == topology.KindActiveActive {
		if s.Role(c.From) != api.RoleActive || s.Role(c.To) != api.RoleActive || c.From == c.To {
			return "", "", fmt.Sprintf("active-active failover needs two different active regions, from %q to %q", c.From, c.To)
		}
		return c.From, c.To, ""
	}
	if s.Role(to) != target {
		return "", "", fmt.Sprintf("region %q is %q at epoch %d, not %s", to, s.Role(to), s.Epoch, target)
	}
	if w := m.regions(writer); len(w) > 0 {
		from = w[0]
	}
	return from, to, ""
}
