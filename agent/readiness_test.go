package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kfake"
)

// readyz is the body of GET /readyz.
type readyz struct {
	Status  string   `json:"status"`
	Reasons []string `json:"reasons"`
	Notes   []string `json:"notes"`
	Code    int      `json:"-"`
}

func getReadyz(t *testing.T, base string) readyz {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readyz
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	r.Code = resp.StatusCode
	return r
}

// notReadyFor reports nil once /readyz is 503 with a reason that
// contains want.
func notReadyFor(t *testing.T, base, want string) (readyz, error) {
	r := getReadyz(t, base)
	if r.Code != http.StatusServiceUnavailable || r.Status != "not ready" {
		return r, fmt.Errorf("/readyz %d %+v, want 503", r.Code, r)
	}
	for _, why := range r.Reasons {
		if strings.Contains(why, want) {
			return r, nil
		}
	}
	return r, fmt.Errorf("/readyz reasons %q, want one naming %q", r.Reasons, want)
}

// withCluster returns a copy of m whose region's cluster is bootstrap,
// not embedded.
func withCluster(m *topology.Mesh, region string, bootstrap ...string) {
	for i := range m.Regions {
		if m.Regions[i].Name == region {
			k := *m.Regions[i].Kafka
			k.Bootstrap, k.Embedded = bootstrap, false
			m.Regions[i].Kafka = &k
		}
	}
}

// TestReadiness runs the active-passive example with the standby's
// cluster at an address that refuses connections. The standby's agent
// is not ready, with a reason naming its target cluster; once a cluster
// listens there it becomes ready, and when that cluster goes away it is
// not ready again within a few probe intervals (before, it said ready
// for 19 s). The primary's agent, which has no flow into its region, is
// ready with a note saying why.
func TestReadiness(t *testing.T) {
	m, err := topology.Load("../configs/examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	addr, release, err := testkit.HoldRefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	released := false
	t.Cleanup(func() {
		if !released {
			_ = release()
		}
	})
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	withCluster(m, "eu-west", addr)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	mesh := startLocal(t, ctx, m, agent.Config{})
	standby := "http://" + localAgent(t, mesh, "eu-west").APIAddr()
	primary := "http://" + localAgent(t, mesh, "us-east").APIAddr()

	var r readyz
	poll.Until(t, 30*time.Second, func() error {
		r, err = notReadyFor(t, standby, "target cluster eu-west unreachable")
		return err
	})
	t.Logf("standby, its cluster refusing connections: %+v", r)

	if err := release(); err != nil {
		t.Fatal(err)
	}
	released = true
	up := time.Now()
	cluster := clusterOn(t, port)
	ready := func() error {
		if r = getReadyz(t, standby); r.Code != http.StatusOK || r.Status != "ready" {
			return fmt.Errorf("/readyz %d %+v, want 200", r.Code, r)
		}
		return nil
	}
	poll.Until(t, 30*time.Second, ready)
	t.Logf("standby ready %v after its cluster came up: %+v", time.Since(up).Round(time.Millisecond), r)

	// The primary reads the state on its own, a moment before or after.
	poll.Until(t, 10*time.Second, func() error {
		r := getReadyz(t, primary)
		if r.Code != http.StatusOK || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "no flows into us-east under the mesh state of epoch 1: it is the primary") {
			return fmt.Errorf("primary's /readyz %d %+v, want ready with a note that it is the primary", r.Code, r)
		}
		return nil
	})

	cluster.Close()
	down := time.Now()
	poll.Until(t, 30*time.Second, func() error {
		r, err = notReadyFor(t, standby, "target cluster eu-west unreachable")
		return err
	})
	took := time.Since(down)
	t.Logf("standby not ready %v after its cluster went away: %+v", took.Round(time.Millisecond), r)
	if limit := 5 * m.Failover.Detection.KafkaProbeInterval; took > limit {
		t.Errorf("not ready only %v after the target cluster went away, want within %v", took, limit)
	}

	// Back, so that the agent's shards can end their transactions when
	// the mesh closes.
	clusterOn(t, port)
	poll.Until(t, 30*time.Second, ready)
}

// clusterOn starts a one-broker kfake cluster on port of 127.0.0.1 until
// the test ends.
func clusterOn(t *testing.T, port int) *kfake.Cluster {
	t.Helper()
	var c *kfake.Cluster
	// The port of a cluster just closed may take a moment to be free.
	poll.Until(t, 10*time.Second, func() error {
		var err error
		c, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
		return err
	})
	t.Cleanup(c.Close)
	return c
}
