package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/events"
	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestAccount(t *testing.T) {
	var lan, wan tpRun
	lan.account(1000, 1050, 999, false)
	wan.account(1000, 7000, 1020, true)
	if lan.TargetLogRatio != 1.05 || lan.WANBytes != 0 || lan.WANRatio != 0 {
		t.Errorf("LAN run: %+v, want target ratio 1.05 and no WAN figures", lan)
	}
	if wan.TargetLogRatio != 7 || wan.WANBytes != 1020 || wan.WANRatio != 1.02 {
		t.Errorf("WAN run: %+v, want target ratio 7, 1020 WAN bytes, WAN ratio 1.02", wan)
	}
	if v := tpField(lan, "wan_ratio"); !math.IsNaN(v) {
		t.Errorf("a LAN run's WAN ratio is %g, want NaN (not measured)", v)
	}
}

// TestJudgeBytes: byte goals are judged on the runs that measured bytes;
// results from before the accounting (no byte figures) leave them not
// measured rather than met by a zero.
func TestJudgeBytes(t *testing.T) {
	goals := []goal{
		{Goal: "target", Metric: "json.target_log_ratio.geomesh-eos", Op: "<=", Threshold: 1.1},
		{Goal: "wan", Metric: "json-wan.wan_ratio.geomesh-eos", Op: "<=", Threshold: 1.1},
		{Goal: "mm2", Metric: "json.target_log_ratio.mm2-eos", Op: "<=", Threshold: 1.1},
	}
	r := &results{Throughput: map[string][]tpRun{}}
	for _, x := range []struct {
		scenario     string
		copier       string
		target, wanB int64
		wan          bool
	}{
		{"json", geomeshEOS, 1000, 0, false},
		{"json", geomeshEOS, 1200, 0, false},
		{"json", geomeshEOS, 1020, 0, false},
		{"json", mm2EOS, 6900, 0, false},
		{"json-wan", geomeshEOS, 1010, 1300, true},
	} {
		run := tpRun{Copier: x.copier}
		run.account(1000, x.target, x.wanB, x.wan)
		r.addThroughput(x.scenario, run, nil)
	}
	r.addThroughput("json-wan", tpRun{Copier: mm2EOS}, nil)
	got := r.judge(goals)
	want := []struct {
		outcome string
		value   float64
	}{{outcomeMet, 1.02}, {outcomeMissed, 1.3}, {outcomeMissed, 6.9}}
	for i, v := range got {
		if v.Outcome != want[i].outcome || math.Abs(v.Value-want[i].value) > 1e-9 {
			t.Errorf("%s: %s %g, want %s %g", v.Goal, v.Outcome, v.Value, want[i].outcome, want[i].value)
		}
	}
	old := &results{Throughput: map[string][]tpRun{"json": {{Copier: geomeshEOS, RecordsPerSec: 1}}}}
	if v := old.judge(goals[:1])[0]; v.Outcome != outcomeNotMeasured {
		t.Errorf("a run without byte figures: %s %g, want not measured", v.Outcome, v.Value)
	}
	var md strings.Builder
	renderBytes(func(f string, a ...any) { md.WriteString(strings.TrimSpace(fmt.Sprintf(f, a...)) + "\n") }, r, "json")
	if !strings.Contains(md.String(), "| geomesh exactly-once | 0.0 (0.0–0.0) | 0.0 (0.0–0.0) | 1.02 (1.00–1.20) |") {
		t.Errorf("bytes table:\n%s", md.String())
	}
}

// TestProxyCounts: the WAN proxy counts exactly the bytes it carries from
// the proxied server to its client, and not those the client sends.
func TestProxyCounts(t *testing.T) {
	srv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const reply = 300_000
	go func() {
		c, err := srv.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		_, _ = c.Write(make([]byte, reply))
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(ln, srv.Addr().String(), 5*time.Millisecond)
	defer p.close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("fetch")); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != reply {
		t.Fatalf("read %d bytes through the proxy (%v), want %d", n, err, reply)
	}
	if got := p.down.Load(); got != reply {
		t.Errorf("proxy counted %d bytes, want %d", got, reply)
	}
}

// TestTopicBytes reads log sizes from a real broker: events written with
// zstd take a fraction of what the same events take uncompressed, which
// take at least their own bytes.
func TestTopicBytes(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Options{Brokers: 1})
	adm := kadm.NewClient(testkit.Client(t, kgo.SeedBrokers(c.Bootstrap()...)))
	testkit.CreateTopic(t, adm, 2, 1, nil, "zstd")
	testkit.CreateTopic(t, adm, 2, 1, nil, "plain")
	var raw int64
	for topic, codec := range map[string]kgo.CompressionCodec{"zstd": kgo.ZstdCompression(), "plain": kgo.NoCompression()} {
		cl := testkit.Client(t, kgo.SeedBrokers(c.Bootstrap()...), kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic(topic))
		gen := events.New(1)
		var rs []*kgo.Record
		raw = 0
		for i := range 5000 {
			v := gen.Next(i)
			raw += int64(len(v))
			rs = append(rs, &kgo.Record{Value: v})
		}
		testkit.Produce(t, cl, rs...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	z, err := topicBytes(ctx, adm, "zstd")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := topicBytes(ctx, adm, "plain")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d value bytes: %d on disk with zstd, %d uncompressed", raw, z, plain)
	if plain < raw || z*3 > plain {
		t.Errorf("log bytes: zstd %d, uncompressed %d, values %d: want uncompressed ≥ values > 3× zstd", z, plain, raw)
	}
	if _, err := topicBytes(ctx, adm, "missing"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a topic no broker holds: %v, want an error naming it", err)
	}
}
