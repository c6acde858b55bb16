//go:build linux

package netns_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/test/netns"
)

// TestKafkaAcrossNamespaces runs a real broker in one region's namespace
// and a client in another's: records pass, a WAN link delays them, a cut
// stops them, healing lets them through, and every acknowledged record is
// read back in order.
func TestKafkaAcrossNamespaces(t *testing.T) {
	n := netns.New(t, netns.Options{})
	east, west := n.Add("us-east"), n.Add("eu-west")
	c := kafkatest.Start(t, kafkatest.Options{Host: east.Addr.String(), CommandPrefix: east.Prefix(), Dial: east.Dial})
	for _, a := range c.Bootstrap() {
		if want := east.Addr.String() + ":"; a[:len(want)] != want {
			t.Fatalf("broker at %s, want in %s", a, east)
		}
	}
	testkit.CreateTopic(t, testkit.Admin(t, c.ClientOptions()...), 1, 1, nil, "orders")

	const delay = 50 * time.Millisecond
	if err := n.WAN(east, west, netns.Link{Delay: delay}); err != nil {
		t.Fatal(err)
	}
	// Links apply to connections opened after SetLink, so the client is
	// made after it.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.Dialer(west.Dial),
		kgo.DefaultProduceTopic("orders"),
		// A record sent across the cut fails within seconds instead of
		// being retried until the cut heals. An idempotent producer may
		// not give up on a record that might have been written, so this
		// one is not idempotent.
		kgo.DisableIdempotentWrite(), kgo.RecordRetries(1),
		kgo.ProduceRequestTimeout(2*time.Second), kgo.RequestTimeoutOverhead(time.Second),
		kgo.RecordDeliveryTimeout(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var acked []string
	produce := func(v string, timeout time.Duration) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		begin := time.Now()
		if err := cl.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			return 0, err
		}
		acked = append(acked, v)
		return time.Since(begin), nil
	}
	if _, err := produce("warm-up", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		d, err := produce(fmt.Sprintf("wan-%d", i), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if d < 2*delay {
			t.Errorf("produce over a %s link took %s, want at least %s", delay, d, 2*delay)
		}
		t.Logf("produce %d over the WAN link: %s", i, d)
	}

	if err := n.Cut(east, west); err != nil {
		t.Fatal(err)
	}
	if _, err := produce("cut", 3*time.Second); err == nil {
		t.Fatal("produce across a cut succeeded")
	} else {
		t.Logf("produce across the cut: %v", err)
	}
	if err := n.Heal(east, west); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for attempt := 1; ; attempt++ {
		_, err := produce(fmt.Sprintf("healed-%d", attempt), 5*time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("produce after heal: %v", err)
		}
	}

	rd, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.Dialer(west.Dial),
		kgo.ConsumeTopics("orders"), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// Records whose produce failed may or may not have been written;
	// only the acknowledged ones must all be there, in order.
	want := map[string]bool{}
	for _, v := range acked {
		want[v] = true
	}
	var got []string
	var offsets []int64
	for len(got) < len(acked) {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d acknowledged records: %v", len(got), len(acked), got)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if want[string(r.Value)] {
				got = append(got, string(r.Value))
				offsets = append(offsets, r.Offset)
			}
		})
	}
	t.Logf("read the %d acknowledged records at offsets %v", len(got), offsets)
	if fmt.Sprint(got) != fmt.Sprint(acked) {
		t.Errorf("read %v (offsets %v), want the acknowledged %v", got, offsets, acked)
	}
}
