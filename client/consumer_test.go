package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/client"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/local/meshtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const apExample = "../configs/examples/active-passive.yaml"

// TestSwitchMidStream consumes a stream that keeps being produced in the
// primary, switches the group to the standby in the middle while a Poll
// waits, and checks that every record was consumed exactly once overall.
func TestSwitchMidStream(t *testing.T) {
	mesh := meshtest.Start(t, apExample)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	testkit.CreateTopic(t, kadm.NewClient(mesh.Client(t, "us-east")), 3, 1, nil, "orders")

	const total = 3000
	prod, err := client.NewProducer(mesh.Topology())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var wg sync.WaitGroup
	// On a failure too, the stream stops before the test returns.
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() {
		for i := 0; i < total; i += 50 {
			var rs []*kgo.Record
			for j := i; j < i+50; j++ {
				rs = append(rs, &kgo.Record{Topic: "orders", Key: []byte(strconv.Itoa(j % 11)), Value: []byte(strconv.Itoa(j))})
			}
			if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			// The stream's pace, so that the switch falls in the middle
			// of it; not a wait for a state.
			time.Sleep(20 * time.Millisecond)
		}
	})

	cons, err := client.NewConsumer(mesh.Topology(), "billing", client.Topics("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]int{}
	byRegion := map[string]int{}
	consume := func(until int) {
		t.Helper()
		for len(seen) < until {
			if ctx.Err() != nil {
				t.Fatalf("consumed %d distinct records, want %d", len(seen), until)
			}
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			rs, err := cons.Poll(pctx)
			pcancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("poll: %v", err)
			}
			for _, r := range rs {
				seen[string(r.Value)]++
				byRegion[cons.Region()]++
			}
		}
	}
	consume(total / 3)
	// Switch comes from another goroutine, as a failover event would, and
	// interrupts the Poll in progress.
	switched := make(chan error, 1)
	go func() { switched <- cons.Switch(ctx, "eu-west") }()
	consume(total)
	wg.Wait()
	if err := <-switched; err != nil {
		t.Fatal(err)
	}
	// A second more of reading, not waiting for a state, shows
	// duplicates that arrive late.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		rs, _ := cons.Poll(pctx)
		pcancel()
		for _, r := range rs {
			seen[string(r.Value)]++
		}
	}
	var dups []string
	for v, n := range seen {
		if n != 1 {
			dups = append(dups, fmt.Sprintf("%s×%d", v, n))
		}
	}
	if len(seen) != total || len(dups) > 0 {
		t.Fatalf("%d distinct records of %d, read more than once: %s", len(seen), total, strings.Join(dups, " "))
	}
	t.Logf("consumed %d in us-east, %d in eu-west, each record once", byRegion["us-east"], byRegion["eu-west"])
	if byRegion["us-east"] == 0 || byRegion["eu-west"] == 0 {
		t.Fatalf("the switch did not happen mid-stream: %v", byRegion)
	}
}

// TestProducerRefusesStandby: the standby of an active-passive mesh takes
// no writes until a switch makes it the primary, and then the old primary
// takes none; nothing is dropped silently.
func TestProducerRefusesStandby(t *testing.T) {
	mesh := meshtest.Start(t, apExample)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	standby, err := client.NewProducer(mesh.Topology(), client.Region("eu-west"))
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close()
	err = standby.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, client.ErrNotPrimary) || !strings.Contains(err.Error(), "region eu-west") {
		t.Fatalf("produce to the standby: %v, want ErrNotPrimary naming eu-west", err)
	}

	testkit.CreateTopic(t, kadm.NewClient(mesh.Client(t, "us-east")), 1, 1, nil, "orders")
	prod, err := client.NewProducer(mesh.Topology(), client.RecordIDs())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	r := &kgo.Record{Topic: "orders", Value: []byte("to us-east")}
	if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil || prod.Region() != "us-east" {
		t.Fatalf("produce to the primary: %v (region %s)", err, prod.Region())
	}
	if id, ok := testkit.Header(r, client.HeaderRecordID); !ok || len(id) != 32 {
		t.Fatalf("record id %q", id)
	}
	// A failover comes after the mesh has copied the topic to the standby.
	standbyAdm := kadm.NewClient(mesh.Client(t, "eu-west"))
	for {
		tds, err := standbyAdm.ListTopics(ctx, "orders")
		if err == nil && tds.Has("orders") && tds["orders"].Err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("orders never appeared in eu-west: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := prod.Switch(ctx, "eu-west"); err != nil {
		t.Fatal(err)
	}
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("to eu-west")}).FirstErr(); err != nil {
		t.Fatalf("produce to the promoted standby: %v", err)
	}
	if err := prod.Switch(ctx, "witness"); err == nil {
		t.Fatal("switched to a witness region")
	}
	var got []string
	cl := mesh.Client(t, "eu-west", kgo.ConsumeTopics("orders"), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	for len(got) < 2 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	slices.Sort(got) // the copy from us-east may land after the local write
	if strings.Join(got, ",") != "to eu-west,to us-east" {
		t.Fatalf("eu-west holds %q", got)
	}
}
