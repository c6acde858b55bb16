//go:build linux

package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/test/chaos/history"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/test/netns"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kindMesh is a mesh of another topology kind than active-passive in
// network namespaces: every region in its namespace with its agent as a
// process and an embedded control-plane node, each pair of regions
// linked by a WAN link of wanDelay each way.
type kindMesh struct {
	net      *netns.Net
	ns       map[string]*netns.NS
	clusters map[string]*kafkatest.Cluster
	agents   map[string]*agent
}

// startKindMesh starts the regions (data regions with a Kafka cluster,
// witness without), writes the topology with the topology section given
// and starts one agent per region.
func startKindMesh(t *testing.T, topologySection string, data []string, witness string) *kindMesh {
	t.Helper()
	n := netns.New(t, netns.Options{RelayUDPPorts: []int{gossipPort}})
	m := &kindMesh{net: n, ns: map[string]*netns.NS{}, clusters: map[string]*kafkatest.Cluster{}, agents: map[string]*agent{}}
	all := append([]string{}, data...)
	if witness != "" {
		all = append(all, witness)
	}
	var nss []*netns.NS
	for _, r := range all {
		m.ns[r] = n.Add(r)
		nss = append(nss, m.ns[r])
	}
	for i := range nss {
		for j := i + 1; j < len(nss); j++ {
			if err := n.WAN(nss[i], nss[j], netns.Link{Delay: wanDelay}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var dataNS []*netns.NS
	for _, r := range data {
		dataNS = append(dataNS, m.ns[r])
	}
	for ns, c := range startClusters(t, dataNS, kafkatest.Options{}) {
		m.clusters[ns.Region] = c
	}
	var b strings.Builder
	fmt.Fprintf(&b, `mesh: nskind%d
%s
topics: {include: ["orders"]}
failover:
  mode: automatic
  stranded: quarantine
  detection: %s
control_plane: {embedded: true}
allow_insecure: [control-plane-without-tls, api-without-token]
regions:
`, time.Now().UnixNano()%1e6, strings.TrimSpace(topologySection), meshDetection)
	for _, r := range all {
		ns := m.ns[r]
		fmt.Fprintf(&b, "  - name: %s\n", r)
		if c := m.clusters[r]; c != nil {
			fmt.Fprintf(&b, "    kafka: {bootstrap: [%s]}\n", c.Bootstrap()[0])
		} else {
			b.WriteString("    witness: true\n")
		}
		fmt.Fprintf(&b, "    agents:\n      - {id: %s-1, gossip: %s, api: %s, control: %s}\n", r, ns.Host(gossipPort), ns.Host(apiPort), ns.Host(controlPort))
	}
	path := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := testkit.BuildGeomesh(t)
	for _, r := range all {
		m.agents[r] = startAgent(t, bin, m.ns[r], r+"-1", path)
	}
	return m
}

// waitRoles waits until every agent named reports its role at the epoch.
func (m *kindMesh) waitRoles(t *testing.T, timeout time.Duration, epoch uint64, roles map[string]string) {
	t.Helper()
	for r, role := range roles {
		waitRole(t, m.agents[r], timeout, role, epoch, false)
	}
}

// consume starts a read_committed consumer of each region's topics into
// rec, owned by wg, until ctx ends.
func (m *kindMesh) consume(ctx context.Context, wg *sync.WaitGroup, rec *history.Recorder, topics map[string][]string) {
	for r, ts := range topics {
		for _, topic := range ts {
			c := &consumer{cluster: m.clusters[r], region: r, topic: topic, rec: rec}
			wg.Go(func() { c.run(ctx) })
		}
	}
}

// kill ends region's agent and broker with SIGKILL, as a region's loss
// does, and returns when.
func (m *kindMesh) kill(t *testing.T, rec *history.Recorder, region string, epoch uint64) time.Time {
	t.Helper()
	a := m.agents[region]
	at := time.Now()
	if err := a.kill(); err != nil {
		t.Fatal(err)
	}
	rec.EpochSeen(history.Epoch{Time: at, Epoch: epoch, Region: region, Role: "killed", Observer: a.id})
	if err := m.clusters[region].KillBroker(0); err != nil {
		t.Fatal(err)
	}
	return at
}

// restore starts region's broker and agent again.
func (m *kindMesh) restore(t *testing.T, region string) {
	t.Helper()
	if err := m.clusters[region].StartBroker(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.agents[region].start(); err != nil {
		t.Fatal(err)
	}
}

// decidedAt waits until observer's agent knows a decision of kind about
// region (its From) after epoch, and returns the decision's time, by the
// clock of the agent that made it.
func (m *kindMesh) decidedAt(t *testing.T, observer, kind, region string, after uint64) time.Time {
	t.Helper()
	var at time.Time
	poll.Until(t, 60*time.Second, func() error {
		var fs struct {
			Events []api.Event `json:"events"`
		}
		if err := m.agents[observer].get(t.Context(), "/v1/failover", &fs); err != nil {
			return err
		}
		for _, e := range fs.Events {
			if string(e.Kind) == kind && e.From == region && e.Epoch > after {
				at = e.Time
				return nil
			}
		}
		return fmt.Errorf("%s knows no %s of %s after epoch %d: %+v", observer, kind, region, after, fs.Events)
	})
	return at
}

// judge stops the consumers and checks what they read: every
// acknowledged record read once in each of regions.
func judge(t *testing.T, stop context.CancelFunc, consumers *sync.WaitGroup, rec *history.Recorder, regions ...string) {
	t.Helper()
	stop()
	consumers.Wait()
	h := rec.History()
	findings := history.Check(h, history.Options{ExactlyOnce: true, Regions: regions})
	t.Logf("history: %d produced, %d consumed, %d findings", len(h.Produces), len(h.Consumes), len(findings))
	for _, f := range findings {
		t.Error(f)
	}
}

// TestNetnsActiveActiveKill kills one of two active regions (its agent
// and its broker, SIGKILL) while both take writes: the other region's
// agents evacuate it within failoverBound (its clients move to the
// survivor), the survivor keeps taking writes, and once the region is
// restored its outbound flow resumes, so what it took before it died
// arrives, and it receives what the survivor took meanwhile. Judged on
// what read_committed consumers in both regions read: every acknowledged
// record in both regions, once (prefix naming: us-east's orders are
// us-east.orders in eu-west).
func TestNetnsActiveActiveKill(t *testing.T) {
	m := startKindMesh(t, "topology: {kind: active-active}\nnaming: prefix", []string{"us-east", "eu-west"}, "witness")
	for _, r := range []string{"us-east", "eu-west"} {
		testkit.CreateTopic(t, testkit.Admin(t, m.clusters[r].ClientOptions()...), 3, -1, nil, "orders")
	}
	m.waitRoles(t, 60*time.Second, 1, map[string]string{"us-east": "active", "eu-west": "active"})
	var rec history.Recorder
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	m.consume(ctx, &wg, &rec, map[string][]string{"us-east": {"orders", "eu-west.orders"}, "eu-west": {"orders", "us-east.orders"}})

	produce(t, m.clusters["us-east"].ClientOptions(), "us-east", "east", 200, &rec)
	produce(t, m.clusters["eu-west"].ClientOptions(), "eu-west", "west", 200, &rec)
	waitRead(t, &rec, "eu-west", 400, 60*time.Second)
	waitRead(t, &rec, "us-east", 400, 60*time.Second)

	// us-east takes writes up to its death: what it acknowledged in its
	// last moments was not copied yet, and arrives once it returns.
	writing, stopWriting := context.WithCancel(ctx)
	var writer sync.WaitGroup
	writer.Go(func() { writeUntil(writing, m.clusters["us-east"].ClientOptions(), "us-east", "east-last", &rec) })
	if !sleep(t.Context(), 2*time.Second) {
		t.Fatal(t.Context().Err())
	}
	killed := m.kill(t, &rec, "us-east", 1)
	copiedBefore := readFrom(rec.History(), "eu-west", "us-east.orders")
	// Its last batch waits for the broker's return: an idempotent
	// producer cannot give up on a batch it sent.
	stopWriting()
	evacuated := m.decidedAt(t, "eu-west", "evacuate", "us-east", 1)
	detection := evacuated.Sub(killed)
	t.Logf("us-east killed: evacuated (its clients to eu-west) %s later, by eu-west's journal", detection.Round(time.Millisecond))
	if detection > failoverBound {
		t.Errorf("us-east evacuated %s after its kill, want within %s", detection.Round(time.Millisecond), failoverBound)
	}
	produce(t, m.clusters["eu-west"].ClientOptions(), "eu-west", "west-after", 200, &rec)

	m.restore(t, "us-east")
	restored := time.Now()
	writer.Wait()
	acked := countAckedIn(rec.History(), "us-east")
	waitRead(t, &rec, "us-east", acked+400, 120*time.Second)
	waitRead(t, &rec, "eu-west", acked+400, 120*time.Second)
	t.Logf("us-east restored: both regions read its %d acknowledged records (%d written in its last 2s, of which eu-west had read %d when it died) and eu-west's 400 within %s",
		acked, acked-200, copiedBefore-200, time.Since(restored).Round(time.Millisecond))

	judge(t, cancel, &wg, &rec, "us-east", "eu-west")
}

// writeUntil writes batches of 10 records with ids prefix/0.. into
// region's orders until ctx ends or a batch fails, and records each
// record with whether it was acknowledged. A batch in flight when the
// region dies ends only once its broker is back.
func writeUntil(ctx context.Context, opts []kgo.Opt, region, prefix string, rec *history.Recorder) {
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic("orders"))...)
	if err != nil {
		return
	}
	defer cl.Close()
	for i := 0; ctx.Err() == nil; i += 10 {
		recs := make([]*kgo.Record, 10)
		for j := range recs {
			id := fmt.Sprintf("%s/%d", prefix, i+j)
			recs[j] = &kgo.Record{Key: []byte(id), Value: []byte(id)}
		}
		res := cl.ProduceSync(context.WithoutCancel(ctx), recs...)
		now := time.Now()
		for _, r := range res {
			rec.Produced(history.Produce{Time: now, Region: region, Topic: "orders", Partition: r.Record.Partition,
				Offset: r.Record.Offset, ID: string(r.Record.Value), Acked: r.Err == nil})
		}
		if res.FirstErr() != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readFrom counts the distinct records region's consumers read from
// topic.
func readFrom(h history.History, region, topic string) int {
	ids := map[string]bool{}
	for _, c := range h.Consumes {
		if c.Region == region && c.Topic == topic {
			ids[c.ID] = true
		}
	}
	return len(ids)
}

// countAckedIn counts the distinct acknowledged records produced into
// region.
func countAckedIn(h history.History, region string) int {
	ids := map[string]bool{}
	for _, p := range h.Produces {
		if p.Acked && p.Region == region {
			ids[p.ID] = true
		}
	}
	return len(ids)
}

// TestNetnsHubKill kills the hub of a hub-spoke mesh (its agent and its
// broker, SIGKILL) while a spoke writes: the standby hub takes the hub's
// role within failoverBound, the spoke's flow into it starts after what
// the standby flow had already copied, so the new hub holds each of the
// spoke's records once, and the spoke's writes after the kill reach it.
// Judged on what read_committed consumers in the spoke and the new hub
// read.
func TestNetnsHubKill(t *testing.T) {
	m := startKindMesh(t, "topology: {kind: hub-spoke, hub: central, standby_hub: central-2, spokes: [store-a]}", []string{"central", "central-2", "store-a"}, "")
	testkit.CreateTopic(t, testkit.Admin(t, m.clusters["store-a"].ClientOptions()...), 3, -1, nil, "orders")
	m.waitRoles(t, 60*time.Second, 1, map[string]string{"central": "hub", "central-2": "standby-hub", "store-a": "spoke"})
	var rec history.Recorder
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	m.consume(ctx, &wg, &rec, map[string][]string{"store-a": {"orders"}, "central-2": {"store-a.orders"}})

	produce(t, m.clusters["store-a"].ClientOptions(), "store-a", "spoke", 200, &rec)
	waitRead(t, &rec, "central-2", 200, 60*time.Second)

	killed := m.kill(t, &rec, "central", 1)
	promoted := m.decidedAt(t, "central-2", "failover", "central", 1)
	detection := promoted.Sub(killed)
	t.Logf("central killed: central-2 hub %s later, by its journal", detection.Round(time.Millisecond))
	if detection > failoverBound {
		t.Errorf("central-2 became hub %s after central's kill, want within %s", detection.Round(time.Millisecond), failoverBound)
	}
	produce(t, m.clusters["store-a"].ClientOptions(), "store-a", "spoke-after", 200, &rec)
	waitRead(t, &rec, "central-2", 400, 60*time.Second)

	judge(t, cancel, &wg, &rec, "store-a", "central-2")
}
