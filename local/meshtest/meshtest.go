// Package meshtest starts a whole geomesh mesh inside a Go test: an
// embedded Kafka cluster and an agent for every region of a topology file,
// on free loopback ports, stopped when the test ends. Application teams
// use it to test their own failover handling without Kafka installed, as
// EmbeddedKafka and Testcontainers serve single clusters.
//
//	func TestCheckout(t *testing.T) {
//		mesh := meshtest.Start(t, "testdata/mesh.yaml")
//		cl := mesh.Client(t, "us-east", kgo.DefaultProduceTopic("orders"))
//		...
//	}
//
// Every region of the file must say `embedded: true`; the addresses in the
// file are replaced with free ports, so tests can run in parallel.
package meshtest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/local"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Mesh is a running local mesh.
type Mesh struct {
	local *local.Mesh
}

// Start loads a topology file and runs it until the test ends. It stops the
// test at once if the file is invalid or a region is not embedded.
func Start(tb testing.TB, file string) *Mesh {
	tb.Helper()
	m, err := topology.Load(file)
	if err != nil {
		tb.Fatalf("meshtest: %v", err)
	}
	return StartMesh(tb, m)
}

// StartMesh runs an already loaded topology until the test ends.
func StartMesh(tb testing.TB, m *topology.Mesh) *Mesh {
	tb.Helper()
	for _, r := range m.Regions {
		if r.Kafka != nil && !r.Kafka.Embedded {
			tb.Fatalf("meshtest: region %s is not embedded: meshtest runs embedded clusters only", r.Name)
		}
	}
	// The agents run until Cleanup closes them, not until a start
	// deadline: local.Start's context bounds their life.
	log := slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := local.Start(context.Background(), m, local.Options{Logger: log, Ephemeral: true})
	if err != nil {
		tb.Fatalf("meshtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("meshtest: stop: %v", err)
		}
	})
	return &Mesh{local: l}
}

// Topology is the running topology, with the addresses in use: the
// clusters' free ports and the API address each agent listens on, so that
// a client library finds the agents from it. It is a copy; changing it
// changes nothing in the running mesh.
func (m *Mesh) Topology() *topology.Mesh {
	c := *m.local.Topology()
	c.Regions = make([]topology.Region, len(c.Regions))
	for i, r := range m.local.Topology().Regions {
		r.Agents = append([]topology.Agent(nil), r.Agents...)
		for j := range r.Agents {
			for _, a := range m.local.Agents() {
				if a.ID() == r.Agents[j].ID {
					r.Agents[j].API = a.APIAddr()
				}
			}
		}
		c.Regions[i] = r
	}
	return &c
}

// Bootstrap returns the seed brokers of a region's cluster.
func (m *Mesh) Bootstrap(region string) []string {
	r, ok := m.Topology().Region(region)
	if !ok || r.Kafka == nil {
		return nil
	}
	return r.Kafka.Bootstrap
}

// Client returns a client of a region's cluster, closed when the test ends.
func (m *Mesh) Client(tb testing.TB, region string, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	r, ok := m.Topology().Region(region)
	if !ok {
		tb.Fatalf("meshtest: no region %q", region)
	}
	cl, err := broker.NewClient(region, r.Kafka, opts...)
	if err != nil {
		tb.Fatalf("meshtest: %v", err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// Agent returns the agent of a region.
func (m *Mesh) Agent(region string) *agent.Agent { return m.local.Agent(region) }

// testWriter sends agent logs to the test log, shown when a test fails.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(p))
	return len(p), nil
}
