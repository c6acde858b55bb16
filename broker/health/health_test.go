package health

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestBytesAppended(t *testing.T) {
	for _, tc := range []struct {
		name      string
		prev, now partSeen
		want      int64
	}{
		{"log only grew: exact", partSeen{start: 0, end: 10, size: 1000}, partSeen{start: 0, end: 20, size: 1800}, 800},
		{"nothing new", partSeen{start: 0, end: 10, size: 1000}, partSeen{start: 0, end: 10, size: 1000}, 0},
		{"retention moved the start: average price", partSeen{start: 0, end: 100, size: 10000}, partSeen{start: 50, end: 150, size: 10000}, 50 * 10000 / 100},
		{"compaction shrank the log", partSeen{start: 0, end: 100, size: 10000}, partSeen{start: 0, end: 110, size: 5500}, 10 * 5500 / 110},
		{"size unknown now", partSeen{start: 0, end: 10, size: 100}, partSeen{start: 0, end: 20, size: -1}, 0},
		{"size unknown before", partSeen{start: 0, end: 10, size: -1}, partSeen{start: 0, end: 20, size: 400}, 10 * 400 / 20},
		{"topic recreated: end fell", partSeen{start: 0, end: 100, size: 1000}, partSeen{start: 0, end: 5, size: 50}, 0},
	} {
		if got := bytesAppended(tc.prev, tc.now); got != tc.want {
			t.Errorf("%s: bytesAppended = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestNewChecksConfig(t *testing.T) {
	_, err := New(Config{})
	if err == nil || !strings.Contains(err.Error(), "no region") || !strings.Contains(err.Error(), "no client") {
		t.Fatalf("New(Config{}) = %v, want both problems", err)
	}
}

// TestMonitorOnKfake runs passes against an in-process cluster: counts,
// traffic counters, group lag and a group going STALLED, then STOPPED.
// The replication faults are proven on real Kafka in test/health.
func TestMonitorOnKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	produce := func(n int) {
		t.Helper()
		for i := range n {
			r := &kgo.Record{Value: []byte(fmt.Sprintf("value-%03d", i)), Partition: int32(i % 2)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	adm := kadm.NewClient(cl)
	commit := func(at int64) {
		t.Helper()
		os := kadm.Offsets{}
		os.AddOffset("orders", 0, at, -1)
		if err := adm.CommitAllOffsets(ctx, "billing", os); err != nil {
			t.Fatal(err)
		}
	}

	m, err := New(Config{Region: "us-east", Client: cl, Window: 3})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	if got := gather(t, reg); len(got) != 0 {
		t.Fatalf("before the first pass: %v; want nothing", got)
	}

	produce(10)
	commit(2)
	s := m.Collect(ctx)
	if len(s.Errors) > 0 {
		t.Fatalf("pass errors: %v", s.Errors)
	}
	if s.Brokers != 1 || s.Topics != 1 || s.Partitions != 2 || s.UnderReplicated != 0 || s.Offline != 0 {
		t.Fatalf("snapshot %+v", s)
	}
	if !s.ActiveController || s.ControllerSource != "metadata" {
		t.Errorf("kfake serves no DescribeQuorum: want the metadata controller, got %v from %q", s.ActiveController, s.ControllerSource)
	}
	if len(s.LogDirs) == 0 {
		t.Errorf("no log dirs")
	}
	if len(s.TopicTraffic) != 1 || s.TopicTraffic[0].Messages != 10 || s.TopicTraffic[0].Bytes != 0 {
		t.Errorf("traffic after the first pass %+v, want 10 messages and no bytes yet", s.TopicTraffic)
	}

	// The group moves, then sticks at 5 while records keep coming.
	produce(4)
	commit(5)
	for range 3 {
		s = m.Collect(ctx)
		produce(2)
	}
	g := s.Groups[0]
	if g.Group != "billing" || g.Commits != 1 || g.Lag["orders"] != 9-5 || g.Status != StatusStopped {
		// kfake's group has no members: a stuck group without members
		// is STOPPED.
		t.Fatalf("group %+v", g)
	}
	if s.TopicTraffic[0].Bytes <= 0 {
		t.Errorf("no bytes in after produces: %+v", s.TopicTraffic)
	}
	commit(9)
	s = m.Collect(ctx)
	if g := s.Groups[0]; g.Status != StatusOK || g.Commits != 2 {
		t.Errorf("after a commit: %+v, want OK with 2 commits", g)
	}

	got := gather(t, reg)
	for series, want := range map[string]float64{
		`geomesh_kafka_group_status{group="billing",region="us-east",status="OK"}`:      1,
		`geomesh_kafka_group_status{group="billing",region="us-east",status="STALLED"}`: 0,
		`geomesh_kafka_group_status{group="billing",region="us-east",status="STOPPED"}`: 0,
		`geomesh_kafka_group_status{group="billing",region="us-east",status="WARN"}`:    0,
		`geomesh_kafka_under_replicated_partitions{region="us-east"}`:                   0,
		`geomesh_kafka_group_commits_total{group="billing",region="us-east"}`:           2,
		`geomesh_kafka_topic_messages_in_total{region="us-east",topic="orders"}`:        20,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (exported: %v), want %v", series, v, ok, want)
		}
	}
}

// gather returns every series of reg as name{labels} → value.
func gather(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = v
		}
	}
	return out
}
