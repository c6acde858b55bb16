package heartbeat

import (
	"context"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRealKafkaWriter proves on real Kafka that the topic is created with
// the broker's default replication factor and our configs, and that beats
// read back in order with their latency measured by a Tracker.
func TestRealKafkaWriter(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Options{Brokers: 1})
	seeds := c.Bootstrap()
	startWriter(t, WriterConfig{Client: testkit.Client(t, kgo.SeedBrokers(seeds...)), Region: "us-east", AgentID: "a1", Interval: 100 * time.Millisecond})

	beats, recs := readBeats(t, seeds, Topic, 5)
	tr := NewTracker()
	for i, b := range beats {
		if i > 0 && b.Seq <= beats[i-1].Seq {
			t.Errorf("beat %d seq %d after %d", i, b.Seq, beats[i-1].Seq)
		}
		// The record carries the beat's time (Kafka keeps
		// milliseconds), which the copy preserves.
		if !recs[i].Timestamp.Equal(b.Time.Truncate(time.Millisecond)) {
			t.Errorf("beat %d: record timestamp %v, beat time %v", i, recs[i].Timestamp, b.Time)
		}
		if lat, _ := tr.Observe(b, time.Now()); lat <= 0 || lat > 10*time.Second {
			t.Errorf("beat %d: latency %v", i, lat)
		}
	}
	if age, ok := tr.Age("us-east", time.Now()); !ok || age > 10*time.Second {
		t.Errorf("age of us-east = %v, %v", age, ok)
	}

	adm := testkit.Admin(t, kgo.SeedBrokers(seeds...))
	rcs, err := adm.DescribeTopicConfigs(context.Background(), Topic)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, cfg := range rcs[0].Configs {
		if cfg.Source == kmsg.ConfigSourceDynamicTopicConfig {
			got[cfg.Key] = cfg.MaybeValue()
		}
	}
	if len(got) != 2 || got["cleanup.policy"] != "delete" || got["retention.ms"] != "3600000" {
		t.Errorf("topic configs = %v, want cleanup.policy=delete retention.ms=3600000", got)
	}
}
