//go:build linux

package chaos

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/test/chaos/history"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/test/netns"
	"github.com/geomesh/geomesh/topology"
)

// Ports inside each region's namespace; a fresh namespace has all free.
const (
	gossipPort = 7946
	apiPort    = 8080
	// wanDelay is the one-way delay between the regions outside SlowLink.
	wanDelay = 10 * time.Millisecond
	// slowDelay is SlowLink's one-way delay.
	slowDelay = 150 * time.Millisecond
	// noControlPort is the control plane TestChaos's mesh names: a port
	// of eu-west's own address in its namespace, where nothing listens.
	noControlPort = 4222
)

// env reads the run's settings: GEOMESH_CHAOS_RUNS schedules (default
// 3), the first seeded GEOMESH_CHAOS_SEED (default the clock) and the
// next ones seed+1, ..., each about GEOMESH_CHAOS_LENGTH of faults
// (default 20s).
func env(t *testing.T) (runs int, seed uint64, length time.Duration) {
	t.Helper()
	runs, seed, length = 3, uint64(time.Now().UnixNano()), 20*time.Second
	var err error
	if v := os.Getenv("GEOMESH_CHAOS_RUNS"); v != "" {
		if runs, err = strconv.Atoi(v); err != nil || runs < 1 {
			t.Fatalf("GEOMESH_CHAOS_RUNS=%q: want a positive number", v)
		}
	}
	if v := os.Getenv("GEOMESH_CHAOS_SEED"); v != "" {
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("GEOMESH_CHAOS_SEED=%q: %v", v, err)
		}
	}
	if v := os.Getenv("GEOMESH_CHAOS_LENGTH"); v != "" {
		if length, err = time.ParseDuration(v); err != nil || length <= 0 {
			t.Fatalf("GEOMESH_CHAOS_LENGTH=%q: want a positive duration", v)
		}
	}
	return runs, seed, length
}

// world is what every run of a test shares: the regions' namespaces and
// Kafka clusters, and the geomesh binary.
type world struct {
	net        *netns.Net
	east, west *netns.NS
	src, tgt   *kafkatest.Cluster
	bin        string
	topics     []string // of the runs so far
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{net: netns.New(t, netns.Options{RelayUDPPorts: []int{gossipPort}})}
	w.east, w.west = w.net.Add("us-east"), w.net.Add("eu-west")
	if err := w.net.WAN(w.east, w.west, netns.Link{Delay: wanDelay}); err != nil {
		t.Fatal(err)
	}
	w.bin = testkit.BuildGeomesh(t)
	cs := startClusters(t, []*netns.NS{w.east, w.west}, kafkatest.Options{})
	w.src, w.tgt = cs[w.east], cs[w.west]
	return w
}

// TestChaos runs seeded fault schedules against an active-passive pair of
// regions in network namespaces, each with a real Kafka broker: a
// transactional producer writes into us-east (committing most
// transactions, aborting some), the eu-west agent copies exactly once
// across a WAN link, a read_committed consumer in eu-west reads the copy,
// and the schedule kills and freezes the agent, partitions the regions,
// slows the link and restarts brokers. Once the faults end and the agent
// has copied to us-east's end offsets, the topic's logs in both regions
// are the ground truth: eu-west must hold every record us-east committed
// exactly once, in its partition and order, and nothing else; the
// consumer, which reads on to eu-west's end offsets, must have read every
// one; and the run must clear the floors (checkFloors). The history
// checker judges.
func TestChaos(t *testing.T) {
	runs, seed, length := env(t)
	t.Logf("chaos: %d runs, seed %d, %s of faults each (GEOMESH_CHAOS_SEED=%d replays them)", runs, seed, length, seed)
	w := newWorld(t)
	for i := range runs {
		s := seed + uint64(i)
		t.Run(fmt.Sprintf("seed-%d", s), func(t *testing.T) { w.run(t, i, s, length) })
	}
}

