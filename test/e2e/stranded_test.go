package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/syncbuf"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

// seq is the sequence number produce put in a record's value.
func seq(r *kgo.Record) int {
	v := string(r.Value)
	n, _ := strconv.Atoi(v[strings.LastIndexByte(v, '/')+1:])
	return n
}

// strandedN is how many records a stranded scenario's primary takes
// after replication stopped.
const strandedN = 37

// strandedRun is a region loss that strands records, played by
// strandedScenario up to the old primary's rejoin.
type strandedRun struct {
	path               string
	policy             topology.Stranded
	east, west         *kafkatest.Cluster
	eastName, westName string
	// ea, wa are the agents of east (the old primary) and west.
	ea, wa *agent.Agent
	// logs holds the agents' warnings and errors.
	logs syncbuf.Buffer
}

// strandedScenario plays a region loss that strands records under the
// failover.stranded policy, on an active-passive mesh with a witness that
// replicates topic ledger from a cluster of its own (east) to west: east,
// the primary, takes 100 records that reach west; west's agent stops,
// east takes strandedN more (sequence numbers 100 on) that it cannot
// replicate, then east's agent and broker die. West is promoted at epoch
// 2 and takes 20 records (1000 on); east's broker and agent return,
// settle the stranded records and rejoin as a standby at epoch 3.
func strandedScenario(t *testing.T, ctx context.Context, mesh string, policy topology.Stranded, west *kafkatest.Cluster) *strandedRun {
	t.Helper()
	r := &strandedRun{policy: policy, east: kafkatest.Start(t, kafkatest.Options{}), west: west,
		eastName: mesh + "-east", westName: mesh + "-west"}
	r.path = failoverMesh(t, mesh, r.east, west, filepath.Join(t.TempDir(), "hooks.jsonl"))
	data, err := os.ReadFile(r.path)
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(data), `topics: {include: ["orders"]}`, `topics: {include: ["ledger"]}`, 1)
	yaml = strings.Replace(yaml, "failover:\n", "failover:\n  stranded: "+string(policy)+"\n", 1)
	if err := os.WriteFile(r.path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ma := newMeshAgents(t, r.path)
	ma.log = slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, &r.logs), &slog.HandlerOptions{Level: slog.LevelWarn})).With("test", t.Name())

	createTopic(t, r.east, "ledger", 3, nil)
	r.ea, r.wa, _ = ma.startActivePassive(mesh)
	produce(t, r.east, r.eastName, "ledger", 0, 100)
	readTopic(t, west, "ledger", 100, 30*time.Second)

	// Replication stops, the primary takes strandedN more, then its
	// region dies.
	if err := r.wa.Close(); err != nil {
		t.Log(err)
	}
	produce(t, r.east, r.eastName, "ledger", 100, strandedN)
	if err := r.ea.Close(); err != nil {
		t.Log(err)
	}
	if err := r.east.KillBroker(0); err != nil {
		t.Fatal(err)
	}
	r.wa = ma.start(r.westName)
	poll.Until(t, 60*time.Second, func() error { return roleAt(r.wa, "primary", 2) })
	produce(t, west, r.westName, "ledger", 1000, 20)

	// The old primary returns, settles and rejoins.
	if err := r.east.StartBroker(ctx, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.ea = ma.start(r.eastName)
	poll.Until(t, 90*time.Second, func() error { return roleAt(r.ea, "standby", 3) })
	t.Logf("old primary settled and rejoined as a standby at epoch 3 %.1fs after its agent started", time.Since(start).Seconds())
	return r
}

