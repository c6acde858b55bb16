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
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
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

// TestSameCluster gives both regions of the active-passive example one
// kfake cluster, each region's bootstrap a different broker of it, as
// two names of one cluster would. The standby's agent must not copy a
// record onto itself: the topic's end offsets stay where the producer
// left them, /v1/status and /readyz name both regions and the cluster
// id, and geomesh_mirror_same_cluster is 1.
func TestSameCluster(t *testing.T) {
	m, err := topology.Load("../configs/examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	shared := testkit.FakeCluster(t, kfake.NumBrokers(2), kfake.ClusterID("shared-7f3a"))
	addrs := shared.ListenAddrs()
	withCluster(m, "us-east", addrs[0])
	withCluster(m, "eu-west", addrs[1])
	cl := testkit.Client(t, kgo.SeedBrokers(addrs[0]), kgo.DefaultProduceTopic("orders"))
	adm := kadm.NewClient(cl)
	testkit.CreateTopic(t, adm, 2, 1, nil, "orders")
	for i := range 100 {
		testkit.Produce(t, cl, &kgo.Record{Value: fmt.Appendf(nil, "order-%d", i)})
	}
	ends := func() int64 {
		t.Helper()
		o, err := adm.ListEndOffsets(t.Context(), "orders")
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		o.Each(func(l kadm.ListedOffset) { sum += l.Offset })
		return sum
	}
	if got := ends(); got != 100 {
		t.Fatalf("orders holds %d records after producing 100", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	mesh := startLocal(t, ctx, m, agent.Config{ReconcileInterval: 200 * time.Millisecond})
	base := "http://" + localAgent(t, mesh, "eu-west").APIAddr()
	const want = "source us-east and target eu-west are the same Kafka cluster shared-7f3a"
	var st agent.Status
	poll.Until(t, 30*time.Second, func() error {
		st = getJSON[agent.Status](t, base+"/v1/status")
		if len(st.Flows) != 1 || !strings.Contains(st.Flows[0].Error, want) {
			return fmt.Errorf("flows %+v, want the flow from us-east with %q", st.Flows, want)
		}
		return nil
	})
	r, err := notReadyFor(t, base, want)
	if err != nil {
		t.Error(err)
	}
	t.Logf("/readyz: %+v", r)
	gauge := -1.0
	for _, mt := range metricFamilies(t, base+"/metrics")["geomesh_mirror_same_cluster"].GetMetric() {
		gauge = mt.GetGauge().GetValue()
	}
	if gauge != 1 {
		t.Errorf("geomesh_mirror_same_cluster = %v, want 1", gauge)
	}
	// Long enough for several passes and any shard to have copied.
	time.Sleep(3 * time.Second)
	if got := ends(); got != 100 {
		t.Errorf("orders holds %d records, want the 100 produced: the flow copied onto its source", got)
	}
	st = getJSON[agent.Status](t, base+"/v1/status")
	if f := st.Flows[0]; len(f.Shards) != 0 || f.Topics.Passes != 0 {
		t.Errorf("the stopped flow runs shards or synced topics: %+v", f)
	}
}
