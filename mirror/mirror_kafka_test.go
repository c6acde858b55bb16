package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// topicCaughtUp is nil once the shard's partitions of topic are copied to
// their source high watermark.
func topicCaughtUp(sh *Shard, topic string) error {
	st := sh.Status()
	for _, p := range st.Partitions {
		if p.Topic == topic && (p.HighWatermark <= 0 || p.Lag != 0 || p.Next < 0) {
			return fmt.Errorf("partition %s/%d: next %d, hwm %d, lag %d (state %s, err %s)", p.Topic, p.Partition, p.Next, p.HighWatermark, p.Lag, st.State, st.Error)
		}
	}
	return nil
}

// TestRealKafka proves on two Apache Kafka clusters what the kfake tests
// prove in process: read_committed copy of committed source transactions
// only, exactly once, in order, with provenance; resume after a restart
// without loss or duplicates; a record over the target's max.message.bytes
// pausing its partition only, until the limit is raised.
func TestRealKafka(t *testing.T) {
	srcC := kafkatest.Start(t, kafkatest.Options{Brokers: 1})
	dstC := kafkatest.Start(t, kafkatest.Options{Brokers: 1})
	t.Logf("kafka %s", srcC.Version())
	src, dst := srcC.Bootstrap(), dstC.Bootstrap()

	const orders, big = "orders", "big"
	createTopic(t, src, orders, 3, nil)
	createTopic(t, dst, orders, 3, nil)
	createTopic(t, src, big, 2, nil)
	limit := "2000"
	createTopic(t, dst, big, 2, map[string]*string{"max.message.bytes": &limit})

	txn := client(t, src, kgo.TransactionalID("source-app"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	batch := func(from, to int) []*kgo.Record {
		var rs []*kgo.Record
		for p := range int32(3) {
			for i := from; i < to; i++ {
				rs = append(rs, testRecord(orders, p, i))
			}
		}
		return rs
	}
	produceTxn(t, txn, true, batch(0, 100)...)
	produceTxn(t, txn, false, testRecord(orders, 0, 9000), testRecord(orders, 1, 9001), testRecord(orders, 2, 9002))
	produceTxn(t, txn, true, batch(100, 200)...)

	plain := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(1<<20))
	var bigRecs []*kgo.Record
	for p := range int32(2) {
		for i := range 5 {
			bigRecs = append(bigRecs, testRecord(big, p, i))
		}
	}
	huge := testRecord(big, 0, 5)
	huge.Value = append(huge.Value, make([]byte, 10_000)...)
	bigRecs = append(bigRecs, huge, testRecord(big, 0, 6))
	testkit.Produce(t, plain, bigRecs...)

	cfg := ShardConfig{
		Mesh: "it", Flow: testFlow("us", "eu"), Shard: 1,
		Partitions: append(partitions(orders, 3), partitions(big, 2)...),
		Source:     factory(src), Target: factory(dst), Logger: testkit.Logger(t, slog.LevelDebug),
		RetryInterval: time.Second,
	}
	sh := NewShard(cfg)
	stop := runShard(t, sh)
	poll.Until(t, 60*time.Second, func() error { return topicCaughtUp(sh, orders) })
	poll.Until(t, 60*time.Second, func() error {
		st := sh.Status()
		for _, p := range st.Partitions {
			if p.Topic == big && p.Partition == 0 && p.Paused && p.PausedOffset == 5 && p.Next == 5 {
				return nil
			}
		}
		return fmt.Errorf("big/0 not paused at offset 5: %+v", st.Partitions)
	})
	poll.Until(t, 60*time.Second, func() error {
		for _, p := range sh.Status().Partitions {
			if p.Topic == big && p.Partition == 1 && p.Next != 5 {
				return fmt.Errorf("big/1 at %d, want 5: the paused partition held it back", p.Next)
			}
		}
		return nil
	})

	got := testkit.ReadAtLeast(t, orders, 600, 60*time.Second, kgo.SeedBrokers(dst...))
	if len(got) != 600 {
		t.Fatalf("target has %d records of %s, want 600", len(got), orders)
	}
	offs := checkCopies(t, got, "us", "eu", orders)
	for p := range int32(3) {
		if len(offs[p]) != 200 {
			t.Fatalf("partition %d: %d copies, want 200", p, len(offs[p]))
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// Restart: a new shard with the same id resumes from the progress.
	produceTxn(t, txn, true, batch(200, 300)...)
	sh2 := NewShard(cfg)
	stop2 := runShard(t, sh2)
	poll.Until(t, 60*time.Second, func() error { return topicCaughtUp(sh2, orders) })
	if st := sh2.Status(); st.Records != 300 {
		t.Fatalf("restarted shard copied %d records, want the 300 new ones", st.Records)
	}
	got = testkit.ReadAtLeast(t, orders, 900, 60*time.Second, kgo.SeedBrokers(dst...))
	if len(got) != 900 {
		t.Fatalf("after restart the target has %d records of %s, want 900", len(got), orders)
	}
	checkCopies(t, got, "us", "eu", orders)

	// The paused partition stayed paused across the restart, and resumes
	// by itself once the operator raises the limit.
	poll.Until(t, 60*time.Second, func() error {
		for _, p := range sh2.Status().Partitions {
			if p.Topic == big && p.Partition == 0 && !p.Paused {
				return fmt.Errorf("big/0 not paused after restart: %+v", p)
			}
		}
		return nil
	})
	setTopicConfig(t, dst, big, "max.message.bytes", "100000")
	poll.Until(t, 60*time.Second, func() error { return topicCaughtUp(sh2, big) })
	gotBig := testkit.ReadAtLeast(t, big, 12, 60*time.Second, kgo.SeedBrokers(dst...))
	if len(gotBig) != 12 {
		t.Fatalf("target has %d records of %s, want 12", len(gotBig), big)
	}
	checkCopies(t, gotBig, "us", "eu", big)
	for _, r := range gotBig {
		if string(r.Key) == string(huge.Key) && len(r.Value) != len(huge.Value) {
			t.Fatalf("large record copied with %d value bytes, want %d", len(r.Value), len(huge.Value))
		}
	}

	// A second owner of the same shard fences the running one: Kafka
	// answers the old producer's next write or commit with a fencing
	// error, and the new owner carries on without duplicates.
	sh3 := NewShard(cfg)
	runShard(t, sh3)
	poll.Until(t, 60*time.Second, func() error {
		if st := sh3.Status(); st.State != "running" {
			return fmt.Errorf("new owner is %s", st.State)
		}
		return nil
	})
	produceTxn(t, txn, true, batch(300, 400)...)
	poll.Until(t, 60*time.Second, func() error {
		if st := sh2.Status(); st.State != "fenced" {
			return fmt.Errorf("old owner is %s (%s)", st.State, st.Error)
		}
		return nil
	})
	if err := stop2(); !errors.Is(err, ErrFenced) {
		t.Fatalf("old owner's Run returned %v, want ErrFenced", err)
	}
	poll.Until(t, 60*time.Second, func() error { return topicCaughtUp(sh3, orders) })
	got = testkit.ReadAtLeast(t, orders, 1200, 60*time.Second, kgo.SeedBrokers(dst...))
	if len(got) != 1200 {
		t.Fatalf("after fencing the target has %d records of %s, want 1200", len(got), orders)
	}
	checkCopies(t, got, "us", "eu", orders)

	// Every progress record the shards wrote is committed and readable.
	adm := kadm.NewClient(client(t, dst))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, ProgressTopic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("progress topic end offsets: %v %v", err, ends.Error())
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, ProgressTopic)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := rcs.On(ProgressTopic, nil)
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && (c.Value == nil || *c.Value != "compact") {
			t.Fatalf("progress topic cleanup.policy %v", c.Value)
		}
	}
}
