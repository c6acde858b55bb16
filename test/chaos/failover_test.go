//go:build linux

package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/test/chaos/history"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/test/netns"
)

// controlPort is where each agent's embedded control-plane node listens.
const controlPort = 6222

// meshDetection is the failover detection of the meshes here unless
// meshOptions says otherwise: gossip declares a silent agent dead after
// 0.5s + 0.25s + 3 × 0.5s = 2.25s, and a region is down 3s after that
// (down_after), about 8s in all from a cut to a promotion.
const meshDetection = "{probe_interval: 500ms, probe_timeout: 250ms, suspicion_mult: 3, kafka_probe_interval: 1s, down_after: 3s}"

// meshOptions varies the failover mesh.
type meshOptions struct {
	// delay is the one-way delay of every WAN link. Default: wanDelay.
	delay time.Duration
	// loss is the fraction of packets every WAN link loses. Default: 0.
	loss float64
	// detection is the topology's failover.detection. Default:
	// meshDetection.
	detection string
	// app adds a namespace for the application, linked to every region
	// like the regions are to each other.
	app bool
	// basePort makes both clusters listen on the same ports from there
	// (kafkatest.Options.BasePort), as clients that follow a DNS name
	// between regions need. Default: free ports.
	basePort int
	// hook returns the exec command of a failover hook in the agents'
	// topology, given the regions' namespaces. Default: none.
	hook func(regions []*netns.NS) []string
}

// failoverMesh is an active-passive mesh with a witness, each region in
// its namespace with its agent as a process, linked by WAN links.
type failoverMesh struct {
	net                 *netns.Net
	east, west, witness *netns.NS
	// app is the application's namespace, nil unless meshOptions.app.
	app      *netns.NS
	bin      string
	path     string // the topology file of the agents
	appPath  string // the application's (fences_test.go)
	clusters map[*netns.NS]*kafkatest.Cluster
	agents   map[*netns.NS]*agent
}

// startFailoverMesh starts the mesh and returns once us-east is primary
// and eu-west standby at epoch 1, with topic orders in us-east, the
// application's ACLs on it in both regions (fences_test.go) and
// eu-west's fence refusing the application's writes.
func startFailoverMesh(t *testing.T, opts meshOptions) *failoverMesh {
	t.Helper()
	if opts.delay == 0 {
		opts.delay = wanDelay
	}
	if opts.detection == "" {
		opts.detection = meshDetection
	}
	n := netns.New(t, netns.Options{RelayUDPPorts: []int{gossipPort}})
	east, west, witness := n.Add("us-east"), n.Add("eu-west"), n.Add("witness")
	links := [][2]*netns.NS{{east, west}, {east, witness}, {west, witness}}
	var app *netns.NS
	if opts.app {
		app = n.Add("app")
		links = append(links, [2]*netns.NS{app, east}, [2]*netns.NS{app, west}, [2]*netns.NS{app, witness})
	}
	for _, p := range links {
		if err := n.WAN(p[0], p[1], netns.Link{Delay: opts.delay, Loss: opts.loss}); err != nil {
			t.Fatal(err)
		}
	}
	bin := testkit.BuildGeomesh(t)
	clusters := startClusters(t, []*netns.NS{east, west}, kafkatest.Options{BasePort: opts.basePort, Authorizer: authorizer()})
	testkit.CreateTopic(t, testkit.Admin(t, clusters[east].ClientOptions()...), 3, -1, nil, "orders")
	grantApp(t, clusters[east])
	grantApp(t, clusters[west])

	name := fmt.Sprintf("nsfo%d", time.Now().UnixNano()%1e6)
	regions := []*netns.NS{east, west, witness}
	path := writeTopology(t, "mesh.yaml", name, opts.detection, regions, func(ns *netns.NS) string {
		if c := clusters[ns]; c != nil {
			return fmt.Sprintf("{bootstrap: [%s]}", c.Bootstrap()[0])
		}
		return ""
	})
	if opts.hook != nil {
		addHook(t, path, opts.hook(regions))
	}
	appPath := appTopology(t, name, opts.detection, clusters, regions)
	agents := map[*netns.NS]*agent{}
	for _, ns := range []*netns.NS{east, west, witness} {
		agents[ns] = startAgent(t, bin, ns, ns.Region+"-1", path)
	}
	waitRole(t, agents[east], 60*time.Second, "primary", 1, false)
	waitRole(t, agents[west], 30*time.Second, "standby", 1, false)
	// The primary takes the mesh state's stream leader home within a probe
	// interval or two; until then losing the node that leads it stalls the
	// primary's writes for an election and fences it.
	poll.Until(t, 30*time.Second, func() error {
		fs, err := agents[east].failover(t.Context())
		if err != nil {
			return err
		}
		if fs.StateLeader != agents[east].id {
			return fmt.Errorf("state leader %q, want %s", fs.StateLeader, agents[east].id)
		}
		return nil
	})
	m := &failoverMesh{net: n, east: east, west: west, witness: witness, app: app, bin: bin, path: path, appPath: appPath, clusters: clusters, agents: agents}
	m.waitFence(t, time.Time{}, "eu-west", "refused", 30*time.Second)
	return m
}

