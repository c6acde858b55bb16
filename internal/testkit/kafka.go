package testkit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// adminTimeout bounds one admin request of a helper, CreateTopic's:
	// long enough for a real cluster that has just started or lost a
	// node, far shorter than the test binary's timeout.
	adminTimeout = 30 * time.Second
	// produceTimeout bounds one Produce: long enough for a real cluster
	// to move a partition's leadership after a node is fenced.
	produceTimeout = time.Minute
	// readPoll bounds one poll of Read, so that it looks at the clock
	// and at the test's end several times a second.
	readPoll = 250 * time.Millisecond
	// readMaxWait is how long a broker holds Read's fetch for records
	// (kgo's default is 5s): records that come in a burst arrive in
	// several fetches, not in the last one before a deadline.
	readMaxWait = 200 * time.Millisecond
	// readQuiet is how long Read goes on after the records it waits for
	// have come, so that any beyond them (duplicates) show too.
	readQuiet = time.Second
)

// FakeCluster starts an in-process Kafka (kfake) for the test and closes
// it when the test ends. It has one broker unless opts say otherwise
// (kfake's own default is three); opts are kfake's.
func FakeCluster(tb testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	tb.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		tb.Fatalf("testkit: start kfake: %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}

// RefuseOffsetCommits makes c answer every offset commit of group with
// GROUP_AUTHORIZATION_FAILED on each of its partitions while refuse
// reports true, as a cluster does whose ACLs do not let the committer
// write the group; everything else c serves as usual. refuse is called on
// kfake's goroutine: it must be safe to call concurrently (an
// atomic.Bool's Load).
func RefuseOffsetCommits(c *kfake.Cluster, group string, refuse func() bool) {
	c.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r, ok := req.(*kmsg.OffsetCommitRequest)
		if !ok || r.Group != group || !refuse() {
			return nil, nil, false
		}
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.GroupAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}

// Client returns a client made with opts, closed when the test ends.
func Client(tb testing.TB, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		tb.Fatalf("testkit: new client: %v", err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// ClientFactory returns a function that makes a client with base and
// then the options it is called with, which may override base's: what
// the code under test takes to make clients of its own
// (mirror.ClientFactory and the like). The clients it makes are the
// caller's to close.
func ClientFactory(base ...kgo.Opt) func(...kgo.Opt) (*kgo.Client, error) {
	base = slices.Clone(base)
	return func(opts ...kgo.Opt) (*kgo.Client, error) {
		return kgo.NewClient(slices.Concat(base, opts)...)
	}
}

// Admin returns an admin client on a client made with opts, closed when
// the test ends.
func Admin(tb testing.TB, opts ...kgo.Opt) *kadm.Client {
	tb.Helper()
	return kadm.NewClient(Client(tb, opts...))
}

// CreateTopic creates topic with adm, its arguments in kadm's order:
// replicas -1 takes the broker's default.replication.factor, and configs
// may be nil. It fails the test if the topic exists already.
func CreateTopic(tb testing.TB, adm *kadm.Client, partitions int32, replicas int16, configs map[string]*string, topic string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), adminTimeout)
	defer cancel()
	// kadm returns the topic's own error (TOPIC_ALREADY_EXISTS, ...) as
	// err, with the request's.
	if _, err := adm.CreateTopic(ctx, partitions, replicas, configs, topic); err != nil {
		tb.Fatalf("create topic %s (%d partitions, replication factor %d): %v", topic, partitions, replicas, err)
	}
}

// Produce writes rs with cl and waits for every one to be acknowledged,
// as cl's acks option asks. It fails the test naming the topic and
// partition of the first record that was not written.
func Produce(tb testing.TB, cl *kgo.Client, rs ...*kgo.Record) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), produceTimeout)
	defer cancel()
	for _, res := range cl.ProduceSync(ctx, rs...) {
		if res.Err != nil {
			tb.Fatalf("produce %d records: %s[%d]: %v", len(rs), res.Record.Topic, res.Record.Partition, res.Err)
		}
	}
}

// Read reads topic from its start with read_committed until want records
// have come, then for a second more so that records beyond want
// (duplicates) show too, and returns them all as they came. Once timeout
// has passed, or the test has ended, it returns what came by then: the
// caller judges the count (ReadAtLeast fails the test instead). opts
// reach the cluster (kgo.SeedBrokers, a cluster's ClientOptions) and may
// override Read's own, kgo.FetchIsolationLevel for one. The reader is
// closed when Read returns.
func Read(tb testing.TB, topic string, want int, timeout time.Duration, opts ...kgo.Opt) []*kgo.Record {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(readMaxWait),
	}, opts...)...)
	if err != nil {
		tb.Fatalf("testkit: read %s: new client: %v", topic, err)
	}
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(timeout)
	var quietUntil time.Time
	for tb.Context().Err() == nil {
		now := time.Now()
		if len(out) >= want && quietUntil.IsZero() {
			quietUntil = now.Add(readQuiet)
		}
		if (!quietUntil.IsZero() && now.After(quietUntil)) || now.After(deadline) {
			break
		}
		ctx, cancel := context.WithTimeout(tb.Context(), readPoll)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// ReadAtLeast is Read that fails the test, naming how many records came
// from each partition, if fewer than want came within timeout.
func ReadAtLeast(tb testing.TB, topic string, want int, timeout time.Duration, opts ...kgo.Opt) []*kgo.Record {
	tb.Helper()
	got := Read(tb, topic, want, timeout, opts...)
	if len(got) < want {
		tb.Fatalf("read %d records of %s within %v, want %d (by partition: %s)", len(got), topic, timeout, want, byPartition(got))
	}
	return got
}

// byPartition counts records by partition: "0: 3, 1: 2", or "none".
func byPartition(rs []*kgo.Record) string {
	n := map[int32]int{}
	for _, r := range rs {
		n[r.Partition]++
	}
	if len(n) == 0 {
		return "none"
	}
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%d: %d", p, n[p]))
	}
	return strings.Join(parts, ", ")
}

// Header returns the value of r's first header called key, and whether
// r has one.
func Header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}
