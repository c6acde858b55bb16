package heartbeat

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReaderFeedsTracker reads a topic with a long history (the reader
// starts near its end) and a topic created after the reader started.
func TestReaderFeedsTracker(t *testing.T) {
	seeds := kgo.SeedBrokers(testkit.FakeCluster(t).ListenAddrs()...)
	cl := testkit.Client(t, seeds)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	testkit.CreateTopic(t, adm, 1, 1, nil, "us-east.geomesh.heartbeats")
	t0 := time.Unix(1_700_000_000, 0)
	write := func(topic, region string, seq uint64) {
		t.Helper()
		b := Beat{Region: region, Agent: region + "-1", Time: t0.Add(time.Duration(seq) * time.Second), Seq: seq}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(region), Value: Encode(b)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint64(1); seq <= 200; seq++ {
		write("us-east.geomesh.heartbeats", "us-east", seq)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "us-east.geomesh.heartbeats", Value: []byte("junk")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	tr := NewTracker()
	now := t0.Add(300 * time.Second)
	r, err := NewReader(ReaderConfig{
		NewClient: testkit.ClientFactory(seeds),
		Topics:    []string{"us-east.geomesh.heartbeats", "ap-south.geomesh.heartbeats"},
		Tracker:   tr,
		Now:       func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	testkit.CreateTopic(t, adm, 1, 1, nil, "ap-south.geomesh.heartbeats")
	write("ap-south.geomesh.heartbeats", "ap-south", 290)

	for {
		rs := tr.Regions(now)
		if len(rs) == 2 && rs[1].Last.Seq == 200 {
			if rs[0].Region != "ap-south" || rs[0].Age != 10*time.Second || rs[1].Age != 100*time.Second {
				t.Fatalf("regions %+v", rs)
			}
			// The reader started near the end: no restart, no loss seen
			// in the backlog it read.
			if rs[1].Lost != 0 || rs[1].Restarts != 0 {
				t.Errorf("us-east %+v", rs[1])
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("tracker has %+v", rs)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestNewReaderChecksConfig(t *testing.T) {
	_, err := NewReader(ReaderConfig{})
	for _, want := range []string{"no client factory", "no topics", "no tracker"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewReader(ReaderConfig{}) = %v, want %q", err, want)
		}
	}
}
