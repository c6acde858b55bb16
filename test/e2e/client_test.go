package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	gmclient "github.com/geomesh/geomesh/client"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClientSwitch is the acceptance test of the client library: a
// consumer group consumes a continuous bounded stream (plain records, a
// committed and an aborted transaction) on one real cluster, switches mid
// stream to the other, where an agent replicates and translates, and
// every committed record is consumed exactly once overall, by value.
func TestClientSwitch(t *testing.T) {
	t.Parallel()
	srcC, dstC := clusters[2], clusters[3]
	path := meshFile(t, "e2e-cl", []region{{"cl-east", srcC, 1}, {"cl-west", dstC, 1}}, `
topology: {kind: active-passive, primary: cl-east, standby: [cl-west]}
topics: {include: ["cl-orders"]}
groups: {include: ["cl-.*"]}
`)
	createTopic(t, srcC, "cl-orders", 4, nil)
	startAgents(t, path, "cl-west")
	m, err := topology.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	// The stream: 6,000 plain records in batches of 50 with pauses, and
	// in the middle a committed and an aborted transaction of 100.
	const plain = 6000
	want := map[string]bool{}
	for i := range plain {
		want[fmt.Sprintf("c-%d", i)] = true
	}
	for i := range 100 {
		want[string(record("cl-east", "cl-orders", 100000+i).Value)] = true
	}
	prod, err := gmclient.NewProducer(m)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	committed, aborted := txnClient(t, srcC, "cl-orders", 100000), txnClient(t, srcC, "cl-orders", 200000)
	var wg sync.WaitGroup
	// On a failure too, the stream stops before the test returns.
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() {
		for i := 0; i < plain; i += 50 {
			if i == plain/2 {
				for _, txn := range []struct {
					cl     *kgo.Client
					from   int
					commit bool
				}{{committed, 100000, true}, {aborted, 200000, false}} {
					if err := writeTxn(ctx, txn.cl, "cl-east", "cl-orders", txn.from, 100, txn.commit); err != nil {
						t.Error(err)
						return
					}
				}
			}
			var rs []*kgo.Record
			for j := i; j < i+50; j++ {
				rs = append(rs, &kgo.Record{Topic: "cl-orders", Key: fmt.Appendf(nil, "k%d", j%13), Value: fmt.Appendf(nil, "c-%d", j)})
			}
			if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			// The pause between batches is the stream's pace, so that the
			// switch falls in the middle of it.
			time.Sleep(20 * time.Millisecond)
		}
	})

	cons, err := gmclient.NewConsumer(m, "cl-app", gmclient.Topics("cl-orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]int{}
	byRegion := map[string]int{}
	poll := func(d time.Duration) {
		pctx, pcancel := context.WithTimeout(ctx, d)
		defer pcancel()
		rs, err := cons.Poll(pctx)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("poll: %v", err)
		}
		for _, r := range rs {
			seen[string(r.Value)]++
			byRegion[cons.Region()]++
		}
	}
	for len(seen) < len(want)/3 && ctx.Err() == nil {
		poll(time.Second)
	}
	start := time.Now()
	if err := cons.Switch(ctx, "cl-west"); err != nil {
		t.Fatal(err)
	}
	switchTook := time.Since(start)
	for len(seen) < len(want) && ctx.Err() == nil {
		poll(time.Second)
	}
	wg.Wait()
	// Two seconds more of polling, not waiting for a state: copies read
	// twice would arrive now.
	for settle := time.Now().Add(2 * time.Second); time.Now().Before(settle); {
		poll(250 * time.Millisecond)
	}
	var twice, foreign []string
	for v, n := range seen {
		if !want[v] {
			foreign = append(foreign, v)
		} else if n > 1 {
			twice = append(twice, fmt.Sprintf("%s×%d", v, n))
		}
	}
	missing := 0
	for v := range want {
		if seen[v] == 0 {
			missing++
		}
	}
	t.Logf("%d records: %d consumed in cl-east, %d in cl-west; switch took %s", len(want), byRegion["cl-east"], byRegion["cl-west"], switchTook.Round(time.Millisecond))
	if missing > 0 || len(twice) > 0 || len(foreign) > 0 {
		t.Fatalf("%d skipped, read twice: %s; not committed on the source: %s", missing, strings.Join(twice, " "), strings.Join(foreign, " "))
	}
	if byRegion["cl-east"] == 0 || byRegion["cl-west"] == 0 {
		t.Fatalf("the switch did not happen mid-stream: %v", byRegion)
	}
}
