package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/mirror/offsets"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestOffsetTranslationExact copies a topic with plain records, committed
// and aborted transactions of interleaving producers, and a compacted topic
// with holes, to a target that already holds local records and gets more
// while the copy runs (and the copier restarts); then, for 1,000 random
// committed positions G, the record at the translated offset on the target
// is the copy of the first source record at or after G (key, value,
// headers), or the end of the target partition when G is the source's end.
// It goes on to sync a group and to show that a group active on the target
// is never overwritten.
func TestOffsetTranslationExact(t *testing.T) {
	t.Parallel()
	srcC, dstC := clusters[2], clusters[3]
	const src, dst = "ot-src", "ot-dst"
	const txnTopic, compTopic = "ot-orders", "ot-compact"
	flow := topology.Flow{
		Source: src, Target: dst, Kind: topology.FlowReplicate, Naming: topology.NamingIdentity,
		Topics: topology.MustSelection([]string{"ot-.*"}, nil), Groups: topology.MustSelection([]string{"ot-.*"}, nil),
		Regions: []string{src, dst},
	}

	createTopic(t, srcC, txnTopic, 3, nil)
	createTopic(t, dstC, txnTopic, 3, nil)
	compact := map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.ms":                kadm.StringPtr("100"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
		"min.compaction.lag.ms":     kadm.StringPtr("0"),
		"delete.retention.ms":       kadm.StringPtr("0"),
	}
	createTopic(t, srcC, compTopic, 2, compact)
	createTopic(t, dstC, compTopic, 2, nil) // the target keeps every copy

	// Local records on the target before anything is copied.
	local := client(t, dstC, kgo.DefaultProduceTopic(txnTopic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	writeLocal := func(n int) {
		for i := range n {
			if err := local.ProduceSync(t.Context(), &kgo.Record{Key: []byte("local"), Value: fmt.Appendf(nil, "local-%d", i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeLocal(10)

	// Compacted topic: overwrites in several rounds so that segments roll
	// and the cleaner has something to remove; it runs while the rest is
	// produced and copied.
	overwrite := client(t, srcC, kgo.DefaultProduceTopic(compTopic))
	const rounds = 15
	for round := range rounds {
		var rs []*kgo.Record
		for k := range 20 {
			rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "key-%d", k), Value: fmt.Appendf(nil, "v%d-%d", round, k),
				Headers: []kgo.RecordHeader{{Key: "round", Value: fmt.Appendf(nil, "%d", round)}}})
		}
		if err := overwrite.ProduceSync(t.Context(), rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		// Past segment.ms, so that the next round rolls a segment: the
		// scenario's time, not a wait for a state.
		time.Sleep(150 * time.Millisecond)
	}

	// The cleaner (every 15 s at most) must have finished before the copy
	// starts. Each round rolled a segment (segment.ms 100 < the pause), so
	// the last round is alone in the active segment, which is never
	// cleaned; the cleaner is done when no key repeats before it. With no
	// more writes the active segment never rolls, so nothing is cleaned
	// afterwards, which the end of the test checks. A first pass may run
	// while rounds are still being written, so holes alone do not say the
	// cleaner is done.
	lastRound := strconv.Itoa(rounds - 1)
	var compacted map[int32][]int64
	poll.Until(t, 90*time.Second, func() error {
		compacted = map[int32][]int64{}
		for p := range int32(2) {
			rs := readPartition(t, srcC, compTopic, p)
			offs := offsetsOf(rs)
			compacted[p] = offs
			if len(offs) == 0 || offs[0] == 0 && offs[len(offs)-1]+1 == int64(len(offs)) {
				return fmt.Errorf("no compaction gaps in %s/%d yet", compTopic, p)
			}
			seen := map[string]bool{}
			for _, r := range rs {
				if round, _ := testkit.Header(r, "round"); round == lastRound {
					break
				}
				if seen[string(r.Key)] {
					return fmt.Errorf("%s/%d: key %s still repeats at offset %d: cleaner not done", compTopic, p, r.Key, r.Offset)
				}
				seen[string(r.Key)] = true
			}
		}
		return nil
	})
	for p, offs := range compacted {
		t.Logf("%s/%d compacted: %d records left of %d", compTopic, p, len(offs), offs[len(offs)-1]+1)
	}

	produceMixed(t, srcC, txnTopic, 0)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var parts []mirror.Partition
	for p := range int32(3) {
		parts = append(parts, mirror.Partition{Topic: txnTopic, Partition: p})
	}
	parts = append(parts, mirror.Partition{Topic: compTopic, Partition: 0}, mirror.Partition{Topic: compTopic, Partition: 1})
	runShard := func() (stop func()) {
		sh := mirror.NewShard(mirror.ShardConfig{
			Mesh: "e2e-ot", Flow: flow, Shard: 0, Partitions: parts,
			Source: factoryOf(srcC), Target: factoryOf(dstC), Logger: logger,
		})
		done := make(chan struct{})
		go func() { defer close(done); _ = sh.Run(t.Context()) }()
		return func() { sh.Close(); <-done }
	}

	// Copy, restart the copier with local writes in between, copy more.
	stop := runShard()
	writeLocal(5)
	waitCopied(t, srcC, dstC, flow, parts)
	stop()
	writeLocal(5)
	produceMixed(t, srcC, txnTopic, 1)
	stop = runShard()
	t.Cleanup(stop)
	writeLocal(5)

	waitCopied(t, srcC, dstC, flow, parts)

	tr := offsets.NewTranslator(offsets.Config{
		Flow: flow, Source: client(t, srcC), Target: client(t, dstC), NewTargetClient: factoryOf(dstC), Logger: logger,
	})
	tr.Start(t.Context())
	t.Cleanup(tr.Close)

	srcRecs := map[mirror.Partition][]*kgo.Record{}
	dstRecs := map[mirror.Partition]map[int64]*kgo.Record{}
	srcEnd := map[mirror.Partition]int64{}
	ends, err := kadm.NewClient(client(t, srcC)).ListCommittedOffsets(t.Context(), txnTopic, compTopic)
	if err != nil {
		t.Fatal(err)
	}
	dstEnds, err := kadm.NewClient(client(t, dstC)).ListCommittedOffsets(t.Context(), txnTopic, compTopic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		srcRecs[p] = readPartition(t, srcC, p.Topic, p.Partition)
		dstRecs[p] = map[int64]*kgo.Record{}
		for _, r := range readPartition(t, dstC, p.Topic, p.Partition) {
			dstRecs[p][r.Offset] = r
		}
		o, _ := ends.Lookup(p.Topic, p.Partition)
		srcEnd[p] = o.Offset
	}

	rng := rand.New(rand.NewPCG(5, 5))
	var reqs []offsets.Request
	for range 1000 {
		p := parts[rng.IntN(len(parts))]
		g := rng.Int64N(srcEnd[p] + 1)
		if rng.IntN(20) == 0 {
			g = srcEnd[p]
		}
		reqs = append(reqs, offsets.Request{Topic: p.Topic, Partition: p.Partition, Offset: g})
	}
	start := time.Now()
	var got []offsets.Translation
	for chunk := range slices.Chunk(reqs, 100) {
		res, err := tr.Translate(t.Context(), chunk)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res...)
	}
	took := time.Since(start)
	states := map[offsets.State]int{}
	for i, r := range reqs {
		p := mirror.Partition{Topic: r.Topic, Partition: r.Partition}
		res := got[i]
		if res.Error != "" {
			t.Fatalf("%s/%d at %d: %s", r.Topic, r.Partition, r.Offset, res.Error)
		}
		states[res.State]++
		idx := slices.IndexFunc(srcRecs[p], func(rec *kgo.Record) bool { return rec.Offset >= r.Offset })
		if idx < 0 {
			end, _ := dstEnds.Lookup(p.Topic, p.Partition)
			if res.State != offsets.End || res.TargetOffset < end.Offset {
				t.Fatalf("%s/%d at the end %d: got %+v, want end at or after the target's end %d", r.Topic, r.Partition, r.Offset, res, end.Offset)
			}
			for off := range dstRecs[p] {
				if off >= res.TargetOffset {
					t.Fatalf("%s/%d at the end %d: translated to %d, but the target holds a record at %d", r.Topic, r.Partition, r.Offset, res.TargetOffset, off)
				}
			}
			continue
		}
		want := srcRecs[p][idx]
		copyRec := dstRecs[p][res.TargetOffset]
		if res.State != offsets.Copied || copyRec == nil {
			t.Fatalf("%s/%d at %d: got %+v, want the copy of source offset %d", r.Topic, r.Partition, r.Offset, res, want.Offset)
		}
		if err := sameRecord(want, copyRec); err != nil {
			t.Fatalf("%s/%d at %d → %d: %v", r.Topic, r.Partition, r.Offset, res.TargetOffset, err)
		}
	}
	for p := range int32(2) {
		if now := offsetsOf(readPartition(t, srcC, compTopic, p)); !slices.Equal(now, compacted[p]) {
			t.Fatalf("%s/%d was compacted again during the test; the comparison is void", compTopic, p)
		}
	}
	t.Logf("1000 positions translated in %s (%.2f ms each, 100 per call): %v", took, float64(took.Microseconds())/1000/1000, states)

	t.Run("GroupSync", func(t *testing.T) { testGroupSync(t, srcC, dstC, tr, parts, srcRecs) })
}

// testGroupSync commits source offsets of two groups; the idle one appears
// on the target at the translated offsets, the one with a live member on
// the target keeps its own.
func testGroupSync(t *testing.T, srcC, dstC *kafkatest.Cluster, tr *offsets.Translator, parts []mirror.Partition, srcRecs map[mirror.Partition][]*kgo.Record) {
	srcAdm, dstAdm := kadm.NewClient(client(t, srcC)), kadm.NewClient(client(t, dstC))
	commitSource := func(group string, at func(p mirror.Partition) int64) kadm.Offsets {
		os := kadm.Offsets{}
		for _, p := range parts {
			os.Add(kadm.Offset{Topic: p.Topic, Partition: p.Partition, At: at(p), LeaderEpoch: -1})
		}
		resp, err := srcAdm.CommitOffsets(t.Context(), group, os)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
		return os
	}
	middle := func(p mirror.Partition) int64 { recs := srcRecs[p]; return recs[len(recs)/2].Offset }
	commitSource("ot-idle", middle)

	// A live member on the target, holding offset 0 of every partition.
	member := client(t, dstC, kgo.ConsumerGroup("ot-active"), kgo.ConsumeTopics(parts[0].Topic, parts[3].Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	zero := kadm.Offsets{}
	for _, p := range parts {
		zero.Add(kadm.Offset{Topic: p.Topic, Partition: p.Partition, At: 0, LeaderEpoch: -1})
	}
	poll.Until(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		member.PollFetches(ctx)
		described, err := dstAdm.DescribeGroups(t.Context(), "ot-active")
		if err != nil {
			return err
		}
		if g := described["ot-active"]; g.State != "Stable" {
			return fmt.Errorf("ot-active is %s", g.State)
		}
		return nil
	})
	// The coordinator refuses an admin commit to a group with members:
	// that is what closes the race between checking and committing.
	if resp, err := dstAdm.CommitOffsets(t.Context(), "ot-active", zero); err == nil && resp.Error() == nil {
		t.Fatal("admin commit to a group with a live member was accepted")
	} else {
		t.Logf("admin commit to an active group refused: %v %v", err, resp.Error())
	}
	member.CommitOffsetsSync(t.Context(), map[string]map[int32]kgo.EpochOffset{
		parts[0].Topic: {0: {Epoch: -1, Offset: 0}, 1: {Epoch: -1, Offset: 0}, 2: {Epoch: -1, Offset: 0}},
	}, nil)
	commitSource("ot-active", middle)

	sy := offsets.NewSyncer(offsets.SyncConfig{Translator: tr, Interval: 200 * time.Millisecond})
	want, err := tr.TranslateGroup(t.Context(), "ot-idle")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	poll.Until(t, 30*time.Second, func() error {
		if _, err := sy.Round(t.Context()); err != nil {
			return err
		}
		have, err := dstAdm.FetchOffsets(t.Context(), "ot-idle")
		if err != nil {
			return err
		}
		for _, w := range want {
			o, ok := have.Lookup(w.TargetTopic, w.Partition)
			if !ok || o.At != w.TargetOffset {
				return fmt.Errorf("ot-idle %s/%d at %d on the target, want %d", w.TargetTopic, w.Partition, o.At, w.TargetOffset)
			}
		}
		return nil
	})
	t.Logf("idle group synced in %s", time.Since(start))
	for range 3 {
		if _, err := sy.Round(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	have, err := dstAdm.FetchOffsets(t.Context(), "ot-active")
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		if o, _ := have.Lookup(parts[0].Topic, p); o.At != 0 {
			t.Fatalf("active group moved to %d on %s/%d", o.At, parts[0].Topic, p)
		}
	}
}

// produceMixed writes to three partitions: plain records, two transactional
// producers whose batches interleave, one committing and one aborting, and
// a final committed transaction. Values are unique per call (round).
func produceMixed(t *testing.T, c *kafkatest.Cluster, topic string, round int) {
	t.Helper()
	plain := client(t, c, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	a := client(t, c, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID(fmt.Sprintf("ot-a-%d", round)))
	b := client(t, c, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID(fmt.Sprintf("ot-b-%d", round)))
	rec := func(kind string, p int32, i int) *kgo.Record {
		return &kgo.Record{Partition: p, Key: fmt.Appendf(nil, "k%d", i%5), Value: fmt.Appendf(nil, "%s-%d-%d-%d", kind, round, p, i),
			Headers: []kgo.RecordHeader{{Key: "kind", Value: []byte(kind)}}}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for step := range 8 {
		must(a.BeginTransaction())
		must(b.BeginTransaction())
		for p := range int32(3) {
			for i := range 5 {
				must(plain.ProduceSync(t.Context(), rec("plain", p, step*10+i)).FirstErr())
				must(a.ProduceSync(t.Context(), rec("committed", p, step*10+i)).FirstErr())
				must(b.ProduceSync(t.Context(), rec("aborted", p, step*10+i)).FirstErr())
			}
		}
		must(b.EndTransaction(t.Context(), kgo.TryAbort))
		must(a.EndTransaction(t.Context(), kgo.TryCommit))
	}
}

// waitCopied waits until the copier's committed progress of every
// partition reaches the source's end.
func waitCopied(t *testing.T, srcC, dstC *kafkatest.Cluster, flow topology.Flow, parts []mirror.Partition) {
	t.Helper()
	srcAdm := kadm.NewClient(client(t, srcC))
	poll.Until(t, 60*time.Second, func() error {
		ends, err := srcAdm.ListEndOffsets(t.Context(), parts[0].Topic, parts[3].Topic)
		if err != nil {
			return err
		}
		prog := readAllProgress(t, dstC)
		for _, p := range parts {
			e, _ := ends.Lookup(p.Topic, p.Partition)
			pr, ok := prog[mirror.ProgressKey(flow.Source, p.Topic, p.Partition)]
			if !ok || pr.Next < e.Offset {
				return fmt.Errorf("%s/%d: progress %+v, source end %d", p.Topic, p.Partition, pr, e.Offset)
			}
		}
		return nil
	})
}

func readAllProgress(t *testing.T, c *kafkatest.Cluster) map[string]mirror.Progress {
	out := map[string]mirror.Progress{}
	for _, r := range readPartition(t, c, mirror.ProgressTopic, 0) {
		if p, err := mirror.DecodeProgress(r.Value); err == nil {
			out[string(r.Key)] = p
		}
	}
	return out
}

// readPartition reads one partition with read_committed up to its last
// stable offset.
func readPartition(t *testing.T, c *kafkatest.Cluster, topic string, p int32) []*kgo.Record {
	t.Helper()
	ends, err := kadm.NewClient(client(t, c)).ListCommittedOffsets(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, p)
	if end.Offset <= 0 {
		return nil
	}
	cl := client(t, c, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s/%d to %d: %v", topic, p, end.Offset, ctx.Err())
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() && r.Offset < end.Offset {
				out = append(out, r)
			}
			done = done || r.Offset+1 >= end.Offset
		})
		if done {
			return out
		}
	}
}

func offsetsOf(rs []*kgo.Record) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.Offset
	}
	return out
}

// sameRecord compares a source record with a target record: key, value
// and the source's headers, which the copy keeps before its provenance.
func sameRecord(src, dst *kgo.Record) error {
	if string(src.Key) != string(dst.Key) || string(src.Value) != string(dst.Value) {
		return fmt.Errorf("target holds %q=%q, source offset %d holds %q=%q", dst.Key, dst.Value, src.Offset, src.Key, src.Value)
	}
	var own []kgo.RecordHeader
	for _, h := range dst.Headers {
		if !strings.HasPrefix(h.Key, "geomesh-") {
			own = append(own, h)
		}
	}
	if len(own) != len(src.Headers) {
		return fmt.Errorf("headers %v, want %v", own, src.Headers)
	}
	for i := range own {
		if own[i].Key != src.Headers[i].Key || string(own[i].Value) != string(src.Headers[i].Value) {
			return fmt.Errorf("headers %v, want %v", own, src.Headers)
		}
	}
	if off, _ := testkit.Header(dst, mirror.HeaderOriginOffset); off != fmt.Sprint(src.Offset) {
		return fmt.Errorf("copy of source offset %s, want %d", off, src.Offset)
	}
	return nil
}

// TestTranslateAgentAndCLI runs an agent of an active-passive mesh: it
// syncs an idle group by itself, serves GET /v1/translate, counts synced
// offsets in its metrics, and `geomesh translate` prints the same answer,
// applies it to a group nobody syncs, and refuses to apply while the group
// has a live member on the target.
func TestTranslateAgentAndCLI(t *testing.T) {
	t.Parallel()
	srcC, dstC := clusters[0], clusters[1]
	path := meshFile(t, "e2e-tr", []region{{"tr-east", srcC, 1}, {"tr-west", dstC, 1}}, `
topology: {kind: active-passive, primary: tr-east, standby: [tr-west]}
topics: {include: ["tr-orders"]}
groups: {include: ["tr-.*"]}
`)
	createTopic(t, srcC, "tr-orders", 2, nil)
	produce(t, srcC, "tr-east", "tr-orders", 0, 100)
	produceTxn(t, srcC, "tr-east", "tr-orders", 100, 20, false)
	produceTxn(t, srcC, "tr-east", "tr-orders", 120, 20, true)
	produce(t, srcC, "tr-east", "tr-orders", 140, 60)
	srcAdm, dstAdm := kadm.NewClient(client(t, srcC)), kadm.NewClient(client(t, dstC))
	commit := func(group string, at int64) {
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: "tr-orders", Partition: 0, At: at, LeaderEpoch: -1})
		os.Add(kadm.Offset{Topic: "tr-orders", Partition: 1, At: at + 3, LeaderEpoch: -1})
		if resp, err := srcAdm.CommitOffsets(t.Context(), group, os); err != nil || resp.Error() != nil {
			t.Fatalf("commit %s: %v %v", group, err, resp.Error())
		}
	}
	commit("tr-app", 30)
	commit("tr-live", 20)
	commit("manual-app", 40)
	agents := startAgents(t, path, "tr-west")
	api := "http://" + agents[0].APIAddr()

	// The agent's group sync: tr-app lands on the target at the offsets
	// /v1/translate reports, all of them copies.
	var viaHTTP struct {
		Partitions []offsets.Translation `json:"partitions"`
	}
	poll.Until(t, 60*time.Second, func() error {
		viaHTTP.Partitions = nil // decoding into old elements would keep their errors
		if code, err := apiGet(api+"/v1/translate?group=tr-app&from=tr-east", &viaHTTP); err != nil || code != 200 {
			return fmt.Errorf("GET /v1/translate: %d %v", code, err)
		}
		have, err := dstAdm.FetchOffsets(t.Context(), "tr-app")
		if err != nil {
			return err
		}
		if len(viaHTTP.Partitions) != 2 {
			return fmt.Errorf("translated %d partitions, want 2", len(viaHTTP.Partitions))
		}
		for _, tr := range viaHTTP.Partitions {
			o, ok := have.Lookup(tr.TargetTopic, tr.Partition)
			if tr.State != offsets.Copied || !ok || o.At != tr.TargetOffset {
				return fmt.Errorf("%+v; target group holds %d", tr, o.At)
			}
		}
		return nil
	})
	for _, bad := range []string{"/v1/translate?from=tr-east", "/v1/translate?group=tr-app&from=nowhere"} {
		var e struct{ Error string }
		if code, err := apiGet(api+bad, &e); err != nil || code != 400 || e.Error == "" {
			t.Errorf("GET %s: %d %q %v, want 400 with an error", bad, code, e.Error, err)
		}
	}
	poll.Until(t, 10*time.Second, func() error {
		resp, err := http.Get(api + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), `geomesh_offsets_synced_total{source="tr-east",target="tr-west"}`) ||
			!strings.Contains(string(body), `geomesh_offsets_sync_age_seconds{source="tr-east",target="tr-west"}`) {
			return fmt.Errorf("offset sync metrics missing")
		}
		return nil
	})

	// The CLI, reading the clusters directly, says the same.
	out, stderr, err := geomeshCLI(t, "translate", "--topology", path, "--group", "tr-app", "--from", "tr-east", "--to", "tr-west", "--json")
	if err != nil {
		t.Fatalf("geomesh translate: %v\n%s", err, stderr)
	}
	var viaCLI translateJSON
	if err := json.Unmarshal([]byte(out), &viaCLI); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !slices.Equal(viaCLI.Partitions, viaHTTP.Partitions) {
		t.Fatalf("CLI says %+v, agent says %+v", viaCLI.Partitions, viaHTTP.Partitions)
	}

	// --apply for a group the topology does not sync.
	out, stderr, err = geomeshCLI(t, "translate", "--topology", path, "--group", "manual-app", "--from", "tr-east", "--to", "tr-west", "--json", "--apply")
	if err != nil {
		t.Fatalf("geomesh translate --apply: %v\n%s", err, stderr)
	}
	viaCLI = translateJSON{}
	if err := json.Unmarshal([]byte(out), &viaCLI); err != nil || !viaCLI.Applied {
		t.Fatalf("%v: %s", err, out)
	}
	have, err := dstAdm.FetchOffsets(t.Context(), "manual-app")
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range viaCLI.Partitions {
		if o, _ := have.Lookup(tr.TargetTopic, tr.Partition); o.At != tr.TargetOffset {
			t.Fatalf("manual-app %s/%d at %d after --apply, want %d", tr.TargetTopic, tr.Partition, o.At, tr.TargetOffset)
		}
	}

	// --apply is refused while a member of the group consumes the target.
	member := client(t, dstC, kgo.ConsumerGroup("tr-live"), kgo.ConsumeTopics("tr-orders"), kgo.DisableAutoCommit())
	poll.Until(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		member.PollFetches(ctx)
		listed, err := dstAdm.ListGroups(t.Context())
		if err != nil {
			return err
		}
		if g := listed["tr-live"]; g.State != "Stable" {
			return fmt.Errorf("tr-live is %q", g.State)
		}
		return nil
	})
	_, stderr, err = geomeshCLI(t, "translate", "--topology", path, "--group", "tr-live", "--from", "tr-east", "--to", "tr-west", "--apply")
	if err == nil || !strings.Contains(stderr, "is active in region tr-west") {
		t.Fatalf("--apply on an active group: %v\n%s", err, stderr)
	}
}

type translateJSON struct {
	Applied    bool                  `json:"applied"`
	Partitions []offsets.Translation `json:"partitions"`
}

func apiGet(url string, v any) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}

// geomeshCLI runs the geomesh command with go run (compiled once, then
// cached by the go command).
func geomeshCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(t.Context(), "go", append([]string{"run", "github.com/geomesh/geomesh/cmd/geomesh"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}
