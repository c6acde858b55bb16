package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/internal/loopback"
	"github.com/geomesh/geomesh/internal/statedir"
	"github.com/geomesh/geomesh/topology"
)

// Mesh is a whole mesh running in this process: the embedded cluster of
// every region that has one and the first agent of every region. Its
// methods are not safe for concurrent use with Restart and Close.
type Mesh struct {
	mesh     *topology.Mesh
	clusters []*broker.Embedded
	agents   []*agent.Agent
	configs  []agent.Config // of agents, for Restart
	// controlDir holds the control-plane data of an ephemeral mesh;
	// removed by Close.
	controlDir string
	// stateDir is the control-plane state directory the agents use.
	stateDir string
}

// Options tune Start.
type Options struct {
	// Logger for the agents. Default: slog.Default().
	Logger *slog.Logger
	// Ephemeral puts every embedded cluster and every agent on free
	// loopback ports instead of the addresses of the topology, so that
	// several local meshes (tests, a demo next to `geomesh up`) do not
	// collide. Mesh.Topology then names the addresses in use. Default:
	// the topology's addresses, as `geomesh up` wants them.
	Ephemeral bool
	// Agent tunes every agent; Mesh, Region, AgentID and Logger are
	// filled in per agent. Its ControlDir, the mesh's control-plane state
	// directory, is the one every agent uses if set. Left empty: with
	// Ephemeral a fresh directory of this run, removed by Close, even if
	// the file sets control_plane.state_dir (an old run's epoch must not
	// decide this one's roles); otherwise the file's state_dir, else
	// $XDG_STATE_HOME/geomesh/<mesh> (statedir.User), which keeps the
	// mesh state of `geomesh up` from one run to the next.
	Agent agent.Config
}

// Start starts the embedded clusters of m, then one agent per region. On
// an error everything already started is stopped again. The agents run
// until Close, or until ctx ends.
func Start(ctx context.Context, m *topology.Mesh, opts Options) (*Mesh, error) {
	if opts.Ephemeral {
		m = onFreePorts(m)
	}
	l := &Mesh{mesh: m, clusters: broker.EmbeddedFor(m)}
	if err := broker.StartAll(ctx, l.clusters); err != nil {
		return nil, err
	}
	if opts.Ephemeral {
		for _, c := range l.clusters {
			r, _ := m.Region(c.Region())
			r.Kafka.Bootstrap = c.Addrs()
		}
	}
	var err error
	if l.stateDir, l.controlDir, err = pickStateDir(m, opts); err != nil {
		return nil, errors.Join(err, l.Close())
	}
	for _, r := range m.Regions {
		cfg := opts.Agent
		cfg.Mesh, cfg.Region, cfg.AgentID, cfg.Logger = m, r.Name, r.Agents[0].ID, opts.Logger
		cfg.ControlDir = l.stateDir
		var a *agent.Agent
		a, err = agent.New(cfg)
		if err == nil {
			err = a.Start(ctx)
			l.agents, l.configs = append(l.agents, a), append(l.configs, cfg)
		}
		if err != nil {
			return nil, errors.Join(err, l.Close())
		}
	}
	return l, nil
}

// pickStateDir is the control-plane state directory of a local mesh
// (Options.Agent), and the same again as temp if it is this run's own,
// for Close to remove; both empty with an external control plane.
func pickStateDir(m *topology.Mesh, opts Options) (dir, temp string, err error) {
	switch {
	case !m.ControlPlane.Embedded:
		return "", "", nil
	case opts.Agent.ControlDir != "":
		return opts.Agent.ControlDir, "", nil
	case opts.Ephemeral:
		// A fresh control plane per run: an old run's epoch must not
		// decide this one's roles.
		temp, err := os.MkdirTemp("", "geomesh-local-")
		return temp, temp, err
	case m.ControlPlane.StateDir != "":
		return m.ControlPlane.StateDir, "", nil
	default:
		dir, err := statedir.User(m.Name)
		return dir, "", err
	}
}