func (w *world) run(t *testing.T, i int, seed uint64, length time.Duration) {
	topic := fmt.Sprintf("chaos-%d-%d", i, seed%100000)
	steps := Schedule(seed, length)
	adm, err := kgo.NewClient(w.src.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	testkit.CreateTopic(t, kadm.NewClient(adm), 3, -1, nil, topic)
	earlier := w.topics
	w.topics = append(w.topics, topic)
	path := w.topology(t, topic, seed)
	ag := startAgent(t, w.bin, w.west, "eu-west-1", path)
	defer ag.terminate()

	var rec history.Recorder
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	prod := &producer{w: w, topic: topic, rec: &rec, rng: rand.New(rand.NewPCG(seed, 1)), txnID: topic}
	produced := make(chan struct{})
	wg.Go(func() {
		defer close(produced)
		prod.run(ctx)
	})
	cons := &consumer{cluster: w.tgt, region: "eu-west", topic: topic, rec: &rec}
	consCtx, stopCons := context.WithCancel(t.Context())
	defer stopCons()
	wg.Go(func() { cons.run(consCtx) })
	wg.Go(func() { watchEpochs(ctx, ag, &rec) })

	begin := time.Now()
	for n, s := range steps {
		if !sleep(t.Context(), s.Pause) {
			return
		}
		t.Logf("step %d/%d at %s: %s", n+1, len(steps), time.Since(begin).Round(time.Millisecond), s)
		if err := w.apply(t.Context(), ag, s); err != nil {
			t.Fatalf("step %s: %v", s, err)
		}
	}
	cancel() // the producer stops; the consumer goes on
	<-produced
	t.Logf("faults done after %s; %s", time.Since(begin).Round(time.Millisecond), prod)

	w.groundTruth(t, ag, &rec, cons, topic, earlier)
	stopCons()
	wg.Wait()
	h := rec.History()
	opts := history.Options{ExactlyOnce: true, Regions: []string{"eu-west"},
		Mirrors: []history.Mirror{{Source: history.Place{Region: "us-east", Topic: topic}, Target: history.Place{Region: "eu-west", Topic: topic}}}}
	findings := history.Check(h, opts)
	acked, consumed := countAcked(h), countRead(h, "eu-west")
	t.Logf("history: %d produced (%d acknowledged, %d aborted, %d unresolved), %d consumed in eu-west (%d records); "+
		"ground truth: %d records in us-east, %d in eu-west; %d epoch events; %d findings; agent %d lives",
		len(h.Produces), acked, len(h.Aborts), len(h.Unresolved), len(h.Consumes), consumed,
		countLogged(h, "us-east", topic), countLogged(h, "eu-west", topic), len(h.Epochs), len(findings), ag.lives)
	// A run that acknowledged or read too little proves nothing.
	if err := checkFloors(length, len(h.Produces), acked, consumed); err != nil {
		t.Errorf("%v (%s)", err, prod)
	}
	for n, f := range findings {
		if n == 20 {
			t.Errorf("… and %d more", len(findings)-n)
			break
		}
		t.Error(f)
	}
	if t.Failed() {
		saveWith(t, h, seed, "-regions eu-west "+mirrorFlags(opts.Mirrors))
	}
}

// Floors of a TestChaos run. A healthy 20s run on a busy 2-core machine
// sends thousands of records and has about 7 in 8 acknowledged (one
// transaction in eight is aborted on purpose; a fault fails a few more).
// If most transactions fail, fewer than half are.
const (
	// floorPerSecond is the fewest records a run must acknowledge, and
	// read in eu-west, per second of faults: 500 in 20s.
	floorPerSecond = 25
	// floorAcked is the smallest share of the records sent that a run
	// must have acknowledged.
	floorAcked = 0.6
)

// checkFloors says why a run that sent sent records, acknowledged acked
// and read consumed in eu-west over length of faults is too thin to
// prove anything, if it is.
func checkFloors(length time.Duration, sent, acked, consumed int) error {
	floor := int(floorPerSecond * length.Seconds())
	var errs []error
	if acked < floor {
		errs = append(errs, fmt.Errorf("%d records acknowledged, want at least %d (%d a second of faults)", acked, floor, floorPerSecond))
	}
	if consumed < floor {
		errs = append(errs, fmt.Errorf("%d records read in eu-west, want at least %d (%d a second of faults)", consumed, floor, floorPerSecond))
	}
	if float64(acked) < floorAcked*float64(sent) {
		errs = append(errs, fmt.Errorf("%d of %d records sent acknowledged, want at least %.0f%%", acked, sent, 100*floorAcked))
	}
	return errors.Join(errs...)
}

// groundTruth waits until the run's copy is complete and records the
// logs it judges: us-east holds no open transaction, the agent has copied
// every partition to us-east's end offset and reports lag 0, eu-west
// holds no open transaction, and the consumer has read to eu-west's end
// offsets, so a late duplicate or aborted copy is read too. The logs are
// the topic in both regions and, in eu-west, the records of this run in
// any other topic but those of earlier runs.
func (w *world) groundTruth(t *testing.T, ag *agent, rec *history.Recorder, cons *consumer, topic string, earlier []string) {
	t.Helper()
	ctx := t.Context()
	src, err := stableEnds(ctx, w.src, time.Minute, topic)
	if err != nil {
		t.Error(err)
	}
	if err := ag.waitCopied(ctx, "us-east", src, 90*time.Second); err != nil {
		t.Error(err)
	}
	tgt, err := stableEnds(ctx, w.tgt, time.Minute, topic)
	if err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		cluster *kafkatest.Cluster
		region  string
		ends    map[string]map[int32]bounds
	}{{w.src, "us-east", src}, {w.tgt, "eu-west", tgt}} {
		logs, err := readLogs(ctx, c.cluster, c.region, c.ends, nil)
		if err != nil {
			t.Error(err)
		}
		for _, l := range logs {
			rec.Logged(l)
		}
	}
	others, err := w.otherTopics(ctx, append(earlier, topic))
	if err != nil {
		t.Error(err)
	}
	if len(others) > 0 {
		ends, err := stableEnds(ctx, w.tgt, 10*time.Second, others...)
		if err != nil {
			t.Log(err) // judged up to the last stable offsets
		}
		logs, err := readLogs(ctx, w.tgt, "eu-west", ends, func(id string) bool { return strings.HasPrefix(id, topic+"/") })
		if err != nil {
			t.Error(err)
		}
		strays := 0
		for _, l := range logs {
			if len(l.Records) > 0 {
				rec.Logged(l)
				strays += len(l.Records)
			}
		}
		t.Logf("ground truth: %d records of this run in eu-west's other topics %v", strays, others)
	}
	if err := cons.waitRead(ctx, tgt[topic], 60*time.Second); err != nil {
		t.Error(err)
	}
}

