package agent

import (
	"context"
	"errors"
	"log/slog"

	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/topology"
)

// Local runs a whole mesh in one process: the embedded cluster of every
// region that has one and the first agent of every region. It backs
// `geomesh up`, the demo and tests of applications against a mesh.
type Local struct {
	clusters []*broker.Embedded
	agents   []*Agent
}

// LocalOptions tune StartLocal.
type LocalOptions struct {
	// Logger for the agents. Default: slog.Default().
	Logger *slog.Logger
	// EphemeralAPI makes every agent listen on a free loopback port
	// instead of its configured API and gossip addresses, so that several
	// local meshes (tests, a demo next to `geomesh up`) do not collide.
	EphemeralAPI bool
	// Agent tunes every agent; Mesh, Region, AgentID and the addresses
	// are filled in per agent.
	Agent Config
}

// StartLocal starts the embedded clusters, then one agent per region. On
// an error everything already started is stopped again.
func StartLocal(ctx context.Context, m *topology.Mesh, opts LocalOptions) (*Local, error) {
	l := &Local{clusters: broker.EmbeddedFor(m)}
	if err := broker.StartAll(ctx, l.clusters); err != nil {
		return nil, err
	}
	for _, r := range m.Regions {
		cfg := opts.Agent
		cfg.Mesh, cfg.Region, cfg.AgentID, cfg.Logger = m, r.Name, r.Agents[0].ID, opts.Logger
		if opts.EphemeralAPI {
			cfg.APIAddr, cfg.GossipAddr, cfg.GossipSeeds = "127.0.0.1:0", "127.0.0.1:0", []string{}
		}
		a, err := New(cfg)
		if err == nil {
			err = a.Start(ctx)
			l.agents = append(l.agents, a)
		}
		if err != nil {
			return nil, errors.Join(err, l.Close())
		}
	}
	return l, nil
}

// Agents returns the agents, one per region in file order.
func (l *Local) Agents() []*Agent { return l.agents }

// Clusters returns the embedded clusters, in file order.
func (l *Local) Clusters() []*broker.Embedded { return l.clusters }

// Close stops the agents first (so that open transactions end while their
// clusters still answer), then the clusters.
func (l *Local) Close() error {
	var errs []error
	for _, a := range l.agents {
		errs = append(errs, a.Close())
	}
	for _, c := range l.clusters {
		c.Close()
	}
	return errors.Join(errs...)
}
