package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// rawCopyMain is the limit geomesh is held against: what a careful person
// writes by hand with franz-go. One read_committed consumer with partitions
// assigned directly, one idempotent producer (no transactions) batching as
// franz-go does by default (10 ms linger, 1 MB batches, up to 5 requests in
// flight per broker), copies keeping partition, key, value, headers and
// timestamp. Records are handed to the producer as they arrive; the only
// wait is franz-go's bound on buffered records. It runs until SIGTERM, then
// flushes and exits.
func rawCopyMain(args []string) error {
	fs := flag.NewFlagSet("raw-copy", flag.ContinueOnError)
	src := fs.String("src", "", "source bootstrap servers, comma-separated")
	dst := fs.String("dst", "", "target bootstrap servers, comma-separated")
	topic := fs.String("topic", "", "source topic")
	target := fs.String("target", "", "target topic (must exist)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *src == "" || *dst == "" || *topic == "" || *target == "" {
		return errors.New("raw-copy: -src, -dst, -topic and -target are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// Assign every partition directly, from the start, like a geomesh shard.
	meta, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(*src, ",")...))
	if err != nil {
		return err
	}
	var parts map[int32]kgo.Offset
	for parts == nil {
		td, err := kadm.NewClient(meta).ListTopics(ctx, *topic)
		if err == nil && td[*topic].Err == nil && len(td[*topic].Partitions) > 0 {
			parts = make(map[int32]kgo.Offset)
			for p := range td[*topic].Partitions {
				parts[p] = kgo.NewOffset().AtStart()
			}
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

	cons, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(*src, ",")...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{*topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return err
	}
	defer cons.Close()
	prod, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(*dst, ",")...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(50_000),
	)
	if err != nil {
		return err
	}
	defer prod.Close()

	var failed error
	promise := func(_ *kgo.Record, err error) {
		if err != nil && failed == nil && !errors.Is(err, context.Canceled) {
			failed = err
		}
	}
	for ctx.Err() == nil {
		fetches := cons.PollRecords(ctx, 10_000)
		fetches.EachRecord(func(r *kgo.Record) {
			prod.Produce(ctx, &kgo.Record{
				Topic: *target, Partition: r.Partition,
				Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp,
			}, promise)
		})
	}
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := prod.Flush(fctx); err != nil {
		return fmt.Errorf("raw-copy: flush: %w", err)
	}
	return failed
}
