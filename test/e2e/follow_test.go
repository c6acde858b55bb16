package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/agent"
	gmclient "github.com/geomesh/geomesh/client"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

// followMesh writes an active-passive topology on two of the shared
// clusters with a witness and an embedded control plane, in manual mode
// (only the operator's commands decide) with quick detection, so that a
// majority sees both regions up a few seconds after the agents start.
func followMesh(t *testing.T, mesh, topic string) string {
	t.Helper()
	path, _ := witnessMesh(t, mesh, clusters[0], clusters[1], fmt.Sprintf(`
topics: {include: [%q]}
groups: {include: ["%s-.*"]}
failover:
  detection: {probe_interval: 500ms, probe_timeout: 250ms, suspicion_mult: 3, kafka_probe_interval: 1s, down_after: 3s}
`, topic, mesh))
	return path
}

// TestFollowPlannedSwitchAndFailback: a producer and a consumer group
// with a Follower keep running while the operator runs `geomesh failover
// --to west` and then `geomesh failback` on real agents and real Kafka.
// At each switch the producer pauses, the epoch flips, the consumer moves
// with translated offsets and the producer resumes on the new primary;
// every record produced is consumed exactly once, in three stretches:
// east, west, east again.
func TestFollowPlannedSwitchAndFailback(t *testing.T) {
	mesh, topic := "e2e-cf", "cf-orders"
	path := followMesh(t, mesh, topic)
	ma := newMeshAgents(t, path)
	east, west := mesh+"-east", mesh+"-west"
	createTopic(t, clusters[0], topic, 3, nil)
	ea, wa, xa := ma.startActivePassive(mesh)
	m, err := topology.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	prod, err := gmclient.NewProducer(m)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cons, err := gmclient.NewConsumer(m, mesh+"-app", gmclient.Topics(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	type stamped struct {
		gmclient.FollowEvent
		at time.Time
	}
	var emu sync.Mutex
	var events []stamped
	// The default follow interval: the drain waits PauseGrace past the
	// start of the switch, longer than a follower needs to see the pause.
	f, err := gmclient.NewFollower(m, []gmclient.Followed{prod, cons}, gmclient.OnEvent(func(ev gmclient.FollowEvent) {
		emu.Lock()
		defer emu.Unlock()
		events = append(events, stamped{ev, time.Now()})
	}))
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx)
	defer f.Close()
	// event returns the first event of kind for who at epoch.
	event := func(kind gmclient.FollowKind, who string, epoch uint64) (stamped, bool) {
		emu.Lock()
		defer emu.Unlock()
		for _, ev := range events {
			if ev.Kind == kind && ev.Client == who && ev.Epoch == epoch {
				return ev, true
			}
		}
		return stamped{}, false
	}
	waitEvent := func(kind gmclient.FollowKind, who string, epoch uint64) stamped {
		t.Helper()
		var ev stamped
		poll.Until(t, 60*time.Second, func() error {
			var ok bool
			if ev, ok = event(kind, who, epoch); !ok {
				return fmt.Errorf("no %s event of %q at epoch %d", kind, who, epoch)
			}
			return nil
		})
		return ev
	}

	// The application: batches of 10 records every 20ms, and a consumer
	// that polls all the time.
	var pmu sync.Mutex
	produced := 0
	byRegionP := map[string]int{}
	stopProd := make(chan struct{})
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		for i := 0; ; i += 10 {
			select {
			case <-stopProd:
				return
			default:
			}
			var rs []*kgo.Record
			for j := i; j < i+10; j++ {
				rs = append(rs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", j%7), Value: fmt.Appendf(nil, "cf-%d", j)})
			}
			if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Errorf("produce %d..%d: %v", i, i+9, err)
				return
			}
			pmu.Lock()
			produced += 10
			byRegionP[prod.Region()] += 10
			pmu.Unlock()
			// The application's pace, not a wait for a state.
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var cmu sync.Mutex
	seen := map[string]int{}
	var stretches []string // the regions the consumer read in, in order
	byRegionC := map[string]int{}
	stopCons := make(chan struct{})
	var cwg sync.WaitGroup
	cwg.Add(1)
	go func() {
		defer cwg.Done()
		for {
			select {
			case <-stopCons:
				return
			default:
			}
			pctx, pcancel := context.WithTimeout(ctx, 250*time.Millisecond)
			rs, err := cons.Poll(pctx)
			pcancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
				t.Logf("poll: %v", err)
			}
			region := cons.Region()
			cmu.Lock()
			for _, r := range rs {
				seen[string(r.Value)]++
				byRegionC[region]++
				if len(stretches) == 0 || stretches[len(stretches)-1] != region {
					stretches = append(stretches, region)
				}
			}
			cmu.Unlock()
		}
	}()
	// On a failure too, the application stops before the test returns.
	var pOnce, cOnce sync.Once
	stopProducer := func() { pOnce.Do(func() { close(stopProd); pwg.Wait() }) }
	stopConsumer := func() { cOnce.Do(func() { close(stopCons); cwg.Wait() }) }
	defer stopProducer()
	defer stopConsumer()
	consumed := func() int {
		cmu.Lock()
		defer cmu.Unlock()
		return len(seen)
	}
	// run waits until at least n more records were consumed.
	run := func(n int) {
		t.Helper()
		base := consumed()
		poll.Until(t, 60*time.Second, func() error {
			if got := consumed() - base; got < n {
				return fmt.Errorf("consumed %d more records, want %d", got, n)
			}
			return nil
		})
	}
	agents := []*agent.Agent{ea, wa, xa}
	operator := func(args ...string) time.Time {
		t.Helper()
		out, start := plannedSwitch(t, ctx, path, agents, []string{east, west}, args...)
		t.Logf("geomesh %s (%s): %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), out)
		return start
	}
	report := func(what, to string, start time.Time, flip uint64) {
		t.Helper()
		paused := waitEvent(gmclient.FollowPaused, "producer", flip-1)
		switched := waitEvent(gmclient.FollowSwitched, "producer", flip)
		resumed := waitEvent(gmclient.FollowResumed, "producer", flip)
		csw := waitEvent(gmclient.FollowSwitched, "consumer group "+mesh+"-app", flip)
		if switched.To != to || csw.To != to {
			t.Fatalf("%s: producer switched to %s, consumer to %s, want %s", what, switched.To, csw.To, to)
		}
		t.Logf("%s: producer paused %s after the command, for %s; resumed in %s %s after the command; consumer switch took %s",
			what, paused.at.Sub(start).Round(time.Millisecond), resumed.at.Sub(paused.at).Round(time.Millisecond),
			to, resumed.at.Sub(start).Round(time.Millisecond), csw.Took.Round(time.Millisecond))
	}

	run(500)
	start := operator("failover", "--to", west)
	poll.Until(t, 10*time.Second, func() error { return roleAt(wa, "primary", 3) })
	report("failover --to "+west, west, start, 3)
	run(500)
	start = operator("failback")
	poll.Until(t, 10*time.Second, func() error { return roleAt(ea, "primary", 5) })
	report("failback", east, start, 5)
	run(500)

	stopProducer()
	pmu.Lock()
	total := produced
	pmu.Unlock()
	for deadline := time.Now().Add(60 * time.Second); consumed() < total && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	// Every record was read (or the deadline passed); two seconds more of
	// reading, not waiting for a state, let duplicates show.
	time.Sleep(2 * time.Second)
	stopConsumer()
	missing, twice := 0, 0
	for i := range total {
		switch seen[fmt.Sprintf("cf-%d", i)] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	t.Logf("%d records produced (%v), %d consumed (%v), in stretches %v; follower at epoch %d",
		total, byRegionP, len(seen), byRegionC, stretches, f.Epoch())
	if missing > 0 {
		whereMissing(t, seen, total, topic, map[string]int{east: 0, west: 1})
	}
	if missing > 0 || twice > 0 || len(seen) != total {
		t.Fatalf("%d missing, %d read twice, %d distinct values for %d produced", missing, twice, len(seen), total)
	}
	if strings.Join(stretches, ",") != east+","+west+","+east {
		t.Fatalf("the consumer read in %v, want %s, %s, %s", stretches, east, west, east)
	}
	if f.Epoch() != 5 {
		t.Fatalf("follower at epoch %d, want 5", f.Epoch())
	}
}

// whereMissing logs where the first records never consumed are: in which
// region's topic, at which offset, with which provenance.
func whereMissing(t *testing.T, seen map[string]int, total int, topic string, regions map[string]int) {
	t.Helper()
	type pos struct {
		region           string
		partition        int32
		offset           int64
		origin, originAt string
	}
	at := map[string][]pos{}
	for name, c := range regions {
		for _, r := range readTopic(t, clusters[c], topic, total, 10*time.Second) {
			o, _ := testkit.Header(r, "geomesh-origin-region")
			oo, _ := testkit.Header(r, "geomesh-origin-offset")
			at[string(r.Value)] = append(at[string(r.Value)], pos{name, r.Partition, r.Offset, o, oo})
		}
	}
	shown := 0
	for i := range total {
		v := fmt.Sprintf("cf-%d", i)
		if seen[v] == 0 && shown < 20 {
			shown++
			t.Logf("not consumed: %s at %+v", v, at[v])
		}
	}
}
