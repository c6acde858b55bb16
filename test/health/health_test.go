package health_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/broker/health"
	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestClusterHealthOnRealKafka(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Options{Brokers: 3})
	t.Logf("Apache Kafka %s, 3 brokers", c.Version())
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(append(c.ClientOptions(), kgo.DefaultProduceTopic("orders"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	testkit.CreateTopic(t, kadm.NewClient(cl), 3, 3, nil, "orders")

	// The monitor as an agent runs it: on its own client, its metrics on a
	// registry served over HTTP.
	admin, err := kgo.NewClient(c.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	const window = 4
	mon, err := health.New(health.Config{Region: "us-east", Client: admin, Interval: time.Second, Window: window})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := mon.Register(reg); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	runCtx, stopMon := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = mon.Run(runCtx) })
	defer func() { stopMon(); wg.Wait() }()

	// Records keep arriving all along, so a consumer that stops lags.
	wg.Go(func() {
		for i := 0; runCtx.Err() == nil; i++ {
			cl.Produce(runCtx, &kgo.Record{Value: fmt.Appendf(nil, "order-%d", i)}, nil)
			select {
			case <-runCtx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})

	metric := func(series string) (float64, bool) {
		v, ok := scrape(t, srv.URL)[series]
		return v, ok
	}
	waitMetric := func(what, series string, ok func(float64) bool, timeout time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			v, has := metric(series)
			if has && ok(v) {
				d := time.Since(start)
				t.Logf("%s after %.1fs: %s = %v", what, d.Seconds(), series, v)
				return d
			}
			if time.Since(start) > timeout {
				t.Fatalf("%s: %s = %v (exported %v) after %s; snapshot %+v", what, series, v, has, timeout, mon.Snapshot())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	urp := `geomesh_kafka_under_replicated_partitions{region="us-east"}`
	waitMetric("healthy cluster", urp, func(v float64) bool { return v == 0 }, 15*time.Second)
	// The first pass may have run while the topic was being created;
	// wait for one that read everything.
	var s health.Snapshot
	for start := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		s = mon.Snapshot()
		if s.Brokers == 3 && s.ActiveController && s.ControllerSource == "quorum" && s.Offline == 0 && s.UnderMinISR == 0 &&
			len(s.Errors) == 0 && len(s.LogDirs) == 3 {
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("healthy snapshot %+v", s)
		}
	}
	for _, d := range s.LogDirs {
		if d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
			t.Errorf("log dir %+v: want Kafka 4's total and usable bytes", d)
		}
	}
	t.Logf("healthy: %d brokers, controller node %d (quorum), %d topics, %d partitions, %d log dirs, e.g. %d of %d bytes usable",
		s.Brokers, s.ControllerID, s.Topics, s.Partitions, len(s.LogDirs), s.LogDirs[0].UsableBytes, s.LogDirs[0].TotalBytes)

	// A consumer group reads and commits, then stops committing while its
	// member stays in the group.
	cons, err := kgo.NewClient(append(c.ClientOptions(), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	consumed := 0
	for consumed < 20 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		consumed += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	status := func(st string) string {
		return `geomesh_kafka_group_status{group="billing",region="us-east",status="` + st + `"}`
	}
	one := func(v float64) bool { return v == 1 }
	stalled := waitMetric("group stopped committing, member alive", status("STALLED"), one, 30*time.Second)
	// A window of n samples spans n-1 intervals.
	if d := time.Duration(window-1) * time.Second; stalled < d-500*time.Millisecond {
		t.Errorf("STALLED after %s, before a full window of %s", stalled, d)
	}
	g := mon.Snapshot().Groups[0]
	t.Logf("group %s: state %s, %d members, lag %v, %d commits seen, %s", g.Group, g.State, g.Members, g.Lag, g.Commits, g.Reason)
	cons.Close()
	waitMetric("consumer left", status("STOPPED"), one, 30*time.Second)

	// One broker crashes: once the controller fences it (4 s of missed
	// heartbeats with the harness's settings), its replicas leave the ISRs.
	killed := time.Now()
	if err := c.KillBroker(2); err != nil {
		t.Fatal(err)
	}
	waitMetric("broker 2 killed", urp, func(v float64) bool { return v > 0 }, 15*time.Second)
	if d := time.Since(killed); d > 15*time.Second {
		t.Errorf("under-replicated partitions seen %s after the kill, want within 15s", d)
	} else {
		t.Logf("under-replicated partitions on /metrics %.1fs after the kill", d.Seconds())
	}
	s = mon.Snapshot()
	t.Logf("broker down: %d brokers, %d of %d partitions under-replicated, %d under min ISR, %d offline, controller %v",
		s.Brokers, s.UnderReplicated, s.Partitions, s.UnderMinISR, s.Offline, s.ActiveController)
	if s.Brokers != 2 || !s.ActiveController || s.Offline != 0 {
		t.Errorf("with one of three down: %+v", s)
	}
	if err := c.StartBroker(ctx, 2); err != nil {
		t.Fatal(err)
	}
	waitMetric("broker 2 back", urp, func(v float64) bool { return v == 0 }, 30*time.Second)
}

// scrape reads every series of a /metrics page as name{labels} → value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			out[name+"{"+strings.Join(ls, ",")+"}"] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return out
}
