package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/geomesh/geomesh/internal/events"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const valueSize = 1024

func (b *bench) createTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int) error {
	return b.createTopics(ctx, adm, partitions, topic)
}

// createTopics creates topics in requests of up to 100 topics each.
func (b *bench) createTopics(ctx context.Context, adm *kadm.Client, partitions int, topics ...string) error {
	retention := "-1"
	for chunk := range slices.Chunk(topics, 100) {
		resps, err := adm.CreateTopics(ctx, int32(partitions), -1, map[string]*string{"retention.ms": &retention}, chunk...)
		if err != nil {
			return fmt.Errorf("create topics %s…: %w", chunk[0], err)
		}
		for _, t := range chunk {
			r, ok := resps[t]
			if !ok {
				return fmt.Errorf("create topic %s: no response for it", t)
			}
			if err := r.Err; err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("create topic %s: %w", t, err)
			}
		}
	}
	return nil
}

// deleteTopics removes topics of a finished run so that the disk holds at
// most one run's data; errors are ignored (a copier may not have created
// its target).
func deleteTopics(ctx context.Context, adm *kadm.Client, topics ...string) {
	_, _ = adm.DeleteTopics(ctx, topics...)
}

// recordKey is the key of the seq-th record of partition p: the copies'
// keys tell which source record is the last one on a target partition.
func recordKey(p int32, seq int) []byte {
	return strconv.AppendInt(append(strconv.AppendInt(nil, int64(p), 10), '-'), int64(seq), 10)
}

// backlog describes records produced to a source topic.
type backlog struct {
	topic   string
	records int
	bytes   int64            // key+value bytes
	last    map[int32]string // key of the last record of each partition
	// codec is what the source batches are stored with: none for random
	// values (franz-go's snappy does not shrink them and sends them
	// uncompressed), zstd for JSON events.
	codec string
	// logBytes is what the topic takes in the source's log directory.
	logBytes int64
}

// Payloads of a backlog.
const (
	// payloadRandom is valueSize random bytes: nothing to compress.
	payloadRandom = "random"
	// payloadJSON is application events (internal/events, about 1 KiB,
	// about 7× with zstd), produced with zstd as an application
	// producing compressible events would.
	payloadJSON = "json"
)

// payloadOf is the payload of a throughput scenario.
func payloadOf(scenario string) string {
	if scenario == "json" || scenario == "json-wan" {
		return payloadJSON
	}
	return payloadRandom
}

// produceBacklog writes n records of the payload spread evenly over the
// topic's partitions (manual partitioning), waits until all are
// acknowledged and returns what was written.
func (b *bench) produceBacklog(ctx context.Context, topic string, n int, payload string) (*backlog, error) {
	if err := b.createTopic(ctx, b.srcAdm, topic, b.partitions); err != nil {
		return nil, err
	}
	opts := []kgo.Opt{kgo.SeedBrokers(b.src.Bootstrap()...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic(topic),
		kgo.MaxBufferedRecords(20_000),
		kgo.ProducerBatchMaxBytes(1 << 20),
	}
	bl := &backlog{topic: topic, records: n, last: map[int32]string{}, codec: "none"}
	var gen *events.Generator
	if payload == payloadJSON {
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
		bl.codec = "zstd"
		gen = events.New(uint64(n))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	// One random block; each record's value is a window of it, so values
	// differ and do not compress, without generating 2 GB of randomness.
	block := make([]byte, 1<<20+valueSize)
	_, _ = rand.Read(block)
	perPart := make([]int, b.partitions)
	var failed error
	done := make(chan struct{})
	var acked int
	promise := func(_ *kgo.Record, err error) {
		if err != nil && failed == nil {
			failed = err
		}
		acked++
		if acked == n {
			close(done)
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	for i := range n {
		p := int32(i % b.partitions)
		k := recordKey(p, perPart[p])
		perPart[p]++
		off := (i * 7919) % (1 << 20)
		v := block[off : off+valueSize]
		if gen != nil {
			v = gen.Next(i)
		}
		bl.last[p] = string(k)
		bl.bytes += int64(len(k) + len(v))
		cl.Produce(pctx, &kgo.Record{Partition: p, Key: k, Value: v}, promise)
	}
	select {
	case <-done:
	case <-pctx.Done():
		return nil, fmt.Errorf("produce backlog to %s: %w", topic, pctx.Err())
	}
	if failed != nil {
		return nil, fmt.Errorf("produce backlog to %s: %w", topic, failed)
	}
	if bl.logBytes, err = topicBytes(ctx, b.srcAdm, topic); err != nil {
		return nil, err
	}
	return bl, nil
}

// topicBytes is what topic takes in the cluster's log directories, as the
// brokers report it (DescribeLogDirs): the bytes on disk, after whatever
// compression the batches carry.
func topicBytes(ctx context.Context, adm *kadm.Client, topic string) (int64, error) {
	dirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("describe log dirs of %s: %w", topic, err)
	}
	var n int64
	found := false
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == topic {
				n += p.Size
				found = true
			}
		})
	})
	if !found {
		return 0, fmt.Errorf("describe log dirs of %s: no broker holds it", topic)
	}
	return n, nil
}