// groundTruth records, once eu-west has copied all of us-east's orders,
// the logs of orders and orders.stranded in both regions, and returns
// the mirrors that judge them: us-east's writes into eu-west with its
// stranded records quarantined there, and eu-west's writes (while it was
// primary) into us-east. None if the logs could not be read.
func (m *failoverMesh) groundTruth(t *testing.T, rec *history.Recorder) []history.Mirror {
	t.Helper()
	ctx := t.Context()
	src, err := stableEnds(ctx, m.clusters[m.east], time.Minute, "orders")
	if err == nil {
		err = m.agents[m.west].waitCopied(ctx, "us-east", src, 90*time.Second)
	}
	if err != nil {
		t.Errorf("ground truth not judged: %v", err)
		return nil
	}
	var held []string
	for _, ns := range []*netns.NS{m.east, m.west} {
		ends, err := stableEnds(ctx, m.clusters[ns], time.Minute, "orders", "orders.stranded")
		var logs []history.Log
		if err == nil {
			logs, err = readLogs(ctx, m.clusters[ns], ns.Region, ends, nil)
		}
		if err != nil {
			t.Errorf("ground truth not judged: %v", err)
			return nil
		}
		n := map[string]int{}
		for _, l := range logs {
			rec.Logged(l)
			n[l.Topic] += len(l.Records)
		}
		held = append(held, fmt.Sprintf("%s %d in orders, %d in orders.stranded", ns.Region, n["orders"], n["orders.stranded"]))
	}
	t.Logf("ground truth: %s", strings.Join(held, "; "))
	east, west := history.Place{Region: "us-east", Topic: "orders"}, history.Place{Region: "eu-west", Topic: "orders"}
	return []history.Mirror{
		{Source: east, Target: west, Quarantine: "orders.stranded"},
		{Source: west, Target: east, Quarantine: "orders.stranded"},
	}
}

