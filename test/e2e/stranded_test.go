package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/mirror"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// seq is the sequence number produce put in a record's value.
func seq(r *kgo.Record) int {
	v := string(r.Value)
	n, _ := strconv.Atoi(v[strings.LastIndexByte(v, '/')+1:])
	return n
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
	east := kafkatest.Start(t, kafkatest.Options{})
	west := clusters[0]
	mesh := "e2e-st"
	path := failoverMesh(t, mesh, east, west, filepath.Join(t.TempDir(), "hooks.jsonl"))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(data), `topics: {include: ["orders"]}`, `topics: {include: ["ledger"]}`, 1)
	yaml = strings.Replace(yaml, "failover:\n", "failover:\n  stranded: quarantine\n", 1)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ma := newMeshAgents(t, path)
	eastName, westName := mesh+"-east", mesh+"-west"

	createTopic(t, east, "ledger", 3, nil)
	ea, wa, _ := ma.start(eastName), ma.start(westName), ma.start(mesh+"-witness")
	eventually(t, 30*time.Second, func() error {
		if err := roleAt(ea, "primary", 1); err != nil {
			return err
		}
		return roleAt(wa, "standby", 1)
	})
	produce(t, east, eastName, "ledger", 0, 100)
	readTopic(t, west, "ledger", 100, 30*time.Second)

	// Replication stops, the primary takes 37 more, then its region dies.
	if err := wa.Close(); err != nil {
		t.Log(err)
	}
	const strandedN = 37
	produce(t, east, eastName, "ledger", 100, strandedN)
	if err := ea.Close(); err != nil {
		t.Log(err)
	}
	if err := east.KillBroker(0); err != nil {
		t.Fatal(err)
	}
	wa = ma.start(westName)
	eventually(t, 60*time.Second, func() error { return roleAt(wa, "primary", 2) })
	produce(t, west, westName, "ledger", 1000, 20)

	// The old primary returns, settles and rejoins.
	if err := east.StartBroker(ctx, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ea = ma.start(eastName)
	eventually(t, 90*time.Second, func() error { return roleAt(ea, "standby", 3) })
	t.Logf("old primary settled and rejoined as a standby at epoch 3 %.1fs after its agent started", time.Since(start).Seconds())

	st := ea.Failover().Stranded
	if st == nil || st.State != "settled" || st.Records != strandedN || st.Policy != "quarantine" || st.Target != westName || st.Topics["ledger"] != strandedN {
		t.Fatalf("stranded status of %s: %+v, want %d settled records of ledger quarantined on %s", eastName, st, strandedN, westName)
	}
	t.Logf("stranded status: %d records (%v), %d attempt(s)", st.Records, st.Topics, st.Attempts)
	resp, err := http.Get("http://" + ea.APIAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `geomesh_failover_stranded_records_total{policy="quarantine"} 37`; !strings.Contains(string(body), want) {
		t.Errorf("/metrics of %s lacks %s", eastName, want)
	}
	rejoin := false
	for _, ev := range wa.Failover().Events {
		if ev.Kind == machine.DecisionRejoin && ev.Epoch == 3 && strings.Contains(ev.Reason, "37 (quarantine)") {
			rejoin = true
		}
	}
	if !rejoin {
		t.Errorf("no rejoin event at epoch 3 naming 37 quarantined records among %v", wa.Failover().Events)
	}

	// Exactly the 37, once each, with provenance, in ledger.stranded.
	var src []*kgo.Record
	for _, r := range readTopic(t, east, "ledger", 100+strandedN+20, 30*time.Second) {
		if _, copied := header(r, mirror.HeaderOriginRegion); !copied && seq(r) >= 100 {
			src = append(src, r)
		}
	}
	if len(src) != strandedN {
		t.Fatalf("old primary holds %d records it took after replication stopped, want %d", len(src), strandedN)
	}
	quarantined := readTopic(t, west, "ledger.stranded", strandedN, 30*time.Second)
	if len(quarantined) != strandedN {
		t.Errorf("ledger.stranded on %s holds %d records, want %d", westName, len(quarantined), strandedN)
	}
	checkCopies(t, eastName, src, quarantined, eastName+","+westName)
	t.Logf("ledger.stranded on %s: %d records, each a copy of one of the %d stranded ones", westName, len(quarantined), len(src))
	live := readTopic(t, west, "ledger", 120, 30*time.Second)
	if n := countFrom(live, eastName); n != 100 {
		t.Errorf("live ledger on %s holds %d copies from %s, want the 100 replicated before the loss", westName, n, eastName)
	}

	// Failback home, then new writes: the resumed flow copies them and
	// not the settled records.
	// A majority must see the old primary up before the switch starts.
	eventually(t, 60*time.Second, func() error {
		out, err := exec.CommandContext(ctx, geomeshBinary(t), "failback", "--topology", path, "--wait", "60s").CombinedOutput()
		if err != nil {
			return fmt.Errorf("geomesh failback: %v: %s", err, out)
		}
		return nil
	})
	eventually(t, 20*time.Second, func() error { return roleAt(ea, "primary", 5) })
	eventually(t, 20*time.Second, func() error { return roleAt(wa, "standby", 5) })
	produce(t, east, eastName, "ledger", 2000, 10)
	var all []*kgo.Record
	eventually(t, 60*time.Second, func() error {
		all = readTopic(t, west, "ledger", 130, 5*time.Second)
		if n := countFrom(all, eastName); n < 110 {
			return fmt.Errorf("live ledger on %s: %d copies from %s, want 110", westName, n, eastName)
		}
		return nil
	})
	var want []*kgo.Record
	for _, r := range readTopic(t, east, "ledger", 100+strandedN+20+10, 10*time.Second) {
		if _, copied := header(r, mirror.HeaderOriginRegion); !copied && (seq(r) < 100 || seq(r) >= 2000) {
			want = append(want, r)
		}
	}
	if n := countFrom(all, eastName); n != 110 {
		t.Errorf("after failback the live ledger on %s holds %d copies from %s, want 110 (the 37 stranded ones only in ledger.stranded)", westName, n, eastName)
	}
	checkCopies(t, eastName, want, all, eastName+","+westName)
	if q := readTopic(t, west, "ledger.stranded", strandedN, 2*time.Second); len(q) != strandedN {
		t.Errorf("after failback ledger.stranded holds %d records, want %d", len(q), strandedN)
	}
}

func countFrom(rs []*kgo.Record, origin string) int {
	n := 0
	for _, r := range rs {
		if o, _ := header(r, mirror.HeaderOriginRegion); o == origin {
			n++
		}
	}
	return n
}
