package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
)

// clusters are single-broker KRaft clusters shared by the tests of this
// package: a JVM start costs seconds, and every test isolates itself with
// its own mesh name and topic names.
var clusters []*kafkatest.Cluster

const sharedClusters = 4

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	defer func() {
		for _, c := range clusters {
			if err := c.Close(); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}
	}()
	for range sharedClusters {
		c, err := kafkatest.New(kafkatest.Options{})
		if err == nil {
			err = c.Start(ctx)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: start kafka:", err)
			return 1
		}
		clusters = append(clusters, c)
	}
	fmt.Printf("e2e: %d Apache Kafka %s (KRaft) clusters at %v\n", len(clusters), clusters[0].Version(), bootstraps())
	return m.Run()
}

func bootstraps() []string {
	var out []string
	for _, c := range clusters {
		out = append(out, c.Bootstrap()[0])
	}
	return out
}

// region describes one region of a generated topology file.
type region struct {
	name    string
	cluster *kafkatest.Cluster
	agents  int // default 1
}

// meshFile writes a topology file for regions on the given clusters and
// returns its path. body holds the mesh-specific sections (topology:,
// topics:, naming:, replication: ...), indented as top-level YAML. The
// control plane is an address that refuses connections, so the agents
// replicate the file's flows at once and decide nothing.
func meshFile(t testing.TB, mesh string, regions []region, body string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "mesh: %s\n%s\nregions:\n", mesh, strings.TrimSpace(body))
	for _, r := range regions {
		fmt.Fprintf(&b, "  - name: %s\n    kafka:\n      bootstrap: [%s]\n    agents:\n", r.name, r.cluster.Bootstrap()[0])
		for i := range max(r.agents, 1) {
			fmt.Fprintf(&b, "      - {id: %s-%d, gossip: %s, api: %s}\n", r.name, i+1, testkit.FreeAddr(t), testkit.FreeAddr(t))
		}
	}
	fmt.Fprintf(&b, "control_plane: {urls: [\"nats://%s\"]}\n", testkit.RefusedAddr(t))
	return testkit.TempFile(t, mesh+".yaml", b.String())
}