// otherTopics lists eu-west's topics other than those in skip.
func (w *world) otherTopics(ctx context.Context, skip []string) ([]string, error) {
	cl, err := kgo.NewClient(w.tgt.ClientOptions()...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	tds, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("eu-west: list topics: %w", err)
	}
	var out []string
	for _, name := range tds.Names() {
		if !slices.Contains(skip, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// bounds are a partition's log start and end offsets.
type bounds struct{ start, end int64 }

// stableEnds waits up to wait until no transaction is open in topics of
// cluster (the last stable offset of every partition is its high
// watermark) and returns each partition's bounds; if one stays open, it
// returns the bounds up to the last stable offsets and an error.
func stableEnds(ctx context.Context, c *kafkatest.Cluster, wait time.Duration, topics ...string) (map[string]map[int32]bounds, error) {
	cl, err := kgo.NewClient(c.ClientOptions()...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(wait)
	for {
		out, open, err := listBounds(ctx, adm, topics)
		switch {
		case err == nil && len(open) == 0:
			return out, nil
		case time.Now().After(deadline):
			if err == nil {
				err = fmt.Errorf("cluster %s: a transaction open for %s in %v", c.Bootstrap()[0], wait, open)
			}
			return out, err
		}
		if !sleep(ctx, 250*time.Millisecond) {
			return out, ctx.Err()
		}
	}
}

// listBounds lists the start, last stable and end offsets of topics'
// partitions and names those whose last stable offset is below the end.
// A topic that does not exist has no partitions.
func listBounds(ctx context.Context, adm *kadm.Client, topics []string) (map[string]map[int32]bounds, []string, error) {
	var lists [3]kadm.ListedOffsets
	for i, list := range []func(context.Context, ...string) (kadm.ListedOffsets, error){
		adm.ListStartOffsets, adm.ListCommittedOffsets, adm.ListEndOffsets,
	} {
		l, err := list(ctx, topics...)
		if err != nil {
			return nil, nil, fmt.Errorf("list offsets of %v: %w", topics, err)
		}
		var errs []error
		l.Each(func(o kadm.ListedOffset) {
			if o.Err != nil && !errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
				errs = append(errs, fmt.Errorf("list offsets of %s[%d]: %w", o.Topic, o.Partition, o.Err))
			}
		})
		if err := errors.Join(errs...); err != nil {
			return nil, nil, err
		}
		lists[i] = l
	}
	starts, stable, ends := lists[0], lists[1], lists[2]
	out := map[string]map[int32]bounds{}
	var open []string
	stable.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			return
		}
		start, _ := starts.Lookup(o.Topic, o.Partition)
		end, _ := ends.Lookup(o.Topic, o.Partition)
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]bounds{}
		}
		out[o.Topic][o.Partition] = bounds{start.Offset, o.Offset}
		if o.Offset < end.Offset {
			open = append(open, fmt.Sprintf("%s[%d] (last stable %d, end %d)", o.Topic, o.Partition, o.Offset, end.Offset))
		}
	})
	slices.Sort(open)
	return out, open, nil
}

// readLogs reads every partition of ends from its start to its end
// offset with read_committed and returns what each holds, all of it or
// the records whose id keep accepts. Transaction markers are read too
// (and left out) so that a partition whose last offset is a marker is
// known to be read to its end.
func readLogs(ctx context.Context, c *kafkatest.Cluster, region string, ends map[string]map[int32]bounds, keep func(id string) bool) ([]history.Log, error) {
	logs := map[string]map[int32]*history.Log{}
	from := map[string]map[int32]kgo.Offset{}
	left := 0
	for topic, ps := range ends {
		logs[topic], from[topic] = map[int32]*history.Log{}, map[int32]kgo.Offset{}
		for p, b := range ps {
			logs[topic][p] = &history.Log{Region: region, Topic: topic, Partition: p, Start: b.start, End: b.end, Records: []history.LogRecord{}}
			if b.end > b.start {
				from[topic][p] = kgo.NewOffset().At(b.start)
				left++
			}
		}
	}
	var err error
	if left > 0 {
		err = readTo(ctx, c, region, logs, from, left, keep)
	}
	var out []history.Log
	now := time.Now()
	for _, ps := range logs {
		for _, l := range ps {
			l.Time = now
			out = append(out, *l)
		}
	}
	slices.SortFunc(out, func(a, b history.Log) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out, err
}

func readTo(ctx context.Context, c *kafkatest.Cluster, region string, logs map[string]map[int32]*history.Log,
	from map[string]map[int32]kgo.Offset, left int, keep func(id string) bool) error {
	cl, err := kgo.NewClient(append(c.ClientOptions(), kgo.ConsumePartitions(from),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %d partitions not read to their end offsets in 1m: %w", region, left, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			l := logs[r.Topic][r.Partition]
			if r.Offset >= l.End {
				return
			}
			if id := string(r.Value); !r.Attrs.IsControl() && (keep == nil || keep(id)) {
				l.Records = append(l.Records, history.LogRecord{Offset: r.Offset, ID: id, Origin: originOf(r)})
			}
			if r.Offset == l.End-1 {
				left--
			}
		})
	}
	return nil
}

