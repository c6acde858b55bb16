package agent

import (
	"context"
	"slices"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/failover/plane"
	"github.com/geomesh/geomesh/failover/quorum"
	"github.com/geomesh/geomesh/internal/statedir"
	"github.com/geomesh/geomesh/topology"
)

// The agent is the failover plane's host (package failover/plane): it
// builds the flows the plane starts, applies the write grants and the
// fence, and hands over the evidence only it holds.

// host is the agent as the failover plane sees it.
type host struct{ a *Agent }

var _ plane.Host = host{}

// newPlane builds the agent's failover plane; the caller holds a.mu.
func (a *Agent) newPlane() (*plane.Plane, error) {
	return plane.New(plane.Config{
		Mesh:              a.topo(),
		Source:            a.cfg.Source,
		Region:            a.region.Name,
		Agent:             a.self.ID,
		Control:           a.nodeConfig(),
		ControlPlaneGrace: a.cfg.ControlPlaneGrace,
		StopTimeout:       a.cfg.StopTimeout,
		Logger:            a.log,
		Registry:          a.cfg.Registry,
	}, host{a})
}

// nodeConfig is this agent's control-plane node: embedded on its control
// address, routing to every other agent's (all regions, witnesses
// included), or a client of the file's NATS cluster; with the file's
// control-plane TLS and credentials either way.
func (a *Agent) nodeConfig() quorum.Config {
	mesh := a.topo()
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
	cfg.StoreDir = a.nodeDir()
	return cfg
}

// nodeDir is the directory of the agent's embedded control-plane node,
// <state dir>/<agent id>, which the agent locks while it runs.
func (a *Agent) nodeDir() string { return statedir.Node(a.cfg.ControlDir, a.self.ID) }

// Reconfigure implements plane.Host: flows made from now on, offset
// translation and sync, status and the API follow m.
func (h host) Reconfigure(m *topology.Mesh) {
	a := h.a
	a.mesh.Store(m)
	flows := map[topology.Route]topology.Flow{}
	for _, f := range topology.Inbound(m, a.region.Name) {
		flows[f.Route()] = f
	}
	a.translation.mu.Lock()
	defer a.translation.mu.Unlock()
	for _, tr := range a.translation.all {
		if f, ok := flows[tr.Flow().Route()]; ok {
			tr.SetFlow(f)
		}
	}
}

// NewFlow implements plane.Host.
func (h host) NewFlow(f topology.Flow) (plane.Flow, error) {
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	return h.a.newFlowRunner(f)
}

// GrantWrites implements plane.Host (grantWrites).
func (h host) GrantWrites(writers []string) {
	grantWrites(h.a.topo().Kind, h.a.flowRunners(), writers)
}

// grantWrites tells ACL sync which copies take the applications' writes
// now: in an active-passive or hub-spoke mesh those in the one writer
// region; in an active-active mesh the identity copies in a region of
// the writer set, none in an evacuated region, and never a prefixed copy.
func grantWrites(k topology.Kind, runners []*flowRunner, writers []string) {
	for _, fr := range runners {
		if api.SingleWriter(k) {
			fr.acls.SetWritable(len(writers) == 1 && fr.flow.Target == writers[0])
		} else {
			fr.acls.SetWritable(fr.flow.Naming == topology.NamingIdentity && slices.Contains(writers, fr.flow.Target))
		}
	}
}

// ApplyFence implements plane.Host (fence.go).
func (h host) ApplyFence(st machine.Status) { h.a.applyFence(st) }

// AgentsAlive implements plane.Host: the live agents of each region, by
// gossip.
func (h host) AgentsAlive() map[string]int {
	alive := map[string]int{}
	if m := h.a.members; m != nil {
		for _, mem := range m.Members() {
			alive[mem.Region]++
		}
	}
	return alive
}

// HeartbeatAge implements plane.Host.
func (h host) HeartbeatAge(region string, now time.Time) (time.Duration, bool) {
	if hs := h.a.health; hs != nil {
		return hs.beats.Age(region, now)
	}
	return 0, false
}

// RegionMembers implements plane.Host.
func (h host) RegionMembers() []string { return h.a.regionMembers() }

// flowRunners are the flows the plane runs now, in route order.
func (a *Agent) flowRunners() []*flowRunner {
	a.mu.Lock()
	p := a.plane
	a.mu.Unlock()
	if p == nil {
		return nil
	}
	var out []*flowRunner
	for _, f := range p.Flows() {
		out = append(out, f.(*flowRunner))
	}
	return out
}

// Command hands an operator command to the failover plane and waits for
// its answer.
func (a *Agent) Command(ctx context.Context, c machine.Command) (plane.CommandResult, error) {
	a.mu.Lock()
	p := a.plane
	a.mu.Unlock()
	if p == nil {
		return plane.CommandResult{}, plane.ErrNotRunning
	}
	return p.Command(ctx, c)
}

// Failover returns the decision plane as this agent sees it.
func (a *Agent) Failover() api.FailoverStatus {
	a.mu.Lock()
	p := a.plane
	a.mu.Unlock()
	if p == nil {
		return api.FailoverStatus{Mesh: a.topo().Name, Region: a.region.Name, Agent: a.self.ID, ControlPlane: api.ControlStopped}
	}
	fs := p.Status()
	runners := a.flowRunners()
	now := time.Now()
	for i, fl := range fs.Flows {
		for _, fr := range runners {
			if fr.flow.Source == fl.Source && fr.flow.Target == fl.Target {
				st := a.flowStatus(fr, now)
				fs.Flows[i].RPOSeconds, fs.Flows[i].Behind = st.RPOSeconds, partitionsBehind(st)
			}
		}
	}
	return fs
}
