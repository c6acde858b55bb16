package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clientOpts reach seeds, logging in a verbose run.
func clientOpts(seeds []string) []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(seeds...)}
	if testing.Verbose() {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, nil)))
	}
	return opts
}

func factory(seeds []string) ClientFactory {
	return testkit.ClientFactory(clientOpts(seeds)...)
}

func client(t *testing.T, seeds []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return testkit.Client(t, append(clientOpts(seeds), opts...)...)
}

// createTopic creates topic on seeds with one replica.
func createTopic(t *testing.T, seeds []string, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	testkit.CreateTopic(t, kadm.NewClient(client(t, seeds)), partitions, 1, configs, topic)
}

func setTopicConfig(t *testing.T, seeds []string, topic, key, value string) {
	t.Helper()
	adm := kadm.NewClient(client(t, seeds))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: &value}}, topic)
	if err == nil {
		for _, r := range rs {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		t.Fatalf("set %s=%s on %s: %v", key, value, topic, err)
	}
}

// testRecord is a source record with a key, value and header derived from
// its partition and sequence number, so the copy can be checked field by
// field.
func testRecord(topic string, partition int32, seq int) *kgo.Record {
	return &kgo.Record{
		Topic:     topic,
		Partition: partition,
		Key:       fmt.Appendf(nil, "k-%d-%d", partition, seq),
		Value:     fmt.Appendf(nil, "v-%d-%d", partition, seq),
		Timestamp: time.UnixMilli(1_700_000_000_000 + int64(seq)),
		Headers:   []kgo.RecordHeader{{Key: "app", Value: fmt.Appendf(nil, "h-%d", seq)}},
	}
}

// produceTxn writes records in one source transaction, committing it or
// aborting it.
func produceTxn(t *testing.T, cl *kgo.Client, commit bool, rs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	testkit.Produce(t, cl, rs...)
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

// checkCopies verifies the copies of topic's records from region source:
// per partition, origin offsets strictly increase (order, no duplicates),
// and key, value, timestamp and headers match what testRecord wrote for the
// sequence number in the key.
func checkCopies(t *testing.T, got []*kgo.Record, source, target, topic string) map[int32][]int64 {
	t.Helper()
	offs := make(map[int32][]int64)
	for _, r := range got {
		var p int32
		var seq int
		if _, err := fmt.Sscanf(string(r.Key), "k-%d-%d", &p, &seq); err != nil {
			t.Fatalf("unexpected key %q", r.Key)
		}
		want := testRecord(topic, p, seq)
		// Tests make some records large by appending to the value.
		if r.Partition != p || !bytes.HasPrefix(r.Value, want.Value) || !r.Timestamp.Equal(want.Timestamp) {
			t.Fatalf("copy %s/%d@%d: partition %d value %q ts %v, want %d %q %v", r.Topic, r.Partition, r.Offset, r.Partition, r.Value, r.Timestamp, p, want.Value, want.Timestamp)
		}
		if v, _ := testkit.Header(r, "app"); v != fmt.Sprintf("h-%d", seq) {
			t.Fatalf("copy %s: app header %q", r.Key, v)
		}
		for k, v := range map[string]string{
			HeaderOriginRegion:    source,
			HeaderOriginTopic:     topic,
			HeaderOriginPartition: strconv.Itoa(int(p)),
			HeaderVisited:         source + "," + target,
		} {
			if got, _ := testkit.Header(r, k); got != v {
				t.Fatalf("copy %s: header %s = %q, want %q", r.Key, k, got, v)
			}
		}
		o, err := strconv.ParseInt(func() string { v, _ := testkit.Header(r, HeaderOriginOffset); return v }(), 10, 64)
		if err != nil {
			t.Fatalf("copy %s: origin offset: %v", r.Key, err)
		}
		if l := offs[p]; len(l) > 0 && o <= l[len(l)-1] {
			t.Fatalf("partition %d: origin offset %d after %d: out of order or duplicate", p, o, l[len(l)-1])
		}
		offs[p] = append(offs[p], o)
	}
	return offs
}

func testFlow(source, target string) topology.Flow {
	return topology.Flow{Source: source, Target: target, Kind: topology.FlowReplicate, Naming: topology.NamingIdentity}
}

func partitions(topic string, n int32) []Partition {
	var ps []Partition
	for p := range n {
		ps = append(ps, Partition{Topic: topic, Partition: p})
	}
	return ps
}

// runShard starts sh and returns a function that stops it and returns
// Run's error.
func runShard(t *testing.T, sh *Shard) func() error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- sh.Run(context.Background()) }()
	var once bool
	var err error
	stop := func() error {
		if !once {
			once = true
			sh.Close()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// caughtUp is nil once every partition of the shard has copied its
// source up to the high watermark.
func caughtUp(sh *Shard) error {
	st := sh.Status()
	for _, p := range st.Partitions {
		if p.HighWatermark <= 0 || p.Lag != 0 || p.Next < 0 {
			return fmt.Errorf("partition %s/%d: next %d, hwm %d, lag %d (state %s, err %s)", p.Topic, p.Partition, p.Next, p.HighWatermark, p.Lag, st.State, st.Error)
		}
	}
	return nil
}
