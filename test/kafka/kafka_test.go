package kafkatest_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
)

func TestProduceConsume(t *testing.T) {
	t.Logf("Apache Kafka %s (KRaft), 1 broker, shared cluster started in %s", shared.Version(), sharedStart.Round(time.Millisecond))
	testkit.CreateTopic(t, testkit.Admin(t, shared.ClientOptions()...), 3, -1, nil, "orders")
	produce(t, shared, "orders", 3, 0, 1000)
	checkConsume(t, shared, "orders", 3, 1000)
}

// TestTransactions puts an aborted transaction between two committed
// ones: read_committed must skip it, read_uncommitted must see it, which
// proves the aborted records were really written.
func TestTransactions(t *testing.T) {
	t.Logf("Apache Kafka %s (KRaft)", shared.Version())
	const topic = "payments"
	testkit.CreateTopic(t, testkit.Admin(t, shared.ClientOptions()...), 1, -1, nil, topic)

	cl := testkit.Client(t, append(shared.ClientOptions(), kgo.TransactionalID("kafkatest-txn"), kgo.DefaultProduceTopic(topic))...)
	for _, txn := range []struct {
		prefix string
		commit kgo.TransactionEndTry
	}{{"committed-1", kgo.TryCommit}, {"aborted", kgo.TryAbort}, {"committed-2", kgo.TryCommit}} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatalf("begin transaction %s: %v", txn.prefix, err)
		}
		var recs []*kgo.Record
		for i := range 10 {
			recs = append(recs, kgo.StringRecord(fmt.Sprintf("%s-%d", txn.prefix, i)))
		}
		if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
			t.Fatalf("produce in transaction %s: %v", txn.prefix, err)
		}
		if err := cl.EndTransaction(t.Context(), txn.commit); err != nil {
			t.Fatalf("end transaction %s: %v", txn.prefix, err)
		}
	}

	got := consumeValues(t, shared, topic, kgo.ReadCommitted(), 20)
	want := append(seq("committed-1", 10), seq("committed-2", 10)...)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("read_committed got\n%v\nwant\n%v", got, want)
	}
	got = consumeValues(t, shared, topic, kgo.ReadUncommitted(), 30)
	want = append(append(seq("committed-1", 10), seq("aborted", 10)...), seq("committed-2", 10)...)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("read_uncommitted got\n%v\nwant\n%v", got, want)
	}
}

