package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestForward(t *testing.T) {
	h := func(kv ...string) []kgo.RecordHeader {
		var hs []kgo.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}
	for _, tc := range []struct {
		name    string
		kind    string
		headers []kgo.RecordHeader
		want    bool
	}{
		{"replicate local record", topology.FlowReplicate, h("app", "x"), true},
		{"replicate record originating at source", topology.FlowReplicate, h(HeaderOriginRegion, "us", HeaderVisited, "us,ap"), true},
		{"replicate copy from elsewhere", topology.FlowReplicate, h(HeaderOriginRegion, "ap", HeaderVisited, "ap,us"), false},
		{"replicate copy of the target's own record", topology.FlowReplicate, h(HeaderOriginRegion, "eu", HeaderVisited, "eu,us"), false},
		{"replicate origin source but visited target", topology.FlowReplicate, h(HeaderOriginRegion, "us", HeaderVisited, "us,eu"), false},
		{"aggregate local record", topology.FlowAggregate, nil, true},
		{"aggregate copy from elsewhere", topology.FlowAggregate, h(HeaderOriginRegion, "ap", HeaderVisited, "ap,us"), true},
		{"broadcast back to the spoke it came from", topology.FlowBroadcast, h(HeaderOriginRegion, "eu", HeaderVisited, "eu,us"), false},
		{"broadcast to another spoke", topology.FlowBroadcast, h(HeaderOriginRegion, "ap", HeaderVisited, "ap,us"), true},
		{"standby visited list with prefix match only", topology.FlowStandby, h(HeaderOriginRegion, "ap", HeaderVisited, "ap,eu-2,us"), true},
		{"standby already there", topology.FlowStandby, h(HeaderVisited, "ap,eu,us"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := topology.Flow{Source: "us", Target: "eu", Kind: tc.kind}
			if got := Forward(f, tc.headers); got != tc.want {
				t.Fatalf("Forward = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCopyHeaders(t *testing.T) {
	f := topology.Flow{Source: "us", Target: "eu", Kind: topology.FlowAggregate}
	var a arena
	r := &kgo.Record{Topic: "orders", Partition: 2, Offset: 41, Headers: []kgo.RecordHeader{{Key: "app", Value: []byte("1")}}}
	got := a.copyHeaders(f, r)
	want := "app=1 geomesh-origin-region=us geomesh-origin-topic=orders geomesh-origin-partition=2 geomesh-origin-offset=41 geomesh-visited=us,eu"
	if s := headerString(got); s != want {
		t.Fatalf("local record:\n got %s\nwant %s", s, want)
	}
	// A copy keeps its origin and extends its path.
	r2 := &kgo.Record{Topic: "ap.orders", Partition: 0, Offset: 7, Headers: []kgo.RecordHeader{
		{Key: HeaderOriginRegion, Value: []byte("ap")}, {Key: HeaderOriginTopic, Value: []byte("orders")},
		{Key: HeaderOriginPartition, Value: []byte("5")}, {Key: HeaderOriginOffset, Value: []byte("9")},
		{Key: HeaderVisited, Value: []byte("ap,us")},
	}}
	got2 := a.copyHeaders(f, r2)
	want2 := "geomesh-origin-region=ap geomesh-origin-topic=orders geomesh-origin-partition=5 geomesh-origin-offset=9 geomesh-visited=ap,us,eu"
	if s := headerString(got2); s != want2 {
		t.Fatalf("copy:\n got %s\nwant %s", s, want2)
	}
	if s := headerString(got); s != want {
		t.Fatalf("first headers changed by the second: %s", s)
	}
	allocs := testing.AllocsPerRun(100, func() {
		a.reset()
		a.copyHeaders(f, r)
		a.copyHeaders(f, r2)
	})
	if allocs != 0 {
		t.Fatalf("copyHeaders allocates %.1f times per run after warm-up", allocs)
	}
}

func headerString(hs []kgo.RecordHeader) string {
	var b strings.Builder
	for i, h := range hs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(h.Key + "=" + string(h.Value))
	}
	return b.String()
}

func TestProgressRoundTrip(t *testing.T) {
	for _, p := range []Progress{
		{Next: 0, LastSource: -1, LastTarget: -1, LastTimestamp: -1},
		{Next: 1 << 40, LastSource: 1<<40 - 3, LastTarget: 77, LastTimestamp: 1_700_000_000_123},
	} {
		b := p.AppendTo(nil)
		if len(b) != 33 {
			t.Fatalf("encoded length %d, want 33", len(b))
		}
		got, err := DecodeProgress(b)
		if err != nil || got != p {
			t.Fatalf("round trip of %+v: %+v, %v", p, got, err)
		}
		// A later version appends fields; this one still reads its own.
		b2 := append([]byte{2}, b[1:]...)
		if got, err := DecodeProgress(append(b2, 0xff)); err != nil || got != p {
			t.Fatalf("newer version: %+v, %v", got, err)
		}
	}
	for _, bad := range [][]byte{nil, {0}, {1, 2, 3}} {
		if _, err := DecodeProgress(bad); err == nil {
			t.Fatalf("DecodeProgress(%v) succeeded", bad)
		}
	}
	key := ProgressKey("us-east", "a/b.c", 12)
	if key != "us-east/a/b.c/12" {
		t.Fatalf("key %q", key)
	}
	if p, ok := parseProgressKey("us-east", []byte(key)); !ok || p != (Partition{"a/b.c", 12}) {
		t.Fatalf("parse %q: %v %v", key, p, ok)
	}
	for _, k := range []string{"eu/orders/1", "us-east/orders", "us-east/orders/x", "us-east//1"} {
		if _, ok := parseProgressKey("us-east", []byte(k)); ok {
			t.Fatalf("parsed foreign or malformed key %q", k)
		}
	}
}

func TestBatchSize(t *testing.T) {
	// Measure what franz-go actually writes for a single-record batch.
	for _, r := range []*kgo.Record{
		{Value: []byte("x")},
		{Key: []byte("key"), Value: make([]byte, 300), Headers: []kgo.RecordHeader{{Key: "a", Value: make([]byte, 200)}}},
		{Value: make([]byte, 70_000)},
	} {
		rb := kmsg.RecordBatch{}
		rec := kmsg.Record{Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			rec.Headers = append(rec.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1) // the zero length took one byte
		body := rec.AppendTo(nil)
		rb.Records = body
		rb.NumRecords = 1
		want := len(rb.AppendTo(nil))
		if got := batchSize(r, r.Headers); got != want {
			t.Fatalf("batchSize = %d, encoded %d", got, want)
		}
	}
}

func TestShardForIsStable(t *testing.T) {
	counts := make([]int, 4)
	for p := range int32(64) {
		s := ShardFor("orders", p, 4)
		if s != ShardFor("orders", p, 4) {
			t.Fatal("unstable")
		}
		counts[s]++
	}
	for i, c := range counts {
		if c == 0 {
			t.Fatalf("shard %d got no partition of 64: %v", i, counts)
		}
	}
}

func TestExactlyOnceCopy(t *testing.T) {
	src, dst := testkit.FakeCluster(t).ListenAddrs(), testkit.FakeCluster(t).ListenAddrs()
	const topic, parts, per = "orders", 3, 200
	createTopic(t, src, topic, parts, nil)
	createTopic(t, dst, topic, parts, nil)

	txn := client(t, src, kgo.TransactionalID("app"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var committed []*kgo.Record
	for p := range int32(parts) {
		for i := range per {
			committed = append(committed, testRecord(topic, p, i))
		}
	}
	produceTxn(t, txn, true, committed[:len(committed)/2]...)
	produceTxn(t, txn, false, testRecord(topic, 0, 9999), testRecord(topic, 1, 9999))
	produceTxn(t, txn, true, committed[len(committed)/2:]...)
	// A record that arrived from a third region must not be forwarded by
	// a replicate flow, but it still advances the progress.
	foreign := testRecord(topic, 2, 5000)
	foreign.Headers = append(foreign.Headers, kgo.RecordHeader{Key: HeaderOriginRegion, Value: []byte("ap")}, kgo.RecordHeader{Key: HeaderVisited, Value: []byte("ap,us")})
	testkit.Produce(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), foreign)

	var batches atomic.Int64
	sh := NewShard(ShardConfig{
		Mesh: "m", Flow: testFlow("us", "eu"), Shard: 0, Partitions: partitions(topic, parts),
		Source: factory(src), Target: factory(dst), Logger: testkit.Logger(t, slog.LevelDebug),
		Metrics: metricsFunc(func(b BatchStats) { batches.Add(1) }),
	})
	runShard(t, sh)
	poll.Until(t, 30*time.Second, func() error { return caughtUp(sh) })

	got := testkit.ReadAtLeast(t, topic, parts*per, 30*time.Second, kgo.SeedBrokers(dst...))
	if len(got) != parts*per {
		t.Fatalf("target has %d records, want %d", len(got), parts*per)
	}
	offs := checkCopies(t, got, "us", "eu", topic)
	for p := range int32(parts) {
		if len(offs[p]) != per {
			t.Fatalf("partition %d: %d copies, want %d", p, len(offs[p]), per)
		}
	}
	st := sh.Status()
	if st.Records != parts*per || st.Filtered != 1 || st.Committed == 0 || st.TransactionalID != "geomesh.m.us.eu.0" {
		t.Fatalf("status %+v", st)
	}
	if batches.Load() == 0 {
		t.Fatal("metrics hook never called")
	}
	// The progress points past the aborted transaction's marker and the
	// filtered record: nothing is left to copy.
	for _, p := range st.Partitions {
		if p.Lag != 0 || p.LastTarget < 0 {
			t.Fatalf("partition status %+v", p)
		}
	}
}

type metricsFunc func(BatchStats)

func (f metricsFunc) Batch(b BatchStats) { f(b) }

func (metricsFunc) SessionFailed(string) {}

func TestResumeFromProgress(t *testing.T) {
	src, dst := testkit.FakeCluster(t).ListenAddrs(), testkit.FakeCluster(t).ListenAddrs()
	const topic, parts = "events", 2
	createTopic(t, src, topic, parts, nil)
	createTopic(t, dst, topic, parts, nil)
	pcl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	write := func(from, to int) {
		var rs []*kgo.Record
		for p := range int32(parts) {
			for i := from; i < to; i++ {
				rs = append(rs, testRecord(topic, p, i))
			}
		}
		testkit.Produce(t, pcl, rs...)
	}
	cfg := ShardConfig{
		Mesh: "m", Flow: testFlow("us", "eu"), Shard: 3, Partitions: partitions(topic, parts),
		Source: factory(src), Target: factory(dst), Logger: testkit.Logger(t, slog.LevelDebug),
	}
	write(0, 100)
	sh := NewShard(cfg)
	stop := runShard(t, sh)
	poll.Until(t, 30*time.Second, func() error { return caughtUp(sh) })
	if err := stop(); err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
	if st := sh.Status(); st.State != "stopped" {
		t.Fatalf("state %s", st.State)
	}
	write(100, 250)
	sh2 := NewShard(cfg)
	runShard(t, sh2)
	poll.Until(t, 30*time.Second, func() error { return caughtUp(sh2) })
	if st := sh2.Status(); st.Records != parts*150 {
		t.Fatalf("second shard copied %d records, want %d", st.Records, parts*150)
	}
	got := testkit.ReadAtLeast(t, topic, parts*250, 30*time.Second, kgo.SeedBrokers(dst...))
	if len(got) != parts*250 {
		t.Fatalf("target has %d records, want %d", len(got), parts*250)
	}
	checkCopies(t, got, "us", "eu", topic)
}

func TestAbortedTransactionIsRetried(t *testing.T) {
	srcC, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer srcC.Close()
	dstC, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer dstC.Close()
	src, dst := srcC.ListenAddrs(), dstC.ListenAddrs()
	const topic = "retry"
	createTopic(t, src, topic, 1, nil)
	createTopic(t, dst, topic, 1, nil)
	var rs []*kgo.Record
	for i := range 50 {
		rs = append(rs, testRecord(topic, 0, i))
	}
	testkit.Produce(t, client(t, src), rs...)

	// The first copy's produce fails in a way the producer does not
	// retry; the transaction must abort and the next one copy everything
	// once.
	h := dstC.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.TransactionAbortable, Count: 1})
	sh := NewShard(ShardConfig{
		Mesh: "m", Flow: testFlow("us", "eu"), Partitions: partitions(topic, 1),
		Source: factory(src), Target: factory(dst), Logger: testkit.Logger(t, slog.LevelDebug), RetryInterval: 500 * time.Millisecond,
	})
	runShard(t, sh)
	poll.Until(t, 30*time.Second, func() error { return caughtUp(sh) })
	if h.Hits() == 0 {
		t.Fatal("fault never hit")
	}
	got := testkit.ReadAtLeast(t, topic, 50, 30*time.Second, kgo.SeedBrokers(dst...))
	if len(got) != 50 {
		t.Fatalf("target has %d records, want 50", len(got))
	}
	checkCopies(t, got, "us", "eu", topic)
	if st := sh.Status(); st.Aborted == 0 {
		t.Fatalf("no aborted transaction counted: %+v", st)
	}
}

func TestFencing(t *testing.T) {
	src, dst := testkit.FakeCluster(t).ListenAddrs(), testkit.FakeCluster(t).ListenAddrs()
	const topic = "fence"
	createTopic(t, src, topic, 1, nil)
	createTopic(t, dst, topic, 1, nil)
	pcl := client(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		for i := 0; ctx.Err() == nil; i++ {
			pcl.ProduceSync(ctx, testRecord(topic, 0, i))
			time.Sleep(2 * time.Millisecond) // the writer's pace
		}
	}()
	cfg := ShardConfig{
		Mesh: "m", Flow: testFlow("us", "eu"), Partitions: partitions(topic, 1),
		Source: factory(src), Target: factory(dst), Logger: testkit.Logger(t, slog.LevelDebug),
	}
	first := NewShard(cfg)
	done := make(chan error, 1)
	go func() { done <- first.Run(context.Background()) }()
	defer first.Close()
	poll.Until(t, 30*time.Second, func() error {
		if first.Status().Records < 50 {
			return errors.New("first shard has not copied yet")
		}
		return nil
	})
	second := NewShard(cfg)
	runShard(t, second)
	select {
	case err := <-done:
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("first shard returned %v, want ErrFenced", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("first shard was not fenced")
	}
	if st := first.Status(); st.State != "fenced" {
		t.Fatalf("first shard state %s", st.State)
	}
	cancel()
	<-writing
	// A write cut short by cancel may still have landed: count what the
	// source holds.
	ends, err := kadm.NewClient(pcl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := ends.Lookup(topic, 0)
	n := int(e.Offset)
	poll.Until(t, 30*time.Second, func() error { return caughtUp(second) })
	got := testkit.ReadAtLeast(t, topic, n, 30*time.Second, kgo.SeedBrokers(dst...))
	if len(got) != n {
		t.Fatalf("target has %d records, want %d", len(got), n)
	}
	checkCopies(t, got, "us", "eu", topic)
}

func TestOversizedRecordPauses(t *testing.T) {
	src, dst := testkit.FakeCluster(t).ListenAddrs(), testkit.FakeCluster(t).ListenAddrs()
	const topic = "big"
	createTopic(t, src, topic, 2, nil)
	limit := "2000"
	createTopic(t, dst, topic, 2, map[string]*string{"max.message.bytes": &limit})
	pcl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(1<<20))
	var rs []*kgo.Record
	for p := range int32(2) {
		for i := range 10 {
			rs = append(rs, testRecord(topic, p, i))
		}
	}
	big := testRecord(topic, 0, 10)
	big.Value = append(big.Value, make([]byte, 5000)...)
	rs = append(rs, big, testRecord(topic, 0, 11))
	testkit.Produce(t, pcl, rs...)

	sh := NewShard(ShardConfig{
		Mesh: "m", Flow: testFlow("us", "eu"), Partitions: partitions(topic, 2),
		Source: factory(src), Target: factory(dst), Logger: testkit.Logger(t, slog.LevelDebug), RetryInterval: 200 * time.Millisecond,
	})
	runShard(t, sh)
	var paused PartitionStatus
	poll.Until(t, 30*time.Second, func() error {
		st := sh.Status()
		p0, p1 := st.Partitions[0], st.Partitions[1]
		if !p0.Paused || p0.Next != 10 || p1.Next != 10 || p1.Lag != 0 {
			return errors.New("partition 0 not paused at 10 with partition 1 copied")
		}
		paused = p0
		return nil
	})
	if paused.PausedOffset != 10 || paused.Lag != 2 || !strings.Contains(paused.Error, "max.message.bytes 2000") {
		t.Fatalf("paused partition status %+v", paused)
	}
	if lag, seconds, npaused := sh.Lag(); lag != 2 || npaused != 1 || seconds <= 0 {
		t.Errorf("Lag() = %d records, %.1fs, %d paused; want the paused partition's 2 records, its age, 1 paused", lag, seconds, npaused)
	}
	// Partition 1 keeps going while 0 waits.
	testkit.Produce(t, pcl, testRecord(topic, 1, 10))
	poll.Until(t, 30*time.Second, func() error {
		if p1 := sh.Status().Partitions[1]; p1.Next != 11 {
			return errors.New("partition 1 stopped")
		}
		return nil
	})
	setTopicConfig(t, dst, topic, "max.message.bytes", "100000")
	poll.Until(t, 30*time.Second, func() error { return caughtUp(sh) })
	got := testkit.ReadAtLeast(t, topic, 23, 30*time.Second, kgo.SeedBrokers(dst...))
	if len(got) != 23 {
		t.Fatalf("target has %d records, want 23", len(got))
	}
	checkCopies(t, got, "us", "eu", topic)
	if st := sh.Status(); st.Partitions[0].Paused || st.Aborted != 0 {
		t.Fatalf("after resume: %+v", st)
	}
}

func TestOversizedRecordDeadLetter(t *testing.T) {
	src, dst := testkit.FakeCluster(t).ListenAddrs(), testkit.FakeCluster(t).ListenAddrs()
	const topic = "big"
	createTopic(t, src, topic, 1, nil)
	limit := "2000"
	createTopic(t, dst, topic, 1, map[string]*string{"max.message.bytes": &limit})
	pcl := client(t, src, kgo.ProducerBatchMaxBytes(1<<20))
	var rs []*kgo.Record
	for i := range 5 {
		rs = append(rs, testRecord(topic, 0, i))
	}
	big := testRecord(topic, 0, 5)
	big.Value = append(big.Value, make([]byte, 5000)...)
	rs = append(rs, big, testRecord(topic, 0, 6))
	testkit.Produce(t, pcl, rs...)

	sh := NewShard(ShardConfig{
		Mesh: "m", Flow: testFlow("us", "eu"), Partitions: partitions(topic, 1),
		Source: factory(src), Target: factory(dst), Logger: testkit.Logger(t, slog.LevelDebug),
		OnError: topology.OnErrorDeadLetter, DeadLetterTopic: "geomesh.dead-letter",
	})
	runShard(t, sh)
	poll.Until(t, 30*time.Second, func() error { return caughtUp(sh) })
	got := testkit.ReadAtLeast(t, topic, 6, 30*time.Second, kgo.SeedBrokers(dst...))
	if len(got) != 6 {
		t.Fatalf("target has %d records, want 6", len(got))
	}
	checkCopies(t, got, "us", "eu", topic)
	dl := testkit.ReadAtLeast(t, "geomesh.dead-letter", 1, 30*time.Second, kgo.SeedBrokers(dst...))
	if len(dl) != 1 {
		t.Fatalf("dead-letter topic has %d records, want 1", len(dl))
	}
	r := dl[0]
	if string(r.Key) != string(big.Key) || len(r.Value) != len(big.Value) {
		t.Fatalf("dead letter key %q, %d value bytes", r.Key, len(r.Value))
	}
	for k, want := range map[string]string{"app": "h-5", HeaderDeadLetterTopic: topic, HeaderDeadLetterPartition: "0", HeaderDeadLetterOffset: "5"} {
		if v, _ := testkit.Header(r, k); v != want {
			t.Fatalf("dead letter header %s = %q, want %q", k, v, want)
		}
	}
	if v, _ := testkit.Header(r, HeaderDeadLetterError); !strings.Contains(v, "max.message.bytes 2000") {
		t.Fatalf("dead letter error %q", v)
	}
	if st := sh.Status(); st.DeadLettered != 1 || st.Partitions[0].Paused {
		t.Fatalf("status %+v", st)
	}
}

func TestAtLeastOnceCopy(t *testing.T) {
	src, dst := testkit.FakeCluster(t).ListenAddrs(), testkit.FakeCluster(t).ListenAddrs()
	const topic = "alo"
	createTopic(t, src, topic, 2, nil)
	createTopic(t, dst, topic, 2, nil)
	var rs []*kgo.Record
	for p := range int32(2) {
		for i := range 100 {
			rs = append(rs, testRecord(topic, p, i))
		}
	}
	testkit.Produce(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), rs...)
	cfg := ShardConfig{
		Mesh: "m", Flow: testFlow("us", "eu"), Partitions: partitions(topic, 2), Mode: topology.ReplicationAtLeastOnce,
		Source: factory(src), Target: factory(dst), Logger: testkit.Logger(t, slog.LevelDebug),
	}
	sh := NewShard(cfg)
	stop := runShard(t, sh)
	poll.Until(t, 30*time.Second, func() error { return caughtUp(sh) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := sh.Status(); st.TransactionalID != "" || st.Records != 200 {
		t.Fatalf("status %+v", st)
	}
	// A clean stop leaves progress behind, so a restart copies nothing again.
	sh2 := NewShard(cfg)
	runShard(t, sh2)
	testkit.Produce(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), testRecord(topic, 0, 100), testRecord(topic, 1, 100))
	poll.Until(t, 30*time.Second, func() error {
		if err := caughtUp(sh2); err != nil {
			return err
		}
		if r := sh2.Status().Records; r != 2 {
			return fmt.Errorf("restarted shard copied %d records, want 2", r)
		}
		return nil
	})
	got := testkit.ReadAtLeast(t, topic, 202, 30*time.Second, kgo.SeedBrokers(dst...))
	if len(got) != 202 {
		t.Fatalf("target has %d records, want 202", len(got))
	}
	checkCopies(t, got, "us", "eu", topic)
}

func TestSetPartitions(t *testing.T) {
	src, dst := testkit.FakeCluster(t).ListenAddrs(), testkit.FakeCluster(t).ListenAddrs()
	const topic = "grow"
	createTopic(t, src, topic, 2, nil)
	createTopic(t, dst, topic, 2, nil)
	pcl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	testkit.Produce(t, pcl, testRecord(topic, 0, 0), testRecord(topic, 1, 0))
	sh := NewShard(ShardConfig{
		Mesh: "m", Flow: testFlow("us", "eu"), Partitions: partitions(topic, 1),
		Source: factory(src), Target: factory(dst), Logger: testkit.Logger(t, slog.LevelDebug),
	})
	runShard(t, sh)
	poll.Until(t, 30*time.Second, func() error { return caughtUp(sh) })
	sh.SetPartitions(partitions(topic, 2))
	testkit.Produce(t, pcl, testRecord(topic, 0, 1), testRecord(topic, 1, 1))
	poll.Until(t, 30*time.Second, func() error {
		if n := len(sh.Status().Partitions); n != 2 {
			return fmt.Errorf("%d partitions in status", n)
		}
		return caughtUp(sh)
	})
	got := testkit.ReadAtLeast(t, topic, 4, 30*time.Second, kgo.SeedBrokers(dst...))
	if len(got) != 4 {
		t.Fatalf("target has %d records, want 4", len(got))
	}
	checkCopies(t, got, "us", "eu", topic)
}

// TestUnpredictedRefusal covers a target that refuses records although
// the cached limits say they fit (a limit lowered since, or a broker that
// counts differently): the partition is narrowed down to the refused
// record, which pauses it, while the other partition goes on.
func TestUnpredictedRefusal(t *testing.T) {
	src := testkit.FakeCluster(t).ListenAddrs()
	dstC, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer dstC.Close()
	dst := dstC.ListenAddrs()
	const topic = "refuse"
	createTopic(t, src, topic, 2, nil)
	createTopic(t, dst, topic, 2, nil)
	var rs []*kgo.Record
	for p := range int32(2) {
		for i := range 5 {
			rs = append(rs, testRecord(topic, p, i))
		}
	}
	pcl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	testkit.Produce(t, pcl, rs...)
	h := dstC.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Partitions: []int32{0}, Err: kerr.MessageTooLarge, Count: -1})
	sh := NewShard(ShardConfig{
		Mesh: "m", Flow: testFlow("us", "eu"), Partitions: partitions(topic, 2),
		Source: factory(src), Target: factory(dst), Logger: testkit.Logger(t, slog.LevelDebug), RetryInterval: 200 * time.Millisecond,
	})
	runShard(t, sh)
	poll.Until(t, 30*time.Second, func() error {
		st := sh.Status()
		p0, p1 := st.Partitions[0], st.Partitions[1]
		if !p0.Paused || p0.PausedOffset != 0 || p1.Next != 5 {
			return fmt.Errorf("want 0 paused at 0 and 1 copied: %+v", st.Partitions)
		}
		if !strings.Contains(p0.Error, "MESSAGE_TOO_LARGE") {
			return fmt.Errorf("pause reason %q", p0.Error)
		}
		return nil
	})
	h.Remove()
	if !sh.Resume(topic, 0) {
		t.Fatal("Resume: partition was not paused")
	}
	poll.Until(t, 30*time.Second, func() error { return caughtUp(sh) })
	got := testkit.ReadAtLeast(t, topic, 10, 30*time.Second, kgo.SeedBrokers(dst...))
	if len(got) != 10 {
		t.Fatalf("target has %d records, want 10", len(got))
	}
	checkCopies(t, got, "us", "eu", topic)
}

func TestMissingTargetPartitionPauses(t *testing.T) {
	src, dst := testkit.FakeCluster(t).ListenAddrs(), testkit.FakeCluster(t).ListenAddrs()
	const topic = "narrow"
	createTopic(t, src, topic, 2, nil)
	createTopic(t, dst, topic, 1, nil)
	testkit.Produce(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), testRecord(topic, 0, 0), testRecord(topic, 1, 0))
	sh := NewShard(ShardConfig{
		Mesh: "m", Flow: testFlow("us", "eu"), Partitions: partitions(topic, 2),
		Source: factory(src), Target: factory(dst), Logger: testkit.Logger(t, slog.LevelDebug), RetryInterval: 200 * time.Millisecond,
	})
	runShard(t, sh)
	poll.Until(t, 30*time.Second, func() error {
		st := sh.Status()
		p0, p1 := st.Partitions[0], st.Partitions[1]
		if p0.Next != 1 || !p1.Paused || !strings.Contains(p1.Error, "has 1 partitions, none numbered 1") {
			return fmt.Errorf("want 0 copied and 1 paused: %+v", st.Partitions)
		}
		return nil
	})
	adm := kadm.NewClient(client(t, dst))
	if _, err := adm.CreatePartitions(context.Background(), 1, topic); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, func() error { return caughtUp(sh) })
	got := testkit.ReadAtLeast(t, topic, 2, 30*time.Second, kgo.SeedBrokers(dst...))
	if len(got) != 2 {
		t.Fatalf("target has %d records, want 2", len(got))
	}
	checkCopies(t, got, "us", "eu", topic)
}

// TestLowRateCommitsEarly: a record arriving alone is committed as soon
// as it is written, long before the commit interval (here 5s); a backlog
// still fills its transactions, not one per fetch.
func TestLowRateCommitsEarly(t *testing.T) {
	src, dst := testkit.FakeCluster(t).ListenAddrs(), testkit.FakeCluster(t).ListenAddrs()
	const topic, backlog = "orders", 3000
	createTopic(t, src, topic, 1, nil)
	createTopic(t, dst, topic, 1, nil)
	prod := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var rs []*kgo.Record
	for i := range backlog {
		rs = append(rs, testRecord(topic, 0, i))
	}
	testkit.Produce(t, prod, rs...)

	var mu sync.Mutex
	var sizes []int
	sh := NewShard(ShardConfig{
		Mesh: "m", Flow: testFlow("us", "eu"), Shard: 0, Partitions: partitions(topic, 1),
		Source: factory(src), Target: factory(dst), Logger: testkit.Logger(t, slog.LevelInfo),
		CommitInterval: 5 * time.Second,
		Metrics: metricsFunc(func(b BatchStats) {
			if b.Committed && b.Records > 0 {
				mu.Lock()
				sizes = append(sizes, b.Records)
				mu.Unlock()
			}
		}),
	})
	runShard(t, sh)
	poll.Until(t, 30*time.Second, func() error { return caughtUp(sh) })
	mu.Lock()
	backlogTxns := len(sizes)
	mu.Unlock()
	if backlogTxns > backlog/eagerCommitBelow {
		t.Errorf("the backlog of %d records went in %d transactions %v: a backlog fills them", backlog, backlogTxns, sizes)
	}

	start := time.Now()
	testkit.Produce(t, prod, testRecord(topic, 0, backlog))
	got := testkit.ReadAtLeast(t, topic, backlog+1, 30*time.Second, kgo.SeedBrokers(dst...), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	took := time.Since(start)
	if len(got) != backlog+1 || took > 2*time.Second {
		t.Errorf("a lone record: %d records on the target after %s, want %d within 2s (commit interval 5s)", len(got), took.Round(time.Millisecond), backlog+1)
	}
	mu.Lock()
	defer mu.Unlock()
	if last := sizes[len(sizes)-1]; last != 1 {
		t.Errorf("the last transaction held %d records, want the lone one", last)
	}
	t.Logf("backlog in %d transactions %v; a lone record visible after %s", backlogTxns, sizes[:backlogTxns], took.Round(time.Millisecond))
}

// TestResumeFromCopies: a flow that starts without progress into a topic
// where another flow already copied the first 60 records of each source
// partition (as the standby flow fills a standby hub before the hub
// fails) copies only the rest, and its progress anchors at the newest of
// those copies; a copy from another origin beyond them moves nothing.
func TestResumeFromCopies(t *testing.T) {
	src, dst := testkit.FakeCluster(t).ListenAddrs(), testkit.FakeCluster(t).ListenAddrs()
	const topic, parts, per, before = "sales", 2, 100, 60
	createTopic(t, src, topic, parts, nil)
	createTopic(t, dst, topic, parts, nil)
	var rs []*kgo.Record
	for p := range int32(parts) {
		for i := range per {
			rs = append(rs, testRecord(topic, p, i))
		}
	}
	testkit.Produce(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), rs...)
	// What another flow (us → ap, then on to eu) wrote: copies that keep
	// the provenance of their first hop.
	var copies []*kgo.Record
	for _, r := range rs {
		if r.Offset < before {
			copies = append(copies, &kgo.Record{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value,
				Headers: CopyHeaders(testFlow("us", "ap"), r)})
		}
	}
	foreign := testRecord(topic, 1, 9999)
	foreign.Headers = append(foreign.Headers, kgo.RecordHeader{Key: HeaderOriginRegion, Value: []byte("sa")})
	copies = append(copies, foreign)
	testkit.Produce(t, client(t, dst, kgo.RecordPartitioner(kgo.ManualPartitioner())), copies...)
	// An application's transaction left open in the target: the read of
	// the copies stops at the last stable offset instead of waiting for it.
	app := client(t, dst, kgo.TransactionalID("app"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := app.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	testkit.Produce(t, app, testRecord(topic, 0, 7777))

	sh := NewShard(ShardConfig{
		Mesh: "m", Flow: testFlow("us", "eu"), Shard: 0, Partitions: partitions(topic, parts),
		Source: factory(src), Target: factory(dst), Logger: testkit.Logger(t, slog.LevelDebug),
	})
	began := time.Now()
	runShard(t, sh)
	poll.Until(t, 30*time.Second, func() error { return caughtUp(sh) })
	if took := time.Since(began); took >= resumeTimeout {
		t.Errorf("caught up after %s: the start waited for the open transaction", took)
	}
	if err := app.EndTransaction(t.Context(), kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	if st := sh.Status(); st.Records != parts*(per-before) {
		t.Errorf("the flow copied %d records, want %d", st.Records, parts*(per-before))
	}
	got := testkit.ReadAtLeast(t, topic, parts*per+1, 30*time.Second, kgo.SeedBrokers(dst...))
	seen := map[string]int{}
	for _, r := range got {
		if o, ok := testkit.Header(r, HeaderOriginRegion); ok && o == "us" {
			part, _ := testkit.Header(r, HeaderOriginPartition)
			off, _ := testkit.Header(r, HeaderOriginOffset)
			seen[part+"/"+off]++
		}
	}
	for _, r := range rs {
		if n := seen[fmt.Sprintf("%d/%d", r.Partition, r.Offset)]; n != 1 {
			t.Errorf("source %d/%d is in the target %d times, want once", r.Partition, r.Offset, n)
		}
	}
	for _, p := range sh.Status().Partitions {
		// Each target partition holds 60 copies from us → ap, then the
		// application's record in partition 0 or the foreign one in
		// partition 1, then this flow's 40.
		last := int64(per)
		if p.Next != per || p.LastTarget != last {
			t.Errorf("partition %d: next %d, last target %d; want %d and %d", p.Partition, p.Next, p.LastTarget, per, last)
		}
	}
}
