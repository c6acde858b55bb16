package heartbeat

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startWriter runs a Writer until the test ends.
func startWriter(t *testing.T, cfg WriterConfig) *Writer {
	t.Helper()
	w := NewWriter(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
	return w
}

// readBeats consumes n beats from the start of the topic.
func readBeats(t *testing.T, seeds []string, topic string, n int) ([]Beat, []*kgo.Record) {
	t.Helper()
	cl := testkit.Client(t, kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var beats []Beat
	var recs []*kgo.Record
	for len(beats) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d beats: %v", len(beats), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			b, err := Decode(r.Value)
			if err != nil {
				t.Fatalf("decode offset %d: %v", r.Offset, err)
			}
			beats = append(beats, b)
			recs = append(recs, r)
		})
	}
	return beats, recs
}

func TestWriterCreatesTopicAndWritesSequencedBeats(t *testing.T) {
	c := testkit.FakeCluster(t) // after the writer stops: cleanups run last first
	seeds := c.ListenAddrs()
	start := time.Now()
	w := startWriter(t, WriterConfig{Client: testkit.Client(t, kgo.SeedBrokers(seeds...)), Region: "us-east", AgentID: "agent-1", Interval: 20 * time.Millisecond})

	beats, recs := readBeats(t, seeds, Topic, 5)
	for i, b := range beats {
		if b.Region != "us-east" || b.Agent != "agent-1" {
			t.Errorf("beat %d = %+v, want region us-east, agent agent-1", i, b)
		}
		// A tick that finds the previous beat unacknowledged (the
		// first produce also connects) is skipped: a counted gap.
		if i == 0 && b.Seq != 1 || i > 0 && b.Seq <= beats[i-1].Seq {
			t.Errorf("beat %d seq %d, want 1 then increasing", i, b.Seq)
		}
		if string(recs[i].Key) != "us-east" {
			t.Errorf("beat %d key = %q, want the region", i, recs[i].Key)
		}
		if b.Time.Before(start.Add(-time.Second)) || b.Time.After(time.Now()) {
			t.Errorf("beat %d time %v is not now", i, b.Time)
		}
		if i > 0 && !b.Time.After(beats[i-1].Time) {
			t.Errorf("beat %d time %v not after beat %d", i, b.Time, i-1)
		}
		if recs[i].Partition != 0 {
			t.Errorf("beat %d in partition %d", i, recs[i].Partition)
		}
	}
	// A beat can be read before the writer's produce callback has counted
	// it, so the counters are polled.
	gaps := beats[len(beats)-1].Seq - uint64(len(beats))
	deadline := time.Now().Add(5 * time.Second)
	for st := w.Stats(); st.Sent < 5 || st.Failed < gaps; st = w.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v, want >= 5 sent and the %d skipped beats counted", st, gaps)
		}
		time.Sleep(10 * time.Millisecond)
	}

	adm := testkit.Admin(t, kgo.SeedBrokers(seeds...))
	ctx := context.Background()
	tds, err := adm.ListTopics(ctx, Topic)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tds[Topic].Partitions); n != 1 {
		t.Errorf("partitions = %d, want 1", n)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, Topic)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range rcs[0].Configs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			got[c.Key] = c.MaybeValue()
		}
	}
	if got["cleanup.policy"] != "delete" || got["retention.ms"] != "3600000" {
		t.Errorf("topic configs = %v, want cleanup.policy=delete retention.ms=3600000", got)
	}
}

func TestWriterKeepsExistingTopicAndSurvivesFailures(t *testing.T) {
	c := testkit.FakeCluster(t, kfake.SeedTopics(3, "beats"))
	// The first produce is answered with a connection drop.
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		return nil, errors.New("injected"), true
	})
	seeds := c.ListenAddrs()
	w := startWriter(t, WriterConfig{Client: testkit.Client(t, kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner())), Region: "eu-west", Topic: "beats", Interval: 20 * time.Millisecond})
	beats, _ := readBeats(t, seeds, "beats", 3)
	for i := 1; i < len(beats); i++ {
		if beats[i].Seq <= beats[i-1].Seq {
			t.Errorf("sequence not increasing: %d after %d", beats[i].Seq, beats[i-1].Seq)
		}
	}
	if beats[0].Agent == "" {
		t.Error("default agent id is empty")
	}
	_ = w
}

func TestWriterRequiresClientAndRegion(t *testing.T) {
	if err := NewWriter(WriterConfig{}).Run(context.Background()); err == nil {
		t.Fatal("Run without client and region succeeded")
	}
}