// TestThreeBrokers starts its own cluster and restarts nodes under it the
// way chaos tests will: a crash, then a clean stop, each followed by
// StartBroker, with writes in between. No record may be lost.
func TestThreeBrokers(t *testing.T) {
	begin := time.Now()
	c := kafkatest.Start(t, kafkatest.Options{Brokers: 3})
	t.Logf("Apache Kafka %s (KRaft), 3 brokers at %v, started in %s", c.Version(), c.Bootstrap(), time.Since(begin).Round(time.Millisecond))

	testkit.CreateTopic(t, testkit.Admin(t, c.ClientOptions()...), 3, -1, nil, "events")
	produce(t, c, "events", 3, 0, 1000)

	restart(t, c, 1, "killed", c.KillBroker, 1000)
	restart(t, c, 2, "stopped", c.StopBroker, 1100)

	checkConsume(t, c, "events", 3, 1200)

	step := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("closed in %s", time.Since(step).Round(time.Millisecond))
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// restart takes node i down with stop, writes 100 records while it is
// down, and starts it again, logging how long each step took.
func restart(t *testing.T, c *kafkatest.Cluster, i int, how string, stop func(int) error, from int) {
	t.Helper()
	begin := time.Now()
	if err := stop(i); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	produce(t, c, "events", 3, from, 100)
	produced := time.Now()
	if err := c.StartBroker(t.Context(), i); err != nil {
		t.Fatal(err)
	}
	t.Logf("broker %d %s in %s, 100 records written without it in %s, back in sync in %s", i, how,
		stopped.Sub(begin).Round(time.Millisecond), produced.Sub(stopped).Round(time.Millisecond),
		time.Since(produced).Round(time.Millisecond))
}

// TestStartFailure checks that a node that cannot start makes Start fail
// fast with its name and log, and leaves nothing running.
func TestStartFailure(t *testing.T) {
	c, err := kafkatest.New(kafkatest.Options{ServerProperties: map[string]string{"num.partitions": "many"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	begin := time.Now()
	err = c.Start(t.Context())
	if err == nil {
		t.Fatal("Start succeeded with num.partitions=many")
	}
	t.Logf("failed in %s", time.Since(begin).Round(time.Millisecond))
	for _, want := range []string{"broker 0", "num.partitions"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	if err := c.StopBroker(0); err == nil {
		t.Error("StopBroker after a failed Start succeeded")
	}
}

func TestOptionsRejected(t *testing.T) {
	_, err := kafkatest.New(kafkatest.Options{
		Brokers:          -1,
		ServerProperties: map[string]string{"node.id": "7", "listeners": "x", "num.partitions": "2"},
	})
	if err == nil {
		t.Fatal("New accepted Brokers -1 and harness-owned properties")
	}
	for _, want := range []string{"Brokers is -1", `"node.id"`, `"listeners"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "num.partitions") {
		t.Errorf("error %q rejects num.partitions, which callers may set", err)
	}
}

// produce writes records from..from+n-1 of topic, record i to partition
// i%partitions, every third one with headers. Keys and values encode i,
// so checkConsume can tell exactly what is missing or out of order.
func produce(t *testing.T, c *kafkatest.Cluster, topic string, partitions, from, n int) {
	t.Helper()
	// A short metadata age lets the producer find new leaders soon after
	// a node is fenced instead of up to 5s later.
	cl := testkit.Client(t, append(c.ClientOptions(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(250*time.Millisecond))...)
	recs := make([]*kgo.Record, n)
	for j := range n {
		recs[j] = record(topic, partitions, from+j)
	}
	testkit.Produce(t, cl, recs...)
}

func record(topic string, partitions, i int) *kgo.Record {
	r := &kgo.Record{
		Topic:     topic,
		Partition: int32(i % partitions),
		Key:       fmt.Appendf(nil, "key-%05d", i),
		Value:     fmt.Appendf(nil, "value-%05d", i),
	}
	if i%3 == 0 {
		r.Headers = []kgo.RecordHeader{
			{Key: "index", Value: []byte(strconv.Itoa(i))},
			{Key: "origin", Value: []byte("kafkatest")},
		}
	}
	return r
}

// checkConsume reads n records of topic back in a consumer group with
// read_committed and compares each with what produce wrote for it.
func checkConsume(t *testing.T, c *kafkatest.Cluster, topic string, partitions, n int) {
	t.Helper()
	cl := testkit.Client(t, append(c.ClientOptions(),
		kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup("kafkatest-"+topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)...)
	next := make([]int, partitions) // next index expected per partition
	for p := range next {
		next[p] = p
	}
	got := 0
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for got < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s before %v", got, n, topic, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Errorf("fetch %s[%d]: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			p := int(r.Partition)
			want := record(topic, partitions, next[p])
			if string(r.Key) != string(want.Key) || string(r.Value) != string(want.Value) {
				t.Fatalf("%s[%d]@%d: got %s=%s, want %s=%s (order or loss)",
					topic, p, r.Offset, r.Key, r.Value, want.Key, want.Value)
			}
			if fmt.Sprint(r.Headers) != fmt.Sprint(want.Headers) {
				t.Errorf("%s[%d]@%d headers: got %v, want %v", topic, p, r.Offset, r.Headers, want.Headers)
			}
			next[p] += partitions
			got++
		})
	}
	if got != n {
		t.Errorf("consumed %d records of %s, want %d", got, topic, n)
	}
}

// consumeValues reads the first n values of a one-partition topic
// without a group, then any beyond n that come within a second.
func consumeValues(t *testing.T, c *kafkatest.Cluster, topic string, iso kgo.IsolationLevel, n int) []string {
	t.Helper()
	var got []string
	for _, r := range testkit.Read(t, topic, n, 30*time.Second, append(c.ClientOptions(), kgo.FetchIsolationLevel(iso))...) {
		got = append(got, string(r.Value))
	}
	return got
}

func seq(prefix string, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return s
}