// checkSettled checks what every policy promises once the old primary has
// rejoined, and returns the stranded records: the old primary's status,
// metric and the rejoin decision report strandedN records of ledger
// settled under the policy with west; the old primary holds exactly
// strandedN records of its own past the 100 replicated ones; west's live
// ledger holds no copy from east but those 100, and east holds a copy of
// each of the 20 records west took as primary.
func (r *strandedRun) checkSettled(t *testing.T) []*kgo.Record {
	t.Helper()
	st := r.ea.Failover().Stranded
	if st == nil || st.State != "settled" || st.Records != strandedN || st.Policy != r.policy || st.Target != r.westName || st.Topics["ledger"] != strandedN {
		t.Fatalf("stranded status of %s: %+v, want %d settled records of ledger under policy %s with %s", r.eastName, st, strandedN, r.policy, r.westName)
	}
	t.Logf("stranded status: %d records (%v), %d attempt(s)", st.Records, st.Topics, st.Attempts)
	resp, err := http.Get("http://" + r.ea.APIAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf(`geomesh_failover_stranded_records_total{policy=%q} %d`, r.policy, strandedN); !strings.Contains(string(body), want) {
		t.Errorf("/metrics of %s lacks %s", r.eastName, want)
	}
	rejoin := false
	for _, ev := range r.wa.Failover().Events {
		if ev.Kind == api.DecisionRejoin && ev.Epoch == 3 && strings.Contains(ev.Reason, fmt.Sprintf("%d (%s)", strandedN, r.policy)) {
			rejoin = true
		}
	}
	if !rejoin {
		t.Errorf("no rejoin event at epoch 3 naming %d records settled under policy %s among %v", strandedN, r.policy, r.wa.Failover().Events)
	}

	var stranded []*kgo.Record
	for _, rec := range readTopic(t, r.east, "ledger", 100+strandedN+20, 30*time.Second) {
		if _, copied := testkit.Header(rec, mirror.HeaderOriginRegion); !copied && seq(rec) >= 100 {
			stranded = append(stranded, rec)
		}
	}
	if len(stranded) != strandedN {
		t.Fatalf("old primary holds %d records it took after replication stopped, want %d", len(stranded), strandedN)
	}
	live := readTopic(t, r.west, "ledger", 120, 30*time.Second)
	if n := countFrom(live, r.eastName); n != 100 {
		t.Errorf("live ledger on %s holds %d copies from %s, want the 100 replicated before the loss", r.westName, n, r.eastName)
	}
	back := readTopic(t, r.east, "ledger", 100+strandedN+20, 30*time.Second)
	if n := countFrom(back, r.westName); n != 20 {
		t.Errorf("%s holds %d copies of the 20 records %s took as primary", r.eastName, n, r.westName)
	}
	return stranded
}

// failback switches home and has east take 10 records (2000 on): the
// resumed flow must copy them and not the settled records, so that west's
// live ledger holds every other record of east exactly once.
func (r *strandedRun) failback(t *testing.T, ctx context.Context) {
	t.Helper()
	// A majority must see the old primary up before the switch starts.
	poll.Until(t, 60*time.Second, func() error {
		out, err := exec.CommandContext(ctx, testkit.BuildGeomesh(t), "failback", "--topology", r.path, "--wait", "60s").CombinedOutput()
		if err != nil {
			return fmt.Errorf("geomesh failback: %v: %s", err, out)
		}
		return nil
	})
	poll.Until(t, 20*time.Second, func() error { return roleAt(r.ea, "primary", 5) })
	poll.Until(t, 20*time.Second, func() error { return roleAt(r.wa, "standby", 5) })
	produce(t, r.east, r.eastName, "ledger", 2000, 10)
	var all []*kgo.Record
	poll.Until(t, 60*time.Second, func() error {
		all = readTopic(t, r.west, "ledger", 130, 5*time.Second)
		if n := countFrom(all, r.eastName); n < 110 {
			return fmt.Errorf("live ledger on %s: %d copies from %s, want 110", r.westName, n, r.eastName)
		}
		return nil
	})
	var want []*kgo.Record
	for _, rec := range readTopic(t, r.east, "ledger", 100+strandedN+20+10, 10*time.Second) {
		if _, copied := testkit.Header(rec, mirror.HeaderOriginRegion); !copied && (seq(rec) < 100 || seq(rec) >= 2000) {
			want = append(want, rec)
		}
	}
	if len(want) != 110 {
		t.Fatalf("old primary holds %d records of its own besides the stranded ones, want 110", len(want))
	}
	if n := countFrom(all, r.eastName); n != 110 {
		t.Errorf("after failback the live ledger on %s holds %d copies from %s, want 110 (none of the %d stranded ones)", r.westName, n, r.eastName, strandedN)
	}
	checkCopies(t, r.eastName, want, all, r.eastName+","+r.westName)
}

// TestFailoverStranded: the standby's agent stops, the primary takes 37
// records it cannot replicate, then dies; the standby is promoted. When
// the old primary returns it quarantines exactly those 37 records into
// ledger.stranded on the new primary, with provenance, reports 37 (status,
// metric, the rejoin decision) and rejoins. After the failback home the
// resumed flow copies what the primary takes next, and not the stranded
// records a second time: the new primary's live topic holds every other
// record of the old primary exactly once.
func TestFailoverStranded(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	r := strandedScenario(t, ctx, "e2e-st", topology.StrandedQuarantine, clusters[0])
	src := r.checkSettled(t)

	// Exactly the 37, once each, with provenance, in ledger.stranded.
	quarantined := readTopic(t, r.west, "ledger.stranded", strandedN, 30*time.Second)
	if len(quarantined) != strandedN {
		t.Errorf("ledger.stranded on %s holds %d records, want %d", r.westName, len(quarantined), strandedN)
	}
	checkCopies(t, r.eastName, src, quarantined, r.eastName+","+r.westName)
	t.Logf("ledger.stranded on %s: %d records, each a copy of one of the %d stranded ones", r.westName, len(quarantined), len(src))

	r.failback(t, ctx)
	if q := readTopic(t, r.west, "ledger.stranded", strandedN, 2*time.Second); len(q) != strandedN {
		t.Errorf("after failback ledger.stranded holds %d records, want %d", len(q), strandedN)
	}
}

func countFrom(rs []*kgo.Record, origin string) int {
	n := 0
	for _, r := range rs {
		if o, _ := testkit.Header(r, mirror.HeaderOriginRegion); o == origin {
			n++
		}
	}
	return n
}
