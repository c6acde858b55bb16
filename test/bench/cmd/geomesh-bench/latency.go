package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// latencyWarmup is the start of each latency run left out of the
// percentiles: copiers still open connections and grow batches then.
const latencyWarmup = 3 * time.Second

// latency runs the steady-load scenario: per copier and repetition a fresh
// source topic, the copier started and proven running (warm-up records
// copied), then latencyRate records/s for latencySeconds, each record's
// end-to-end latency taken as the time a read_committed consumer on the
// target receives its copy minus the source record's CreateTime (both
// clocks are this machine's).
//
// One unrecorded run of every copier comes first, latencyWarmupSeconds
// long: the brokers' transaction path is cold until it has committed
// transactions at this rate for a while (the first recorded exactly-once
// run of each copier used to show p99s of 1–2 s, MirrorMaker 2's as
// geomesh's, and the later ones a tenth of that).
func (b *bench) latency(ctx context.Context) error {
	if !b.opts.noWarmup {
		for _, kind := range b.opts.copiers {
			settle()
			if _, err := b.latencyOnce(ctx, -1, kind, latencyWarmupSeconds); err != nil {
				logf("latency warm-up %s (not recorded): %v", kind, err)
			}
		}
	}
	for rep := range b.opts.latencyReps {
		for _, kind := range rotate(b.opts.copiers, rep) {
			settle()
			r, err := b.latencyOnce(ctx, rep, kind, b.opts.latencySeconds)
			if err != nil {
				logf("latency rep %d %s: %v", rep+1, kind, err)
				b.res.addLatency(latRun{Copier: kind, Rep: rep + 1}, err)
				continue
			}
			logf("latency rep %d %s: sent %d received %d p50 %.1f ms p99 %.1f ms p999 %.1f ms max %.1f ms",
				rep+1, kind, r.Sent, r.Received, r.P50Ms, r.P99Ms, r.P999Ms, r.MaxMs)
			b.res.addLatency(r, nil)
		}
		if err := b.write(); err != nil {
			return err
		}
	}
	return nil
}

// latencyWarmupSeconds is the length of the unrecorded warm-up run.
const latencyWarmupSeconds = 10

func (b *bench) latencyOnce(ctx context.Context, rep int, kind string, seconds int) (latRun, error) {
	topic := fmt.Sprintf("bench-latency-%s-%d-%d", alias(kind), rep, time.Now().Unix()%100000)
	target := targetTopic(kind, topic)
	if err := b.createTopic(ctx, b.srcAdm, topic, b.partitions); err != nil {
		return latRun{}, err
	}
	defer deleteTopics(ctx, b.srcAdm, topic)
	defer deleteTopics(ctx, b.dstAdm, target)

	prod, err := kgo.NewClient(kgo.SeedBrokers(b.src.Bootstrap()...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(0),
		// Every record carries the same value, which snappy would shrink
		// to nothing: uncompressed, the source batches hold what random
		// values would, and every copier writes uncompressed ("none"
		// below).
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	)
	if err != nil {
		return latRun{}, err
	}
	defer prod.Close()
	// Warm-up: one record per partition, keys "w-<p>".
	for p := range int32(b.partitions) {
		if err := prod.ProduceSync(ctx, &kgo.Record{Partition: p, Key: fmt.Appendf(nil, "w-%d", p), Value: []byte("warm-up")}).FirstErr(); err != nil {
			return latRun{}, err
		}
	}

	cp, err := b.startCopier(ctx, kind, topic, fmt.Sprintf("latency-%d", rep), "none")
	if err != nil {
		return latRun{}, err
	}
	defer cp.stop()

	cons, err := kgo.NewClient(kgo.SeedBrokers(b.dst.Bootstrap()...),
		kgo.ConsumeTopics(target),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.MetadataMinAge(100*time.Millisecond),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		return latRun{}, err
	}
	defer cons.Close()

	warm := 0
	deadline := time.Now().Add(3 * time.Minute)
	for warm < b.partitions {
		if time.Now().After(deadline) || cp.exited() {
			return latRun{}, fmt.Errorf("copier did not copy the warm-up records within 3 minutes; log:\n%s", cp.tail(30))
		}
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cons.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if strings.HasPrefix(string(r.Key), "w-") {
				warm++
			}
		})
	}

	// Steady load: a tick every 10 ms produces rate/100 records.
	value := make([]byte, valueSize)
	_, _ = rand.Read(value)
	total := b.opts.latencyRate * seconds
	perTick := b.opts.latencyRate / 100
	start := time.Now()
	prodDone := make(chan error, 1)
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var failed error
		sent := 0
		for sent < total {
			<-t.C
			for range min(perTick, total-sent) {
				p := int32(sent % b.partitions)
				prod.Produce(ctx, &kgo.Record{Partition: p, Key: recordKey(p, sent), Value: value, Timestamp: time.Now()},
					func(_ *kgo.Record, err error) {
						if err != nil && failed == nil {
							failed = err
						}
					})
				sent++
			}
		}
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := prod.Flush(fctx); err != nil {
			prodDone <- err
			return
		}
		prodDone <- failed
	}()

	lats := make([]time.Duration, 0, total)
	steady := start.Add(latencyWarmup)
	received := 0
	var prodErr error
	prodFinished := false
	end := start.Add(time.Duration(seconds)*time.Second + 30*time.Second)
	for received < total && time.Now().Before(end) {
		pctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		fs := cons.PollFetches(pctx)
		cancel()
		now := time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			if strings.HasPrefix(string(r.Key), "w-") {
				return
			}
			received++
			if !r.Timestamp.Before(steady) {
				lats = append(lats, now.Sub(r.Timestamp))
			}
		})
		if !prodFinished {
			select {
			case prodErr = <-prodDone:
				prodFinished = true
			default:
			}
		}
	}
	if !prodFinished {
		prodErr = <-prodDone
	}
	if prodErr != nil {
		return latRun{}, fmt.Errorf("producer: %w", prodErr)
	}
	if len(lats) == 0 {
		return latRun{}, fmt.Errorf("no record of the steady phase arrived; copier log:\n%s", cp.tail(30))
	}
	slices.Sort(lats)
	q := func(f float64) float64 {
		i := min(len(lats)-1, int(f*float64(len(lats))))
		return float64(lats[i].Microseconds()) / 1000
	}
	return latRun{
		Copier: kind, Rep: rep + 1, Sent: total, Received: received, Measured: len(lats),
		P50Ms: q(0.50), P99Ms: q(0.99), P999Ms: q(0.999), MaxMs: float64(lats[len(lats)-1].Microseconds()) / 1000,
	}, nil
}