// onFreePorts copies the mesh with every embedded cluster's address on
// port 0 of its host, and every agent's API, gossip and control address on
// a free loopback port; Start writes the cluster ports taken into the
// copy. The agents' addresses must be known before they start, since each
// agent joins the others' gossip and control-plane addresses.
func onFreePorts(m *topology.Mesh) *topology.Mesh {
	c := *m
	c.Regions = make([]topology.Region, len(m.Regions))
	for i, r := range m.Regions {
		r.Agents = append([]topology.Agent(nil), r.Agents...)
		for j := range r.Agents {
			ag := &r.Agents[j]
			ag.API, ag.Gossip = freeLoopback(), freeLoopback()
			if ag.Control != "" {
				ag.Control = freeLoopback()
			}
		}
		if r.Kafka != nil && r.Kafka.Embedded {
			k := *r.Kafka
			host, _, _ := net.SplitHostPort(k.Bootstrap[0])
			k.Bootstrap = []string{net.JoinHostPort(host, "0")}
			r.Kafka = &k
		}
		c.Regions[i] = r
	}
	return &c
}

// freeLoopback returns a free loopback address (loopback.Free); if none
// is found, port 0, and the agent's bind says what is wrong.
func freeLoopback() string {
	addr, err := loopback.Free()
	if err != nil {
		return "127.0.0.1:0"
	}
	return addr
}

// Topology is the topology the mesh runs, with the addresses in use
// (with Options.Ephemeral, the free ports taken). It is shared: do not
// change it.
func (l *Mesh) Topology() *topology.Mesh { return l.mesh }

// Agents returns the agents, one per region in file order. The slice is
// the mesh's own: Restart replaces an element of it.
func (l *Mesh) Agents() []*agent.Agent { return l.agents }

// Agent returns the agent of region, nil if the mesh has none there.
func (l *Mesh) Agent(region string) *agent.Agent {
	for _, a := range l.agents {
		if a.Region() == region {
			return a
		}
	}
	return nil
}

// Clusters returns the embedded clusters, in file order.
func (l *Mesh) Clusters() []*broker.Embedded { return l.clusters }

// Cluster returns region's embedded cluster, nil if it has none.
func (l *Mesh) Cluster(region string) *broker.Embedded {
	for _, c := range l.clusters {
		if c.Region() == region {
			return c
		}
	}
	return nil
}

// StateDir is the mesh's control-plane state directory: each agent's
// node keeps its data in a subdirectory named after the agent. Empty
// with an external control plane.
func (l *Mesh) StateDir() string { return l.stateDir }

// RestartAll stops every agent, then starts a new one with the same
// configuration in each one's place, in file order: the whole mesh's
// agents down at once, as after a power cut of all their hosts, while
// the clusters keep running. The mesh state they find is what their
// control-plane nodes kept in the state directory.
func (l *Mesh) RestartAll(ctx context.Context) error {
	var errs []error
	for _, a := range l.agents {
		errs = append(errs, a.Close())
	}
	for i := range l.agents {
		n, err := agent.New(l.configs[i])
		if err == nil {
			l.agents[i] = n
			err = n.Start(ctx)
		}
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	return errors.Join(errs...)
}

// Restart replaces the agent of region, stopped or not, by a new one
// with the same configuration, and starts it.
func (l *Mesh) Restart(ctx context.Context, region string) (*agent.Agent, error) {
	for i, a := range l.agents {
		if a.Region() != region {
			continue
		}
		_ = a.Close()
		n, err := agent.New(l.configs[i])
		if err != nil {
			return nil, err
		}
		l.agents[i] = n
		return n, n.Start(ctx)
	}
	return nil, fmt.Errorf("local mesh %s: no agent in region %q", l.mesh.Name, region)
}

// Close stops the agents first (so that open transactions end while their
// clusters still answer), then the clusters, and removes an ephemeral
// mesh's control-plane data.
func (l *Mesh) Close() error {
	var errs []error
	for _, a := range l.agents {
		errs = append(errs, a.Close())
	}
	for _, c := range l.clusters {
		c.Close()
	}
	if l.controlDir != "" {
		errs = append(errs, os.RemoveAll(l.controlDir))
	}
	return errors.Join(errs...)
}
