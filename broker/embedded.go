package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Embedded is an in-process Kafka cluster for local mode, bound to the
// exact address that the topology file gives so that programs outside
// this process can connect to it.
type Embedded struct {
	region string
	addr   string

	mu      sync.Mutex
	cluster *kfake.Cluster
	// down makes the cluster drop every connection on its first request,
	// keeping its data: a region's cluster lost, then restored.
	down atomic.Bool
}

// errDown closes a client's connection to a cluster that is down.
var errDown = errors.New("embedded cluster down")

// NewEmbedded describes an embedded cluster for region listening on addr
// (host:port on loopback). It does no I/O; Start listens.
func NewEmbedded(region, addr string) *Embedded {
	return &Embedded{region: region, addr: addr}
}

// Start listens on the configured address and serves the Kafka protocol
// until Close. Calling Start on a started cluster is an error.
func (e *Embedded) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cluster != nil {
		return fmt.Errorf("region %s: embedded cluster already started", e.region)
	}
	if _, _, err := net.SplitHostPort(e.addr); err != nil {
		return fmt.Errorf("region %s: embedded cluster address %q: %w", e.region, e.addr, err)
	}
	listenAddr := e.addr
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ClusterID("geomesh-"+e.region),
		// kfake binds 127.0.0.1 by itself; the topology may name another
		// loopback address (127.0.0.2, ::1), so bind exactly that.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, listenAddr)
		}),
		kfake.DefaultNumPartitions(3),
	)
	if err != nil {
		return fmt.Errorf("region %s: start embedded cluster on %s: %w", e.region, listenAddr, err)
	}
	c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if e.down.Load() {
			return nil, errDown, true
		}
		return nil, nil, false
	})
	e.cluster = c
	return nil
}

// SetDown makes the cluster unreachable (true: every connection is
// closed at its first request) or reachable again, with the records it
// held.
func (e *Embedded) SetDown(down bool) { e.down.Store(down) }

// Addrs returns the addresses the cluster listens on; empty before Start.
func (e *Embedded) Addrs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cluster == nil {
		return nil
	}
	return e.cluster.ListenAddrs()
}

// Close stops the cluster. It is idempotent and safe before Start.
func (e *Embedded) Close() {
	e.mu.Lock()
	c := e.cluster
	e.cluster = nil
	e.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// EmbeddedFor describes one embedded cluster for every data region of the
// mesh whose kafka section says `embedded: true`, in file order.
func EmbeddedFor(m *topology.Mesh) []*Embedded {
	var out []*Embedded
	for _, r := range m.Regions {
		if r.Kafka != nil && r.Kafka.Embedded {
			out = append(out, NewEmbedded(r.Name, r.Kafka.Bootstrap[0]))
		}
	}
	return out
}

// StartAll starts every cluster in order; on an error it closes the ones
// already started, so the caller owns either all of them or none.
func StartAll(ctx context.Context, clusters []*Embedded) error {
	for i, c := range clusters {
		if err := c.Start(ctx); err != nil {
			for _, s := range clusters[:i] {
				s.Close()
			}
			return err
		}
	}
	return nil
}

// Region names the region this cluster serves.
func (e *Embedded) Region() string { return e.region }
