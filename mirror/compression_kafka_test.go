package mirror

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/events"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRealKafkaCompression copies compressible events from a source whose
// producer writes zstd, an audit topic the broker stores as lz4 by its
// compression.type and a log topic written uncompressed, with four shards
// into one target cluster: the default compression: source exactly-once
// and at-least-once, compression: none for contrast, and source from the
// uncompressed topic (its probe reopens the consumer instead of
// restarting). Both clusters are read to their ends:
// every copy equals its source record at the offset its provenance names,
// the shard's progress points at the copy of the last source record, the
// followed copies are written with zstd (the strongest codec their sources
// carry) and take about the source's bytes on the target's disk, and the
// uncompressed copies take several times that. What each shard fetched
// (the batches as they crossed the link) is about the source's bytes too:
// learning the codec does not fetch the backlog twice.
func TestRealKafkaCompression(t *testing.T) {
	srcC := kafkatest.Start(t, kafkatest.Options{Brokers: 1})
	dstC := kafkatest.Start(t, kafkatest.Options{Brokers: 1})
	src, dst := srcC.Bootstrap(), dstC.Bootstrap()

	const topic, audit, logs = "events", "audit", "logs"
	createTopic(t, src, topic, 3, nil)
	createTopic(t, src, logs, 1, nil)
	lz4 := "lz4"
	createTopic(t, src, audit, 1, map[string]*string{"compression.type": &lz4})

	app := client(t, src, kgo.TransactionalID("events-app"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.ZstdCompression()), kgo.ProducerLinger(20*time.Millisecond))
	plain := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	gen := events.New(42)
	seq := 0
	for range 5 {
		var rs []*kgo.Record
		for p := range int32(3) {
			for range 200 {
				rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Key: []byte(strconv.Itoa(seq)), Value: gen.Next(seq)})
				seq++
			}
		}
		produceTxn(t, app, true, rs...)
		var as []*kgo.Record
		for range 50 {
			as = append(as, &kgo.Record{Topic: audit, Value: gen.Next(seq)})
			seq++
		}
		testkit.Produce(t, plain, as...)
		// Small batches: the probe fetches one batch twice, which is
		// then a small part of the topic.
		for range 5 {
			var ls []*kgo.Record
			for range 10 {
				ls = append(ls, &kgo.Record{Topic: logs, Value: gen.Next(seq)})
				seq++
			}
			testkit.Produce(t, plain, ls...)
		}
	}

	type copier struct {
		name   string
		flow   topology.Flow
		mode   topology.ReplicationMode
		topics []string
		want   codec // of the copies
	}
	prefixed := func(source string, c topology.Compression) topology.Flow {
		return topology.Flow{Source: source, Target: "eu", Kind: topology.FlowReplicate, Naming: topology.NamingPrefix, Compression: c}
	}
	copiers := []copier{
		{"source, exactly-once", testFlow("us", "eu"), topology.ReplicationExactlyOnce, []string{topic, audit}, codecZstd},
		{"source, at-least-once", prefixed("usa", topology.CompressionSource), topology.ReplicationAtLeastOnce, []string{topic}, codecZstd},
		{"none", prefixed("usn", topology.CompressionNone), topology.ReplicationExactlyOnce, []string{topic}, codecNone},
		{"source of uncompressed logs", prefixed("usl", topology.CompressionSource), topology.ReplicationExactlyOnce, []string{logs}, codecNone},
	}
	// Target topics are the topics package's job; here they are made by
	// hand, with the broker's default compression.type (producer).
	for _, c := range copiers {
		for _, tp := range c.topics {
			createTopic(t, dst, c.flow.TargetTopic(tp), map[string]int32{topic: 3, audit: 1, logs: 1}[tp], nil)
		}
	}
	var shards []*Shard
	fetched := make([]*fetchCounter, len(copiers))
	for i, c := range copiers {
		var parts []Partition
		for _, tp := range c.topics {
			n := int32(3)
			if tp != topic {
				n = 1
			}
			parts = append(parts, partitions(tp, n)...)
		}
		fetched[i] = &fetchCounter{topic: c.topics[0]}
		sh := NewShard(ShardConfig{
			Mesh: "it", Flow: c.flow, Shard: i, Mode: c.mode, Partitions: parts,
			Source: testkit.ClientFactory(append(clientOpts(src), kgo.WithHooks(fetched[i]))...),
			Target: factory(dst), Logger: testkit.Logger(t, slog.LevelInfo),
			RetryInterval: time.Second,
		})
		runShard(t, sh)
		shards = append(shards, sh)
	}
	for i, sh := range shards {
		for _, tp := range copiers[i].topics {
			poll.Until(t, 60*time.Second, func() error { return topicCaughtUp(sh, tp) })
		}
	}

	// Ground truth: both clusters read to their ends.
	source := map[string]map[int32][]*kgo.Record{}
	for _, tp := range []string{topic, audit, logs} {
		source[tp] = byPart(testkit.ReadAtLeast(t, tp, map[string]int{topic: 3000, audit: 250, logs: 250}[tp], 60*time.Second, kgo.SeedBrokers(src...)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srcSizes, dstSizes := logSizes(ctx, t, src), logSizes(ctx, t, dst)
	srcBytes := srcSizes[topic]

	for i, c := range copiers {
		st := shards[i].Status()
		for _, tp := range c.topics {
			target := c.flow.TargetTopic(tp)
			want := source[tp]
			n := 0
			for _, rs := range want {
				n += len(rs)
			}
			got := byPart(testkit.ReadAtLeast(t, target, n, 60*time.Second, kgo.SeedBrokers(dst...)))
			codecs := map[codec]int{}
			for p, rs := range want {
				cs := got[p]
				if len(cs) != len(rs) {
					t.Fatalf("%s: %s/%d has %d copies of %d records", c.name, target, p, len(cs), len(rs))
				}
				for j, r := range rs {
					cp := cs[j]
					off, _ := testkit.Header(cp, HeaderOriginOffset)
					if off != strconv.FormatInt(r.Offset, 10) || !bytes.Equal(cp.Key, r.Key) || !bytes.Equal(cp.Value, r.Value) {
						t.Fatalf("%s: copy %s/%d@%d (origin offset %s) differs from source %s/%d@%d", c.name, target, p, cp.Offset, off, tp, p, r.Offset)
					}
					codecs[codec(cp.Attrs.CompressionType())]++
				}
				// The progress an offset translation starts from points at
				// the copy of the last source record.
				last := cs[len(cs)-1].Offset
				for _, ps := range st.Partitions {
					if ps.Topic == tp && ps.Partition == p && ps.LastTarget != last {
						t.Errorf("%s: progress of %s/%d names target offset %d, the last copy is at %d", c.name, tp, p, ps.LastTarget, last)
					}
				}
			}
			t.Logf("%s: %s → %s: copies by codec %v, source log %d bytes, target log %d bytes (%.2f×)",
				c.name, tp, target, codecs, srcSizes[tp], dstSizes[target], float64(dstSizes[target])/float64(srcSizes[tp]))
			if tp == c.topics[0] {
				n, logBytes := fetched[i].n.Load(), srcSizes[tp]
				t.Logf("%s: fetched %d bytes of %s (%.2f× its log)", c.name, n, tp, float64(n)/float64(logBytes))
				if float64(n) > 1.1*float64(logBytes) {
					t.Errorf("%s fetched %d bytes of %s, %.2f× its %d log bytes", c.name, n, tp, float64(n)/float64(logBytes), logBytes)
				}
			}
			if codecs[c.want] < n*9/10 {
				t.Errorf("%s: %d of %d copies of %s written with %v, want nearly all", c.name, codecs[c.want], n, tp, c.want)
			}
		}
		if st.Compression != c.want.String() {
			t.Errorf("%s: status says copies are written with %q, want %q", c.name, st.Compression, c.want)
		}
	}
	followed, uncompressed := dstSizes[topic], dstSizes[copiers[2].flow.TargetTopic(topic)]
	if float64(followed) > 1.25*float64(srcBytes) {
		t.Errorf("followed copies take %d bytes on the target, %.2f× the source's %d", followed, float64(followed)/float64(srcBytes), srcBytes)
	}
	if float64(uncompressed) < 3*float64(srcBytes) {
		t.Errorf("uncompressed copies take %d bytes, only %.2f× the source's %d: the events do not compress as the test assumes", uncompressed, float64(uncompressed)/float64(srcBytes), srcBytes)
	}
}

// fetchCounter counts the bytes of the fetched batches of one topic, as
// they came over the wire (before decompression).
type fetchCounter struct {
	topic string
	n     atomic.Int64
}

func (f *fetchCounter) OnFetchBatchRead(_ kgo.BrokerMetadata, topic string, _ int32, m kgo.FetchBatchMetrics) {
	if topic == f.topic {
		f.n.Add(int64(m.CompressedBytes))
	}
}

func byPart(rs []*kgo.Record) map[int32][]*kgo.Record {
	out := map[int32][]*kgo.Record{}
	for _, r := range rs {
		out[r.Partition] = append(out[r.Partition], r)
	}
	return out
}

// logSizes is the bytes each topic takes in the cluster's log directories,
// as its brokers report them.
func logSizes(ctx context.Context, t *testing.T, seeds []string) map[string]int64 {
	t.Helper()
	dirs, err := kadm.NewClient(client(t, seeds)).DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatalf("describe log dirs of %v: %v", seeds, err)
	}
	out := map[string]int64{}
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) { out[p.Topic] += p.Size })
	})
	if len(out) == 0 {
		t.Fatal(fmt.Errorf("no log directories described by %v", seeds))
	}
	return out
}
