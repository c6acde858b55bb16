package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// rawCopyMain is the limit geomesh is held against: what a careful person
// writes by hand with franz-go, configured as geomesh's shards are, so
// that it is a true bound: -pairs consumer/producer pairs (default 4,
// geomesh's shard count), the partitions dealt round-robin over them; each
// consumer read_committed with partitions assigned directly and geomesh's
// fetch sizes (4 MiB per partition, 16 MiB per fetch), each producer
// idempotent (no transactions), writing with -codec, the codec geomesh's
// copies take (that of the source batches), with franz-go's batching otherwise (10 ms linger, 1 MB batches, up
// to 5 requests in flight per broker). Copies keep partition, key, value,
// headers and timestamp. Records are handed to the producer as they
// arrive; the only wait is franz-go's bound on buffered records. It runs
// until SIGTERM, then flushes and exits.
func rawCopyMain(args []string) error {
	fs := flag.NewFlagSet("raw-copy", flag.ContinueOnError)
	src := fs.String("src", "", "source bootstrap servers, comma-separated")
	dst := fs.String("dst", "", "target bootstrap servers, comma-separated")
	topic := fs.String("topic", "", "source topic")
	target := fs.String("target", "", "target topic (must exist)")
	pairs := fs.Int("pairs", 4, "consumer/producer pairs, the partitions dealt round-robin over them")
	codec := fs.String("codec", "none", "codec of the copies: none or zstd")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *src == "" || *dst == "" || *topic == "" || *target == "" || *pairs < 1 {
		return errors.New("raw-copy: -src, -dst, -topic and -target are required, and -pairs at least 1")
	}
	cc, ok := map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "zstd": kgo.ZstdCompression()}[*codec]
	if !ok {
		return fmt.Errorf("raw-copy: -codec %q: want none or zstd", *codec)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// Assign every partition directly, from the start, like a geomesh shard.
	meta, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(*src, ",")...))
	if err != nil {
		return err
	}
	var parts []int32
	for parts == nil {
		td, err := kadm.NewClient(meta).ListTopics(ctx, *topic)
		if err == nil && td[*topic].Err == nil && len(td[*topic].Partitions) > 0 {
			parts = td[*topic].Partitions.Numbers()
			break
		}
		select {
		case <-ctx.Done():
			meta.Close()
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
	meta.Close()

	errs := make([]error, 0, *pairs)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, share := range deal(parts, *pairs) {
		if len(share) == 0 {
			continue
		}
		wg.Go(func() {
			err := copyPair(ctx, *src, *dst, *topic, *target, share, cc)
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("raw-copy: pair %d: %w", i, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// deal spreads partitions round-robin over n shares.
func deal(parts []int32, n int) [][]int32 {
	slices.Sort(parts)
	out := make([][]int32, n)
	for i, p := range parts {
		out[i%n] = append(out[i%n], p)
	}
	return out
}

// copyPair copies the partitions of topic with one consumer and one
// producer until ctx ends, then flushes.
func copyPair(ctx context.Context, src, dst, topic, target string, parts []int32, codec kgo.CompressionCodec) error {
	offsets := map[int32]kgo.Offset{}
	for _, p := range parts {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cons, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(src, ",")...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxPartitionBytes(4<<20),
		kgo.FetchMaxBytes(16<<20),
	)
	if err != nil {
		return err
	}
	defer cons.Close()
	prod, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(dst, ",")...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(codec),
		kgo.MaxBufferedRecords(50_000),
	)
	if err != nil {
		return err
	}
	defer prod.Close()

	var mu sync.Mutex
	var failed error
	promise := func(_ *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && failed == nil && !errors.Is(err, context.Canceled) {
			failed = err
		}
	}
	for ctx.Err() == nil {
		fetches := cons.PollRecords(ctx, 10_000)
		fetches.EachRecord(func(r *kgo.Record) {
			prod.Produce(ctx, &kgo.Record{
				Topic: target, Partition: r.Partition,
				Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp,
			}, promise)
		})
	}
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := prod.Flush(fctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return failed
}