// originOf is the region a copy's provenance names, empty for a record
// written where it is.
func originOf(r *kgo.Record) string {
	for _, h := range r.Headers {
		if h.Key == mirror.HeaderOriginRegion {
			return string(h.Value)
		}
	}
	return ""
}

func TestFloors(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		sent, acked, consumed int
		want                  string
	}{
		{name: "a healthy run", sent: 10363, acked: 9166, consumed: 9166},
		{name: "a healthy run on a loaded machine", sent: 2400, acked: 2000, consumed: 2000},
		{name: "most transactions failed", sent: 10000, acked: 4200, consumed: 4200,
			want: "4200 of 10000 records sent acknowledged, want at least 60%"},
		{name: "too few records", sent: 450, acked: 400, consumed: 390,
			want: "400 records acknowledged, want at least 500 (25 a second of faults)\n390 records read in eu-west, want at least 500 (25 a second of faults)"},
		{name: "nothing at all", want: "0 records acknowledged, want at least 500 (25 a second of faults)\n0 records read in eu-west, want at least 500 (25 a second of faults)"},
	} {
		err := checkFloors(20*time.Second, tc.sent, tc.acked, tc.consumed)
		if got := fmt.Sprint(err); (err == nil && tc.want != "") || (err != nil && got != tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// flowStatus is the part of a flow's /v1/status that tells how far it
// copied.
type flowStatus struct {
	Source string `json:"source"`
	Lag    int64  `json:"lag_records"`
	Shards []struct {
		Partitions []struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
			Next      int64  `json:"next_offset"`
		} `json:"partitions"`
	} `json:"shards"`
}

// waitCopied waits up to wait until the agent's flow from source has
// copied every partition of ends to its end offset and reports lag 0.
func (a *agent) waitCopied(ctx context.Context, source string, ends map[string]map[int32]bounds, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := a.copied(ctx, source, ends)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("agent %s: not caught up %s after the faults: %w", a.id, wait, err)
		}
		if !sleep(ctx, 250*time.Millisecond) {
			return ctx.Err()
		}
	}
}

func (a *agent) copied(ctx context.Context, source string, ends map[string]map[int32]bounds) error {
	var st struct {
		Flows []flowStatus `json:"flows"`
	}
	if err := a.get(ctx, "/v1/status", &st); err != nil {
		return err
	}
	for _, f := range st.Flows {
		if f.Source != source {
			continue
		}
		next := map[string]map[int32]int64{}
		for _, sh := range f.Shards {
			for _, p := range sh.Partitions {
				if next[p.Topic] == nil {
					next[p.Topic] = map[int32]int64{}
				}
				next[p.Topic][p.Partition] = p.Next
			}
		}
		for topic, ps := range ends {
			for p, b := range ps {
				if n, ok := next[topic][p]; !ok || n < b.end {
					return fmt.Errorf("flow from %s: %s[%d] copied to %d of %d (reported: %t)", source, topic, p, n, b.end, ok)
				}
			}
		}
		if f.Lag != 0 {
			return fmt.Errorf("flow from %s: lag %d records", source, f.Lag)
		}
		return nil
	}
	return fmt.Errorf("no flow from %s", source)
}

func countAcked(h history.History) int {
	n := 0
	for _, p := range h.Produces {
		if p.Acked {
			n++
		}
	}
	return n
}

// countRead is how many distinct records region read.
func countRead(h history.History, region string) int {
	ids := map[string]bool{}
	for _, c := range h.Consumes {
		if c.Region == region {
			ids[c.ID] = true
		}
	}
	return len(ids)
}