// progress is what waitCopied observed of one copy.
type progress struct {
	first     time.Time // first copy visible (target end offsets > 0)
	done      time.Time // last record of every partition visible to read_committed
	endOffset int64     // sum of target end offsets at done (markers included)
}

// waitCopied polls the target topic every 250 ms until, on every partition,
// the last committed record is the copy of the source's last record, or the
// timeout passes. End offsets alone cannot say that for a transactional
// copy (they count commit markers), so once they add up to the backlog the
// runner reads the tail of each partition with read_committed. alive
// reports whether the copier still runs; a dead copier ends the wait.
func (b *bench) waitCopied(ctx context.Context, target string, bl *backlog, timeout time.Duration, alive func() bool) (progress, error) {
	var pr progress
	deadline := time.Now().Add(timeout)
	confirmed := map[int32]bool{}
	for {
		if time.Now().After(deadline) {
			return pr, fmt.Errorf("target %s not caught up after %s (%d of %d partitions)", target, timeout, len(confirmed), len(bl.last))
		}
		if !alive() {
			return pr, fmt.Errorf("copier of %s exited", target)
		}
		ends, err := b.dstAdm.ListEndOffsets(ctx, target)
		var sum int64
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					sum += o.Offset
				}
			})
		}
		if sum > 0 && pr.first.IsZero() {
			pr.first = time.Now()
		}
		if sum >= int64(bl.records) {
			hwm := map[int32]int64{}
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil && !confirmed[o.Partition] {
					hwm[o.Partition] = o.Offset
				}
			})
			at := b.checkTails(ctx, target, hwm, bl.last, confirmed)
			if len(confirmed) == len(bl.last) {
				pr.done, pr.endOffset = at, sum
				return pr, nil
			}
		}
		select {
		case <-ctx.Done():
			return pr, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// tailWindow is how far below the end offset the tail read starts: enough
// to pass the commit markers that follow the last copy.
const tailWindow = 64

// checkTails reads the last committed records of the given partitions and
// marks those whose newest record has the expected key. It returns when the
// last confirmation arrived.
func (b *bench) checkTails(ctx context.Context, topic string, hwm map[int32]int64, want map[int32]string, confirmed map[int32]bool) time.Time {
	offs := map[int32]kgo.Offset{}
	for p, o := range hwm {
		offs[p] = kgo.NewOffset().At(max(0, o-tailWindow))
	}
	at := time.Now()
	if len(offs) == 0 {
		return at
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.dst.Bootstrap()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(50*time.Millisecond),
	)
	if err != nil {
		return at
	}
	defer cl.Close()
	newest := map[int32]string{}
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		got := false
		fs.EachRecord(func(r *kgo.Record) {
			newest[r.Partition] = string(r.Key)
			got = true
		})
		if got {
			at = time.Now()
		}
		all := true
		for p := range offs {
			if newest[p] == want[p] {
				confirmed[p] = true
			} else {
				all = false
			}
		}
		if all {
			break
		}
	}
	return at
}