// startClusters starts a single-node cluster in each namespace, all at
// once, with opts placed in the namespace; each is closed when the test
// ends, after logging its broker's last lines if the test failed.
func startClusters(t *testing.T, nss []*netns.NS, opts kafkatest.Options) map[*netns.NS]*kafkatest.Cluster {
	t.Helper()
	clusters := map[*netns.NS]*kafkatest.Cluster{}
	var wg sync.WaitGroup
	for _, ns := range nss {
		o := opts
		o.Host, o.CommandPrefix, o.Dial = ns.Addr.String(), ns.Prefix(), ns.Dial
		c, err := kafkatest.New(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("broker of %s, last 60 lines:\n%s", ns.Region, c.LogTail(0, 60))
			}
			_ = c.Close()
		})
		clusters[ns] = c
		wg.Go(func() {
			if err := c.Start(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return clusters
}

// failoverBound is how soon the standby of a failover mesh with
// meshDetection must be primary after the primary was cut off: gossip
// finds the primary's agent dead after 2.25s, its cluster is down 3s
// after the first failed probe (at most 1s + 250ms after the cut), the
// control plane elects a new leader for the mesh state (the cut-off
// primary kept it, 2–3s), and one compare-and-set decides: about 8s,
// with room for a loaded 2-core machine.
const failoverBound = 15 * time.Second

// TestNetnsFailover cuts the primary region off from the rest of the mesh
// with network namespaces: us-east (primary), eu-west (standby) and a
// witness, each with its agent as a process, an embedded control plane
// and 10ms WAN links. eu-west must refuse the application's writes while
// it is standby (its fence is real: the clusters run an authorizer).
// After the cut, from the agents' own journals: eu-west is primary at
// epoch 2 within failoverBound, us-east fenced itself and its cluster
// refused writes before eu-west's accepted them, and no two clusters
// accepted writes at once; the new primary takes the application's
// writes; after the cut heals the old primary rejoins as a standby and
// receives them. Every acknowledged record ends up in both regions,
// once, in order.
func TestNetnsFailover(t *testing.T) {
	m := startFailoverMesh(t, meshOptions{})
	n, east, west := m.net, m.east, m.west
	clusters, agents := m.clusters, m.agents
	src, tgt := clusters[east], clusters[west]
	var wg sync.WaitGroup
	var rec history.Recorder
	ctx, cancel := context.WithCancel(t.Context())
	defer wg.Wait()
	defer cancel()
	m.watchWriters(ctx, &wg, &rec)
	for _, ns := range []*netns.NS{east, west} {
		c := &consumer{cluster: clusters[ns], region: ns.Region, topic: "orders", rec: &rec}
		wg.Go(func() { c.run(ctx) })
	}

	if err := appWrite(t.Context(), tgt); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("the application writing to eu-west, the standby: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	produceSync(t, src, "us-east", "east", 300, &rec)
	waitRead(t, &rec, "eu-west", 300, 60*time.Second)

	if err := n.Isolate(east); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	waitRole(t, agents[west], 60*time.Second, "primary", 2, false)
	accepted := m.waitFence(t, cut, "eu-west", history.WritesAccepted, 30*time.Second)
	evs := since(m.events(t), cut)
	promoted, ok := firstRole(evs, "eu-west", func(e agentEvent) bool { return e.role == "primary" && e.epoch == 2 })
	if !ok {
		t.Fatalf("eu-west's journal has no promotion at epoch 2: %v", evs)
	}
	selfFenced, fencedOK := firstRole(evs, "us-east", func(e agentEvent) bool { return e.selfFenced })
	refused, refusedOK := firstFence(evs, "us-east", history.WritesRefused)
	t.Logf("after the cut: us-east fenced itself at %s, its cluster refused writes at %s; eu-west primary at %s, accepted writes at %s (requested %s)",
		rel(selfFenced.at, cut), rel(refused.at, cut), rel(promoted.at, cut), rel(accepted.at, cut), rel(accepted.requested, cut))
	switch {
	case promoted.at.Sub(cut) > failoverBound:
		t.Errorf("eu-west promoted %s after the cut, want within %s", promoted.at.Sub(cut).Round(time.Millisecond), failoverBound)
	case !fencedOK || !refusedOK:
		t.Errorf("us-east cut off: self-fenced %v, its cluster refusing writes %v: want both, from its journal", fencedOK, refusedOK)
	case !refused.at.Before(accepted.requested):
		t.Errorf("eu-west accepted writes (requested %s) before us-east's cluster refused them (%s)", rel(accepted.requested, cut), rel(refused.at, cut))
	}

	produceSync(t, tgt, "eu-west", "west", 300, &rec)
	if err := n.HealAll(); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	poll.Until(t, 90*time.Second, func() error {
		st, err := agents[east].status(t.Context())
		if err != nil {
			return err
		}
		if st.Role != "standby" || st.Fenced || st.Epoch < 2 {
			return fmt.Errorf("us-east: role %q epoch %d fenced %v, want an unfenced standby", st.Role, st.Epoch, st.Fenced)
		}
		return nil
	})
	t.Logf("us-east rejoined as standby %.1fs after the cut healed", time.Since(healed).Seconds())
	if err := appWrite(t.Context(), src); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("the application writing to us-east, now a standby: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	waitRead(t, &rec, "us-east", 600, 90*time.Second)

	cancel()
	wg.Wait()
	h := rec.History()
	findings := history.Check(h, history.Options{ExactlyOnce: true, Regions: []string{"us-east", "eu-west"}})
	var journal []string
	for _, e := range since(m.events(t), cut.Add(-time.Second)) {
		journal = append(journal, fmt.Sprintf("%s %s", rel(e.at, cut), e))
	}
	t.Logf("history: %d produced, %d consumed, %d role and %d fence events; journal from the cut on:\n%s",
		len(h.Produces), len(h.Consumes), len(h.Epochs), len(h.Fences), strings.Join(journal, "\n"))
	if !slices.ContainsFunc(h.Epochs, func(e history.Epoch) bool { return e.Region == "us-east" && e.Role == history.RoleFenced }) {
		t.Error("us-east was never fenced while cut off")
	}
	for _, f := range findings {
		t.Error(f)
	}
	if len(findings) > 0 {
		save(t, h, uint64(time.Now().Unix()))
	}
}

// TestNetnsWitnessCutOff cuts the witness off from both data regions for
// longer than a failover takes: the data regions still make a majority
// of the control plane, so nothing fails over, nobody is fenced, no
// cluster's write fence changes, us-east takes the application's writes
// throughout and replication goes on. Every agent's journal stays at
// epoch 1.
func TestNetnsWitnessCutOff(t *testing.T) {
	m := startFailoverMesh(t, meshOptions{})
	var rec history.Recorder
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	m.watchWriters(ctx, &wg, &rec)
	for _, ns := range []*netns.NS{m.east, m.west} {
		c := &consumer{cluster: m.clusters[ns], region: ns.Region, topic: "orders", rec: &rec}
		wg.Go(func() { c.run(ctx) })
	}

	if err := m.net.Isolate(m.witness); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	// Cutting the primary off promotes the standby in about 8s
	// (TestNetnsFailover); 12s is well past that.
	produceSync(t, m.clusters[m.east], "us-east", "during-cut", 300, &rec)
	if !sleep(t.Context(), 12*time.Second) {
		t.Fatal(t.Context().Err())
	}
	waitRead(t, &rec, "eu-west", 300, 30*time.Second)
	for _, ns := range []*netns.NS{m.east, m.west} {
		st, err := m.agents[ns].status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{"us-east": "primary", "eu-west": "standby"}[ns.Region]; st.Role != want || st.Epoch != 1 || st.Fenced {
			t.Errorf("%s with the witness cut off: role %q epoch %d fenced %v, want %s at epoch 1", ns.Region, st.Role, st.Epoch, st.Fenced, want)
		}
	}
	if err := m.net.HealAll(); err != nil {
		t.Fatal(err)
	}
	produceSync(t, m.clusters[m.east], "us-east", "after-heal", 100, &rec)
	waitRead(t, &rec, "eu-west", 400, 30*time.Second)

	cancel()
	wg.Wait()
	h := rec.History()
	for _, e := range h.Epochs {
		if e.Epoch != 1 || e.Role == history.RoleFenced {
			t.Errorf("%s: %s %s at epoch %d with only the witness cut off", e.Observer, e.Region, e.Role, e.Epoch)
		}
	}
	for _, e := range since(m.events(t), cut) {
		if e.msg == msgFence {
			t.Errorf("a write fence changed with only the witness cut off: %s", e)
		}
	}
	findings := history.Check(h, history.Options{ExactlyOnce: true, Regions: []string{"us-east", "eu-west"}})
	t.Logf("history: %d produced, %d consumed, %d role and %d fence events, %d findings", len(h.Produces), len(h.Consumes), len(h.Epochs), len(h.Fences), len(findings))
	for _, f := range findings {
		t.Error(f)
	}
}

// writeTopology writes the topology file name of the failover mesh:
// us-east primary, eu-west standby, the witness, one agent each with an
// embedded control-plane node; kafka gives each region's kafka settings
// in YAML flow style, "" for the witness.
func writeTopology(t *testing.T, name, mesh, detection string, regions []*netns.NS, kafka func(*netns.NS) string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `mesh: %s
topology: {kind: active-passive, primary: us-east, standby: [eu-west]}
topics: {include: ["orders"]}
groups: {include: ["app-.*"]}
failover:
  mode: automatic
  stranded: quarantine
  detection: %s
control_plane: {embedded: true}
# The namespaces' addresses are private to this machine.
allow_insecure: [control-plane-without-tls, api-without-token, sasl-plain-without-tls]
regions:
`, mesh, detection)
	for _, ns := range regions {
		fmt.Fprintf(&b, "  - name: %s\n", ns.Region)
		if k := kafka(ns); k != "" {
			fmt.Fprintf(&b, "    kafka: %s\n", k)
		} else {
			b.WriteString("    witness: true\n")
		}
		fmt.Fprintf(&b, "    agents:\n      - {id: %s-1, gossip: %s, api: %s, control: %s}\n",
			ns.Region, ns.Host(gossipPort), ns.Host(apiPort), ns.Host(controlPort))
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// addHook adds the failover hook exec to the topology file at path,
// which writeTopology wrote.
func addHook(t *testing.T, path string, exec []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	quoted := make([]string, len(exec))
	for i, a := range exec {
		quoted[i] = strconv.Quote(a)
	}
	hooks := fmt.Sprintf("failover:\n  hooks:\n    - exec: [%s]\n      timeout: 20s\n", strings.Join(quoted, ", "))
	with := strings.Replace(string(b), "failover:\n", hooks, 1)
	if with == string(b) {
		t.Fatalf("%s has no failover section", path)
	}
	if err := os.WriteFile(path, []byte(with), 0o600); err != nil {
		t.Fatal(err)
	}
}

// watchWriters records every agent's writer journal into rec, roles and
// write fences (watchEpochs), in goroutines on wg, until ctx ends.
func (m *failoverMesh) watchWriters(ctx context.Context, wg *sync.WaitGroup, rec *history.Recorder) {
	for _, a := range m.agents {
		wg.Go(func() { watchJournal(ctx, a, rec, true) })
	}
}

// watchRoles records the role changes of every agent's journal into rec,
// in goroutines on wg, until ctx ends.
func (m *failoverMesh) watchRoles(ctx context.Context, wg *sync.WaitGroup, rec *history.Recorder) {
	for _, a := range m.agents {
		wg.Go(func() { watchJournal(ctx, a, rec, false) })
	}
}

// waitRole polls the agent until it reports role at epoch (and fenced as
// given).
func waitRole(t *testing.T, a *agent, timeout time.Duration, role string, epoch uint64, fenced bool) {
	t.Helper()
	poll.Until(t, timeout, func() error {
		st, err := a.status(t.Context())
		if err != nil {
			return err
		}
		if st.Role != role || st.Epoch != epoch || st.Fenced != fenced {
			return fmt.Errorf("%s: role %q epoch %d fenced %v, want %q at %d fenced %v", a.id, st.Role, st.Epoch, st.Fenced, role, epoch, fenced)
		}
		return nil
	})
}

// produceSync writes count records with ids prefix/0.. into region's
// cluster as the application, whose writes a write fence refuses,
// idempotently, and records them.
func produceSync(t *testing.T, c *kafkatest.Cluster, region, prefix string, count int, rec *history.Recorder) {
	t.Helper()
	produce(t, c.UserOptions(appUser), region, prefix, count, rec)
}

func produce(t *testing.T, opts []kgo.Opt, region, prefix string, count int, rec *history.Recorder) {
	t.Helper()
	cl := testkit.Client(t, append(opts, kgo.DefaultProduceTopic("orders"))...)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, count)
	for i := range recs {
		id := fmt.Sprintf("%s/%d", prefix, i)
		recs[i] = &kgo.Record{Key: []byte(id), Value: []byte(id)}
	}
	res := cl.ProduceSync(ctx, recs...)
	now := time.Now()
	for _, r := range res {
		rec.Produced(history.Produce{Time: now, Region: region, Topic: "orders", Partition: r.Record.Partition,
			Offset: r.Record.Offset, ID: string(r.Record.Value), Acked: r.Err == nil})
	}
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce into %s: %v", region, err)
	}
}

// waitRead waits until region's consumer has read at least count
// distinct records.
func waitRead(t *testing.T, rec *history.Recorder, region string, count int, timeout time.Duration) {
	t.Helper()
	poll.Until(t, timeout, func() error {
		ids := map[string]bool{}
		for _, c := range rec.History().Consumes {
			if c.Region == region {
				ids[c.ID] = true
			}
		}
		if len(ids) < count {
			return fmt.Errorf("%s read %d of %d records", region, len(ids), count)
		}
		return nil
	})
}