// countLogged is how many records the logs of topic in region hold.
func countLogged(h history.History, region, topic string) int {
	n := 0
	for _, l := range h.Logs {
		if l.Region == region && l.Topic == topic {
			n += len(l.Records)
		}
	}
	return n
}

// save writes a failed run's history where it outlives the test, for
// checkhistory.
func save(t *testing.T, h history.History, seed uint64) { saveWith(t, h, seed, "-regions eu-west") }

// mirrorFlags are the checkhistory flags that judge mirrors.
func mirrorFlags(mirrors []history.Mirror) string {
	var b strings.Builder
	for _, m := range mirrors {
		fmt.Fprintf(&b, " -mirror %s/%s=%s/%s", m.Source.Region, m.Source.Topic, m.Target.Region, m.Target.Topic)
		if m.Quarantine != "" {
			b.WriteString(",quarantine=" + m.Quarantine)
		}
	}
	return strings.TrimSpace(b.String())
}

// saveWith is save that logs the checkhistory command with flags.
func saveWith(t *testing.T, h history.History, seed uint64, flags string) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("geomesh-chaos-%d.jsonl", seed))
	f, err := os.Create(path)
	if err != nil {
		t.Log(err)
		return
	}
	defer f.Close()
	if err := history.WriteJSONL(f, h); err != nil {
		t.Log(err)
		return
	}
	t.Logf("history saved: go run ./test/chaos/history/cmd/checkhistory %s %s", flags, path)
}

func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// topology writes the run's mesh file: us-east primary, eu-west standby,
// one agent each in its namespace. Only eu-west's agent runs: flows
// target the standby. No control plane answers (the file names an
// external one where nothing listens), so no failover happens; the run
// proves the copy, not the decisions.
func (w *world) topology(t *testing.T, topic string, seed uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mesh: chaos-%d\ntopology: {kind: active-passive, primary: us-east, standby: [eu-west]}\n", seed)
	fmt.Fprintf(&b, "topics: {include: [%q]}\nregions:\n", topic)
	for _, r := range []struct {
		ns *netns.NS
		c  *kafkatest.Cluster
	}{{w.east, w.src}, {w.west, w.tgt}} {
		fmt.Fprintf(&b, "  - name: %s\n    kafka:\n      bootstrap: [%s]\n    agents:\n", r.ns.Region, r.c.Bootstrap()[0])
		fmt.Fprintf(&b, "      - {id: %s-1, gossip: %s, api: %s}\n", r.ns.Region, r.ns.Host(gossipPort), r.ns.Host(apiPort))
	}
	// The file must name a control plane; this one never answers, so the
	// agent copies the file's flows and decides nothing (an embedded one
	// would run a NATS node in an agent the test cannot fail over).
	fmt.Fprintf(&b, "control_plane: {urls: [\"nats://%s\"]}\n", w.west.Host(noControlPort))
	// The namespaces' addresses are private to this machine.
	b.WriteString("allow_insecure: [control-plane-without-tls, api-without-token]\n")
	path := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// apply runs one step: the fault, its hold, and its undoing.
func (w *world) apply(ctx context.Context, ag *agent, s Step) error {
	switch s.Fault {
	case KillAgent:
		if err := ag.kill(); err != nil {
			return err
		}
		sleep(ctx, s.Hold)
		return ag.start()
	case StopAgent:
		if err := ag.signal(syscall.SIGSTOP); err != nil {
			return err
		}
		sleep(ctx, s.Hold)
		return ag.signal(syscall.SIGCONT)
	case Partition:
		if err := w.net.Cut(w.east, w.west); err != nil {
			return err
		}
		sleep(ctx, s.Hold)
		return w.net.Heal(w.east, w.west)
	case SlowLink:
		if err := w.net.WAN(w.east, w.west, netns.Link{Delay: slowDelay, Jitter: 20 * time.Millisecond, Loss: 0.01}); err != nil {
			return err
		}
		sleep(ctx, s.Hold)
		return w.net.WAN(w.east, w.west, netns.Link{Delay: wanDelay})
	case RestartSource, RestartTarget:
		c := w.src
		if s.Fault == RestartTarget {
			c = w.tgt
		}
		if err := c.KillBroker(0); err != nil {
			return err
		}
		sleep(ctx, s.Hold)
		return c.StartBroker(ctx, 0)
	}
	return fmt.Errorf("unknown fault %q", s.Fault)
}

// agent is a geomesh agent process in its region's namespace.
type agent struct {
	t     *testing.T
	bin   string
	ns    *netns.NS
	id    string
	args  []string
	state string // its --state-dir, where its control-plane node keeps its data
	log   *os.File
	lives int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current life was reaped
}

// startAgent starts agent id of ns's region from the topology file at
// path; Cleanup stops it and, if the test failed, logs its log's tail.
func startAgent(t *testing.T, bin string, ns *netns.NS, id, path string) *agent {
	t.Helper()
	// GEOMESH_TEST_LOGS keeps the agents' logs in that directory.
	dir := os.Getenv("GEOMESH_TEST_LOGS")
	if dir == "" {
		dir = t.TempDir()
	}
	log, err := os.Create(filepath.Join(dir, strings.NewReplacer("/", "_").Replace(t.Name())+"-"+id+".log"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := topology.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	args := []string{"agent", "--topology", path, "--region", ns.Region, "--id", id}
	if m.ControlPlane.Embedded {
		// An external control plane keeps the state itself.
		args = append(args, "--state-dir", state)
	}
	a := &agent{t: t, bin: bin, ns: ns, id: id, log: log, state: state, args: args}
	t.Cleanup(func() {
		a.terminate()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			if len(b) > 32<<10 {
				b = b[len(b)-32<<10:]
			}
			t.Logf("agent %s log (%d lives), last 32 KiB:\n%s", id, a.lives, b)
		}
		log.Close()
	})
	if err := a.start(); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *agent) start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lives++
	fmt.Fprintf(a.log, "=== life %d at %s ===\n", a.lives, time.Now().Format(time.RFC3339Nano))
	cmd := a.ns.Command(context.Background(), a.bin, a.args...)
	cmd.Stdout, cmd.Stderr = a.log, a.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("agent %s: %w", a.id, err)
	}
	done := make(chan struct{})
	a.cmd, a.done = cmd, done
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	return nil
}

