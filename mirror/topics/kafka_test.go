package topics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// syncDeadline is the promise of the package doc: a change at the source
// reaches the target within 5 s with the default 1 s interval.
const syncDeadline = 5 * time.Second

// TestRealKafkaSync proves on two real Kafka clusters what the kfake tests
// cannot: that real brokers accept the creates and alters, that the
// describe/compare loop settles (no value normalized differently by the
// broker, which would flap forever), and how long each change takes.
func TestRealKafkaSync(t *testing.T) {
	srcC := kafkatest.Start(t, kafkatest.Options{Brokers: 1})
	tgtC := kafkatest.Start(t, kafkatest.Options{Brokers: 1})
	srcCl, srcAdm := realClient(t, srcC)
	tgtCl, tgtAdm := realClient(t, tgtC)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	srcCfg := map[string]string{
		"retention.ms":      "3600000",
		"cleanup.policy":    "compact,delete",
		"segment.bytes":     "2097152",
		"max.message.bytes": "2000000",
		// Above the source's RF of 1, which Kafka accepts at creation;
		// the target must get min(2, its RF 1) = 1 or it would refuse
		// acks=all writes.
		"min.insync.replicas":    "2",
		"message.timestamp.type": "LogAppendTime", // excluded
	}
	createTopic(t, srcAdm, "orders", 3, 1, srcCfg)

	s := New(Config{
		Flow: testFlow(), SourceName: "us-east", TargetName: "eu-west",
		Source: srcCl, Target: tgtCl,
		DeletePolicy: DeleteFollow,
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	}()

	want := map[string]string{
		"retention.ms":        "3600000",
		"cleanup.policy":      "compact,delete",
		"segment.bytes":       "2097152",
		"max.message.bytes":   "2001024", // the source's plus room for provenance headers
		"min.insync.replicas": "1",
	}
	took := waitShape(t, tgtAdm, "us-east.orders", 3, want)
	t.Logf("new topic with 3 partitions and configs on the target after %v", took)

	// acks=all is accepted on the smaller target thanks to the clamped
	// min.insync.replicas.
	prod, err := kgo.NewClient(append(tgtC.ClientOptions(), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "us-east.orders", Key: []byte("k"), Value: []byte("x")} /* compacted: needs a key */).FirstErr(); err != nil {
		t.Errorf("acks=all produce to the target: %v", err)
	}

	if _, err := srcAdm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("7200000")},
		{Op: kadm.DeleteConfig, Name: "max.message.bytes"},
	}, "orders"); err != nil {
		t.Fatal(err)
	}
	want["retention.ms"] = "7200000"
	delete(want, "max.message.bytes")
	took = waitShape(t, tgtAdm, "us-east.orders", 3, want)
	t.Logf("altered and deleted source configs on the target after %v", took)

	if _, err := srcAdm.UpdatePartitions(ctx, 6, "orders"); err != nil {
		t.Fatal(err)
	}
	took = waitShape(t, tgtAdm, "us-east.orders", 6, want)
	t.Logf("partitions 3 -> 6 on the target after %v", took)

	// Settled: a pass by a fresh Syncer finds nothing to change.
	r, err := New(Config{Flow: testFlow(), Source: srcCl, Target: tgtCl}).SyncOnce(ctx)
	if err != nil || r.Changed() {
		t.Errorf("fresh pass after convergence: err %v, changes %+v", err, r)
	}

	if _, err := srcAdm.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	poll.Until(t, syncDeadline, func() error {
		if describeTopic(t, tgtAdm, "us-east.orders").exists {
			return errors.New("us-east.orders still on the target")
		}
		return nil
	})
	t.Logf("target topic deleted (policy follow, two passes) after %v", time.Since(start))

	if st := s.Status(); st.Passes == 0 || st.LastPassError != "" {
		t.Errorf("status = %+v", st)
	}
}

// waitShape polls the target until topic has parts partitions and exactly
// the explicit configs want, or fails the test after syncDeadline.
func waitShape(t *testing.T, adm *kadm.Client, topic string, parts int, want map[string]string) time.Duration {
	t.Helper()
	return poll.Until(t, syncDeadline, func() error {
		got := describeTopic(t, adm, topic)
		if !got.exists || got.partitions != parts || !maps.Equal(got.explicit, want) {
			return fmt.Errorf("%s not in shape: got exists=%v partitions=%d configs=%v; want partitions=%d configs=%v",
				topic, got.exists, got.partitions, got.explicit, parts, want)
		}
		return nil
	})
}

func realClient(t *testing.T, c *kafkatest.Cluster) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl := testkit.Client(t, c.ClientOptions()...)
	return cl, kadm.NewClient(cl)
}

// testWriter sends the Syncer's log lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}
