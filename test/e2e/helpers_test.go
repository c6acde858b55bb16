package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/test/internal/agenttest"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func client(t testing.TB, c *kafkatest.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	// Tests poll for topics that agents create: answer from fresh metadata.
	return testkit.Client(t, append(clientOpts(c), opts...)...)
}

// clientOpts reach c with fresh metadata.
func clientOpts(c *kafkatest.Cluster) []kgo.Opt {
	return append(c.ClientOptions(), kgo.MetadataMinAge(100*time.Millisecond))
}

// createTopic creates topic on c with the broker's default replication
// factor.
func createTopic(t testing.TB, c *kafkatest.Cluster, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	testkit.CreateTopic(t, kadm.NewClient(client(t, c)), partitions, -1, configs, topic)
}

// produce writes n plain records with keys spreading them over partitions;
// the value names the region, topic and sequence number.
func produce(t testing.TB, c *kafkatest.Cluster, region, topic string, from, n int) {
	t.Helper()
	cl := client(t, c, kgo.DefaultProduceTopic(topic))
	var rs []*kgo.Record
	for i := from; i < from+n; i++ {
		rs = append(rs, record(region, topic, i))
	}
	testkit.Produce(t, cl, rs...)
}

func record(region, topic string, i int) *kgo.Record {
	r := &kgo.Record{
		Key:   []byte("k" + strconv.Itoa(i%7)),
		Value: []byte(fmt.Sprintf("%s/%s/%d", region, topic, i)),
	}
	if i%3 == 0 {
		r.Headers = []kgo.RecordHeader{{Key: "app-trace", Value: []byte("t" + strconv.Itoa(i))}}
	}
	return r
}

// produceTxn writes n records in one transaction and commits or aborts it.
func produceTxn(t testing.TB, c *kafkatest.Cluster, region, topic string, from, n int, commit bool) {
	t.Helper()
	if err := writeTxn(t.Context(), txnClient(t, c, topic, from), region, topic, from, n, commit); err != nil {
		t.Fatal(err)
	}
}

// txnClient is the transactional producer to topic of writeTxn's
// transaction starting at record from.
func txnClient(t testing.TB, c *kafkatest.Cluster, topic string, from int) *kgo.Client {
	t.Helper()
	return client(t, c, kgo.DefaultProduceTopic(topic), kgo.TransactionalID(fmt.Sprintf("e2e-%s-%d", topic, from)))
}

// writeTxn writes records from to from+n-1 in one transaction of cl and
// commits or aborts it. It reports instead of stopping the test, so a
// goroutine other than the test's may call it.
func writeTxn(ctx context.Context, cl *kgo.Client, region, topic string, from, n int, commit bool) error {
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("transaction %d..%d to %s: begin: %w", from, from+n-1, topic, err)
	}
	for i := from; i < from+n; i++ {
		if err := cl.ProduceSync(ctx, record(region, topic, i)).FirstErr(); err != nil {
			return fmt.Errorf("transaction %d..%d to %s: produce %d: %w", from, from+n-1, topic, i, err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		return fmt.Errorf("transaction %d..%d to %s: end (commit %v): %w", from, from+n-1, topic, commit, err)
	}
	return nil
}

// readTopic is testkit.Read on c: the records of topic with
// read_committed, at least want of them unless timeout passes first, and
// those of one more second so that duplicates show.
func readTopic(t testing.TB, c *kafkatest.Cluster, topic string, want int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	return testkit.Read(t, topic, want, timeout, clientOpts(c)...)
}

// checkCopies compares the committed records of a source topic with their
// copies in a target topic: every source record exactly once, in the same
// partition and order, with key, value, timestamp, headers and provenance.
// Target records of other origins are ignored.
func checkCopies(t testing.TB, origin string, src []*kgo.Record, tgt []*kgo.Record, visited string) {
	t.Helper()
	type pos struct {
		partition int32
		offset    int64
	}
	bySource := map[pos]*kgo.Record{}
	for _, r := range src {
		bySource[pos{r.Partition, r.Offset}] = r
	}
	seen := map[pos]int{}
	last := map[int32]int64{}
	for _, r := range tgt {
		o, ok := testkit.Header(r, mirror.HeaderOriginRegion)
		if !ok || o != origin {
			continue
		}
		offStr, _ := testkit.Header(r, mirror.HeaderOriginOffset)
		partStr, _ := testkit.Header(r, mirror.HeaderOriginPartition)
		off, err1 := strconv.ParseInt(offStr, 10, 64)
		part, err2 := strconv.ParseInt(partStr, 10, 32)
		if err1 != nil || err2 != nil {
			t.Fatalf("copy at %s/%d@%d has bad provenance %q/%q", r.Topic, r.Partition, r.Offset, partStr, offStr)
		}
		p := pos{int32(part), off}
		s, ok := bySource[p]
		if !ok {
			t.Fatalf("copy at %s/%d@%d names source %d@%d, which is not a committed source record", r.Topic, r.Partition, r.Offset, part, off)
		}
		seen[p]++
		if r.Partition != s.Partition {
			t.Errorf("source %d@%d copied to partition %d", s.Partition, s.Offset, r.Partition)
		}
		if prev, ok := last[r.Partition]; ok && off <= prev {
			t.Errorf("partition %d: copy of offset %d after copy of offset %d", r.Partition, off, prev)
		}
		last[r.Partition] = off
		if string(r.Key) != string(s.Key) || string(r.Value) != string(s.Value) || !r.Timestamp.Equal(s.Timestamp) {
			t.Errorf("copy of %d@%d differs: %q=%q vs %q=%q", s.Partition, s.Offset, r.Key, r.Value, s.Key, s.Value)
		}
		for _, h := range s.Headers {
			if v, ok := testkit.Header(r, h.Key); !ok || v != string(h.Value) {
				t.Errorf("copy of %d@%d lost header %s", s.Partition, s.Offset, h.Key)
			}
		}
		if v, _ := testkit.Header(r, mirror.HeaderOriginTopic); v != s.Topic {
			t.Errorf("copy of %d@%d: origin topic %q, want %q", s.Partition, s.Offset, v, s.Topic)
		}
		if visited != "" {
			if v, _ := testkit.Header(r, mirror.HeaderVisited); v != visited {
				t.Errorf("copy of %d@%d: visited %q, want %q", s.Partition, s.Offset, v, visited)
			}
		}
	}
	missing, dup := 0, 0
	for p := range bySource {
		switch n := seen[p]; {
		case n == 0:
			missing++
		case n > 1:
			dup += n - 1
		}
	}
	if missing > 0 || dup > 0 {
		t.Fatalf("%d source records from %s: %d missing, %d duplicated on the target", len(src), origin, missing, dup)
	}
}

// startAgents runs the first agent of each named region in this process,
// logging warnings to stderr.
func startAgents(t testing.TB, path string, regions ...string) []*agent.Agent {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return agenttest.Start(t, path, log.With("test", t.Name()), regions...)
}