func (a *agent) signal(sig syscall.Signal) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("agent %s: %v: %w", a.id, sig, err)
	}
	return nil
}

func (a *agent) kill() error {
	if err := a.signal(syscall.SIGKILL); err != nil {
		return err
	}
	a.mu.Lock()
	done := a.done
	a.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("agent %s: alive 10s after SIGKILL", a.id)
	}
}

// terminate ends the current life with SIGCONT and SIGTERM, or SIGKILL
// after 10s, and waits for it.
func (a *agent) terminate() {
	a.mu.Lock()
	cmd, done := a.cmd, a.done
	a.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// status is the part of /v1/status the runs look at.
type status struct {
	Role   string `json:"role"`
	Epoch  uint64 `json:"epoch"`
	Fenced bool   `json:"fenced"`
}

// status reads the agent's /v1/status from inside its namespace.
func (a *agent) status(ctx context.Context) (status, error) {
	var st status
	return st, a.get(ctx, "/v1/status", &st)
}

// get decodes the JSON the agent's API serves at path into v.
func (a *agent) get(ctx context.Context, path string, v any) error {
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: a.ns.Dial}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.ns.Host(apiPort)+path, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("agent %s: %w", a.id, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("agent %s: %s: %w", a.id, path, err)
	}
	return nil
}

// producer writes transactions of 5-30 records into us-east, one in eight
// aborted, recording every record: acknowledged if its transaction
// committed, aborted if it surely did not (an abort asked for, or a
// fault before the commit was asked), unresolved if the commit was asked
// and EndTransaction failed.
type producer struct {
	w     *world
	topic string
	rec   *history.Recorder
	rng   *rand.Rand
	txnID string

	mu                                     sync.Mutex
	next                                   int
	committed, aborted, failed, unresolved int // transactions
}

func (p *producer) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("producer: %d records in %d committed, %d aborted, %d failed and aborted, %d unresolved transactions",
		p.next, p.committed, p.aborted, p.failed, p.unresolved)
}

