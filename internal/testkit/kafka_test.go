package testkit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestFakeClusterBrokers(t *testing.T) {
	if n := len(testkit.FakeCluster(t).ListenAddrs()); n != 1 {
		t.Errorf("FakeCluster has %d brokers, want 1", n)
	}
	if n := len(testkit.FakeCluster(t, kfake.NumBrokers(3)).ListenAddrs()); n != 3 {
		t.Errorf("FakeCluster(NumBrokers(3)) has %d brokers, want 3", n)
	}
}

// TestClientFactory: a client made by the factory has the base options,
// and those it is made with override them.
func TestClientFactory(t *testing.T) {
	seeds := kgo.SeedBrokers(testkit.FakeCluster(t, kfake.SeedTopics(1, "orders", "audit")).ListenAddrs()...)
	newClient := testkit.ClientFactory(seeds, kgo.DefaultProduceTopic("orders"))
	for _, c := range []struct {
		opts []kgo.Opt
		want string
	}{{nil, "orders"}, {[]kgo.Opt{kgo.DefaultProduceTopic("audit")}, "audit"}} {
		cl, err := newClient(c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		r := &kgo.Record{Value: []byte("v")}
		err = cl.ProduceSync(t.Context(), r).FirstErr()
		cl.Close()
		if err != nil || r.Topic != c.want {
			t.Errorf("produced to %q: %v; want %q", r.Topic, err, c.want)
		}
	}
}

// TestRefuseOffsetCommits: the group's commits are refused while refuse
// says so, another group's never are.
func TestRefuseOffsetCommits(t *testing.T) {
	c := testkit.FakeCluster(t, kfake.SeedTopics(2, "orders"))
	var refuse atomic.Bool
	refuse.Store(true)
	testkit.RefuseOffsetCommits(c, "billing", refuse.Load)
	adm := testkit.Admin(t, kgo.SeedBrokers(c.ListenAddrs()...))
	commit := func(group string) error {
		os := kadm.Offsets{}
		for p := range int32(2) {
			os.AddOffset("orders", p, 1, -1)
		}
		return adm.CommitAllOffsets(t.Context(), group, os)
	}
	if err := commit("billing"); !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Errorf("billing refused: commit: %v, want GROUP_AUTHORIZATION_FAILED", err)
	}
	if err := commit("audit"); err != nil {
		t.Errorf("billing refused: commit of audit: %v", err)
	}
	refuse.Store(false)
	if err := commit("billing"); err != nil {
		t.Errorf("billing accepted again: commit: %v", err)
	}
}

// record is record i of partition p of topic, its key and value naming
// both.
func record(topic string, p int32, i int) *kgo.Record {
	return &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "k-%d-%d", p, i), Value: fmt.Appendf(nil, "v-%d-%d", p, i),
		Headers: []kgo.RecordHeader{{Key: "seq", Value: fmt.Appendf(nil, "%d", i)}}}
}

// TestRoundTrip creates a topic, writes records to each partition and
// reads them back, with and without a transaction's aborted records.
func TestRoundTrip(t *testing.T) {
	seeds := kgo.SeedBrokers(testkit.FakeCluster(t).ListenAddrs()...)
	testkit.CreateTopic(t, testkit.Admin(t, seeds), 2, 1, nil, "orders")
	cl := testkit.Client(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var rs []*kgo.Record
	for p := range int32(2) {
		for i := range 5 {
			rs = append(rs, record("orders", p, i))
		}
	}
	testkit.Produce(t, cl, rs...)

	txn := testkit.Client(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID("testkit"))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	testkit.Produce(t, txn, record("orders", 0, 100))
	if err := txn.EndTransaction(t.Context(), kgo.TryAbort); err != nil {
		t.Fatal(err)
	}

	got := testkit.ReadAtLeast(t, "orders", 10, 10*time.Second, seeds)
	if len(got) != 10 {
		t.Fatalf("read_committed: %d records, want 10", len(got))
	}
	next := map[int32]int{}
	for _, r := range got {
		want := record("orders", r.Partition, next[r.Partition])
		if string(r.Key) != string(want.Key) || string(r.Value) != string(want.Value) {
			t.Errorf("orders[%d]@%d: %s=%s, want %s=%s", r.Partition, r.Offset, r.Key, r.Value, want.Key, want.Value)
		}
		if v, ok := testkit.Header(r, "seq"); !ok || v != fmt.Sprint(next[r.Partition]) {
			t.Errorf("orders[%d]@%d: header seq %q, %v", r.Partition, r.Offset, v, ok)
		}
		next[r.Partition]++
	}
	if _, ok := testkit.Header(got[0], "absent"); ok {
		t.Error("Header found a header the record does not have")
	}
	// The options given override Read's: read_uncommitted sees the
	// aborted record too.
	if n := len(testkit.Read(t, "orders", 11, 10*time.Second, seeds, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))); n != 11 {
		t.Errorf("read_uncommitted: %d records, want 11", n)
	}
}

// TestReadReturnsAtTimeout: Read gives what came when the timeout passes,
// ReadAtLeast fails naming the count by partition.
func TestReadReturnsAtTimeout(t *testing.T) {
	seeds := kgo.SeedBrokers(testkit.FakeCluster(t, kfake.SeedTopics(2, "orders")).ListenAddrs()...)
	testkit.Produce(t, testkit.Client(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner())), record("orders", 1, 0))
	begin := time.Now()
	if n := len(testkit.Read(t, "orders", 2, time.Second, seeds)); n != 1 {
		t.Errorf("Read: %d records, want 1", n)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Read took %v with a timeout of 1s", took)
	}
	r := testkit.NewRecorder(t, t.Context())
	r.Run(func(tb testing.TB) { testkit.ReadAtLeast(tb, "orders", 2, time.Second, seeds) })
	if want := "read 1 records of orders within 1s, want 2 (by partition: 1: 1)"; r.Failure() != want {
		t.Errorf("failure %q, want %q", r.Failure(), want)
	}
}

// TestReadStopsWhenTheTestEnds: Read does not spin to its timeout once
// the test's context is done.
func TestReadStopsWhenTheTestEnds(t *testing.T) {
	seeds := kgo.SeedBrokers(testkit.FakeCluster(t, kfake.SeedTopics(1, "orders")).ListenAddrs()...)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := testkit.NewRecorder(t, ctx)
	begin := time.Now()
	r.Run(func(tb testing.TB) { testkit.Read(tb, "orders", 1, time.Minute, seeds) })
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Read took %v after the test ended", took)
	}
}

// TestFailuresNameTheTopic: a helper that fails says which topic and
// partition it failed on.
func TestFailuresNameTheTopic(t *testing.T) {
	seeds := kgo.SeedBrokers(testkit.FakeCluster(t, kfake.SeedTopics(2, "orders")).ListenAddrs()...)
	for _, c := range []struct {
		name string
		fn   func(testing.TB)
		want string
	}{
		{"topic exists", func(tb testing.TB) { testkit.CreateTopic(tb, testkit.Admin(tb, seeds), 2, 1, nil, "orders") },
			"create topic orders (2 partitions, replication factor 1): TOPIC_ALREADY_EXISTS"},
		{"no such partition", func(tb testing.TB) {
			cl := testkit.Client(tb, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			testkit.Produce(tb, cl, record("orders", 0, 0), record("orders", 7, 0))
		}, "produce 2 records: orders[7]: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := testkit.NewRecorder(t, t.Context())
			r.Run(c.fn)
			if !strings.HasPrefix(r.Failure(), c.want) {
				t.Errorf("failure %q, want it to begin %q", r.Failure(), c.want)
			}
		})
	}
}