func (p *producer) client() (*kgo.Client, error) {
	return kgo.NewClient(append(p.w.src.ClientOptions(),
		kgo.TransactionalID(p.txnID), kgo.DefaultProduceTopic(p.topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionTimeout(10*time.Second))...)
}

// txnEnd is what the producer knows of a transaction's end.
type txnEnd int

const (
	committed  txnEnd = iota
	aborted           // never committed: an abort was asked, or a fault came first
	unresolved        // the commit was asked and EndTransaction failed
)

func (p *producer) run(ctx context.Context) {
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for sleep(ctx, 30*time.Millisecond) {
		if cl == nil {
			var err error
			if cl, err = p.client(); err != nil {
				continue
			}
		}
		n := 5 + p.rng.IntN(26)
		commit := p.rng.IntN(8) != 0
		recs := make([]*kgo.Record, n)
		p.mu.Lock()
		for i := range recs {
			p.next++
			id := fmt.Sprintf("%s/%d", p.topic, p.next)
			recs[i] = &kgo.Record{Key: []byte(id), Value: []byte(id), Partition: int32(p.rng.IntN(3))}
		}
		p.mu.Unlock()
		out, err := p.transaction(ctx, cl, recs, commit)
		p.mu.Lock()
		switch {
		case out == unresolved:
			p.unresolved++
		case err != nil:
			p.failed++
		case commit:
			p.committed++
		default:
			p.aborted++
		}
		p.mu.Unlock()
		now := time.Now()
		for _, r := range recs {
			id := string(r.Value)
			switch out {
			case aborted:
				p.rec.Aborted(history.Abort{Time: now, Region: "us-east", ID: id})
			case unresolved:
				p.rec.UnresolvedSeen(history.Unresolved{Time: now, Region: "us-east", ID: id})
			}
			p.rec.Produced(history.Produce{Time: now, Region: "us-east", Topic: p.topic, Partition: r.Partition,
				Offset: r.Offset, ID: id, Acked: out == committed})
		}
		if err != nil {
			// A fresh client with the same transactional id fences
			// whatever the failed one left open.
			cl.Close()
			cl = nil
		}
	}
}

// transaction writes recs in one transaction and commits or aborts it.
// An error before the commit is asked leaves the transaction aborted (or
// to be aborted when the next client fences it or it times out); only a
// failed commit leaves its fate unknown.
func (p *producer) transaction(ctx context.Context, cl *kgo.Client, recs []*kgo.Record, commit bool) (txnEnd, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		return aborted, err
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		_ = cl.EndTransaction(ctx, kgo.TryAbort)
		return aborted, err
	}
	err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit))
	switch {
	case !commit:
		return aborted, err
	case err != nil:
		return unresolved, err
	}
	return committed, nil
}

// consumer reads a topic in region with read_committed and records every
// record. It reads the transaction markers too, to know how far it read.
type consumer struct {
	cluster *kafkatest.Cluster
	region  string
	topic   string
	rec     *history.Recorder

	mu   sync.Mutex
	next map[int32]int64 // partition → the offset after the last one read
}

func (c *consumer) run(ctx context.Context) {
	cl, err := kgo.NewClient(append(c.cluster.ClientOptions(), kgo.ConsumeTopics(c.topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(), kgo.MetadataMinAge(500*time.Millisecond))...)
	if err != nil {
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			c.mu.Lock()
			if c.next == nil {
				c.next = map[int32]int64{}
			}
			c.next[r.Partition] = max(c.next[r.Partition], r.Offset+1)
			c.mu.Unlock()
			if r.Attrs.IsControl() {
				return
			}
			c.rec.Consumed(history.Consume{Time: time.Now(), Region: c.region, Topic: r.Topic, Partition: r.Partition,
				Offset: r.Offset, ID: string(r.Value), ReadCommitted: true})
		})
	}
}

// waitRead waits up to wait until the consumer has read every partition
// of ends to its end offset.
func (c *consumer) waitRead(ctx context.Context, ends map[int32]bounds, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		var behind []string
		c.mu.Lock()
		for p, b := range ends {
			if n := max(c.next[p], b.start); n < b.end {
				behind = append(behind, fmt.Sprintf("%s[%d] at %d of %d", c.topic, p, n, b.end))
			}
		}
		c.mu.Unlock()
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			slices.Sort(behind)
			return fmt.Errorf("consumer in %s: not at the end offsets %s after the copy: %v", c.region, wait, behind)
		}
		if !sleep(ctx, 250*time.Millisecond) {
			return ctx.Err()
		}
	}
}
