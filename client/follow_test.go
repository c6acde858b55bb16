package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/client"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeAgent serves what an agent's API gives a follower and a consumer:
// GET /v1/failover with the state the test sets, and GET /v1/translate,
// which maps offsets one to one because the test's copier keeps the
// copies at the same offsets as their originals.
type fakeAgent struct {
	srv   *httptest.Server
	state atomic.Pointer[api.State]
	from  *kgo.Client // the cluster translations read the group's offsets in
	asked atomic.Int64
	// end, when set, makes every translation an "end" answer at it.
	end int64
}

func newFakeAgent(t *testing.T) *fakeAgent {
	a := &fakeAgent{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/failover", func(w http.ResponseWriter, _ *http.Request) {
		a.asked.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"control_plane": "reachable", "state": a.state.Load()})
	})
	mux.HandleFunc("GET /v1/translate", func(w http.ResponseWriter, r *http.Request) {
		offs, err := kadm.NewClient(a.from).FetchOffsets(r.Context(), r.URL.Query().Get("group"))
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		var parts []map[string]any
		offs.Each(func(o kadm.OffsetResponse) {
			at, state := o.At, "copied"
			if a.end > 0 {
				at, state = a.end, "end"
			}
			parts = append(parts, map[string]any{"topic": o.Topic, "partition": o.Partition, "source_offset": o.At,
				"target_topic": o.Topic, "target_offset": at, "state": state})
		})
		_ = json.NewEncoder(w).Encode(map[string]any{"partitions": parts})
	})
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeAgent) addr() string { return a.srv.Listener.Addr().String() }

func apState(epoch uint64, d api.Decision, primary, standby string, sw *api.Switch) *api.State {
	return &api.State{Epoch: epoch, Decision: d, Switch: sw, Regions: map[string]api.RegionState{
		primary: {Role: api.RolePrimary}, standby: {Role: api.RoleStandby}}}
}

// TestFollowerPlannedSwitch drives a producer and a consumer through a
// planned switch with a Follower reading fake agents' GET /v1/failover on
// two kfake clusters: at switchover-started the producer pauses (nothing
// more reaches us, and a record whose context ends fails with ErrPaused);
// after the flip both switch to eu, the producer resumes there, and the
// consumer reads every record exactly once across the two regions. Then
// us's agent is gone and the follower reads eu's.
func TestFollowerPlannedSwitch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cls []*kfake.Cluster
	for range 2 {
		c := testkit.FakeCluster(t, kfake.SeedTopics(1, "orders"))
		cls = append(cls, c)
	}
	us, eu := newFakeAgent(t), newFakeAgent(t)
	eu.from = testkit.Client(t, kgo.SeedBrokers(cls[0].ListenAddrs()...))
	m, err := topology.Parse("follow.yaml", refusing(t, fmt.Sprintf(`
mesh: follow
topology: {kind: active-passive, primary: us, standby: [eu]}
naming: identity
regions:
  - {name: us, kafka: {bootstrap: [%q]}, agents: [{id: us-1, gossip: NOWHERE, api: %q}]}
  - {name: eu, kafka: {bootstrap: [%q]}, agents: [{id: eu-1, gossip: NOWHERE, api: %q}]}
control_plane: {urls: ["nats://NOWHERE"]}
`, cls[0].ListenAddrs()[0], us.addr(), cls[1].ListenAddrs()[0], eu.addr())))
	if err != nil {
		t.Fatal(err)
	}
	setState := func(s *api.State) { us.state.Store(s); eu.state.Store(s) }
	setState(apState(1, api.DecisionInit, "us", "eu", nil))

	prod, err := client.NewProducer(m)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cons, err := client.NewConsumer(m, "app", client.Topics("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	events := make(chan client.FollowEvent, 100)
	f, err := client.NewFollower(m, []client.Followed{prod, cons}, client.FollowInterval(50*time.Millisecond),
		client.OnEvent(func(ev client.FollowEvent) { events <- ev }))
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx)
	defer f.Close()
	var got []client.FollowEvent // in the order they came
	waitEvent := func(kind client.FollowKind, who string) client.FollowEvent {
		t.Helper()
		for i := 0; ; i++ {
			for i >= len(got) {
				select {
				case ev := <-events:
					got = append(got, ev)
				case <-ctx.Done():
					t.Fatalf("no %s event of %q", kind, who)
				}
			}
			if ev := got[i]; ev.Kind == kind && ev.Client == who {
				return ev
			}
		}
	}
	order := func(kind client.FollowKind, who string) int {
		for i, ev := range got {
			if ev.Kind == kind && ev.Client == who {
				return i
			}
		}
		return -1
	}
	waitEvent(client.FollowEpoch, "")

	// The clients of the agents' copier, below.
	src := testkit.Client(t, kgo.SeedBrokers(cls[0].ListenAddrs()...), kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	dst := testkit.Client(t, kgo.SeedBrokers(cls[1].ListenAddrs()...), kgo.DefaultProduceTopic("orders"))

	// The application: a producer writing 0, 1, 2, ... and a consumer.
	var acked atomic.Int64
	stopProd := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stopProd:
				return
			default:
			}
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Errorf("produce %d: %v", i, err)
				return
			}
			acked.Add(1)
			// The application's pace, not a wait for a state.
			time.Sleep(2 * time.Millisecond)
		}
	})
	seen := map[string]int{}
	byRegion := map[string]int{}
	var smu sync.Mutex
	stopCons := make(chan struct{})
	var cwg sync.WaitGroup
	cwg.Go(func() {
		for {
			select {
			case <-stopCons:
				return
			default:
			}
			pctx, pcancel := context.WithTimeout(ctx, 100*time.Millisecond)
			rs, _ := cons.Poll(pctx)
			pcancel()
			region := cons.Region()
			smu.Lock()
			for _, r := range rs {
				seen[string(r.Value)]++
				byRegion[region]++
			}
			smu.Unlock()
		}
	})

	// The agents' copier us → eu, at the same offsets.
	copyCtx, stopCopy := context.WithCancel(ctx)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		for copyCtx.Err() == nil {
			fs := src.PollFetches(copyCtx)
			var rs []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) { rs = append(rs, &kgo.Record{Value: r.Value}) })
			if err := dst.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Errorf("copy: %v", err)
				return
			}
		}
	}()
	var pOnce, cOnce sync.Once
	stopProducer := func() { pOnce.Do(func() { close(stopProd); wg.Wait() }) }
	stopConsumer := func() { cOnce.Do(func() { close(stopCons); cwg.Wait() }) }
	// On a failure too, the application and the copier stop before the
	// test returns; the context first, as a paused producer waits on it.
	defer func() {
		cancel()
		stopCopy()
		<-copied
		stopConsumer()
		stopProducer()
	}()

	for acked.Load() < 200 {
		if ctx.Err() != nil {
			t.Fatal("the producer did not get going")
		}
		time.Sleep(10 * time.Millisecond)
	}
	started := time.Now()
	setState(apState(2, api.DecisionSwitchStart, "us", "eu", &api.Switch{From: "us", To: "eu", Clients: "us", Started: started}))
	paused := waitEvent(client.FollowPaused, "producer")
	t.Logf("producer paused %s after switchover-started, %d records acked", time.Since(started).Round(time.Millisecond), acked.Load())
	usEnd := endOffset(t, cls[0])
	n := acked.Load()
	pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = prod.ProduceSync(pctx, &kgo.Record{Topic: "orders", Value: []byte("late")}).FirstErr()
	pcancel()
	if !errors.Is(err, client.ErrPaused) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("produce while paused: %v, want ErrPaused and the deadline", err)
	}
	if got := endOffset(t, cls[0]); got != usEnd || acked.Load() != n || paused.Epoch != 2 {
		t.Fatalf("while paused at epoch %d, us went from %d to %d records, acked %d to %d", paused.Epoch, usEnd, got, n, acked.Load())
	}
	// Drained: every record of us is in eu; the copier stops at the flip.
	for endOffset(t, cls[1]) != usEnd {
		if ctx.Err() != nil {
			t.Fatal("the copier did not drain")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopCopy()
	<-copied
	flipped := time.Now()
	setState(apState(3, api.DecisionSwitchover, "eu", "us", nil))
	sw := waitEvent(client.FollowSwitched, "producer")
	swTook := time.Since(flipped)
	waitEvent(client.FollowResumed, "producer")
	csw := waitEvent(client.FollowSwitched, "consumer group app")
	t.Logf("after the flip: producer in %s after %s, consumer switched in %s", sw.To, swTook.Round(time.Millisecond), csw.Took.Round(time.Millisecond))
	if order(client.FollowResumed, "producer") < order(client.FollowSwitched, "consumer group app") {
		t.Errorf("the producer resumed before the consumer switched: %v", got)
	}
	if sw.To != "eu" || csw.To != "eu" || prod.Region() != "eu" || cons.Region() != "eu" || f.Epoch() != 3 {
		t.Fatalf("after the flip: producer in %s, consumer in %s, epoch %d", prod.Region(), cons.Region(), f.Epoch())
	}
	// us's agent is gone: the follower skips it.
	us.srv.Close()
	before := eu.asked.Load()
	for eu.asked.Load() < before+3 {
		if ctx.Err() != nil {
			t.Fatal("the follower stopped asking eu's agent once us's was gone")
		}
		time.Sleep(10 * time.Millisecond)
	}
	base := acked.Load()
	for acked.Load() < base+200 {
		if ctx.Err() != nil {
			t.Fatal("the producer did not resume in eu")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopProducer()
	total := acked.Load()
	for {
		smu.Lock()
		n := len(seen)
		smu.Unlock()
		if int64(n) >= total {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", n, total)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Every record was read; 300 ms more of reading, not waiting for a
	// state, lets duplicates show.
	time.Sleep(300 * time.Millisecond)
	stopConsumer()
	if got := endOffset(t, cls[0]); got != usEnd {
		t.Errorf("us took %d records after the pause", got-usEnd)
	}
	dups, missing := 0, 0
	for i := range total {
		switch seen[strconv.Itoa(int(i))] {
		case 0:
			missing++
		case 1:
		default:
			dups++
		}
	}
	t.Logf("%d records produced (%d in us, %d in eu), %d consumed (%d in us, %d in eu)", total, usEnd, total-usEnd, len(seen), byRegion["us"], byRegion["eu"])
	if missing > 0 || dups > 0 || len(seen) != int(total) || byRegion["us"] == 0 || byRegion["eu"] == 0 {
		t.Fatalf("%d missing, %d read twice, %d distinct values, by region %v", missing, dups, len(seen), byRegion)
	}
}

func endOffset(t *testing.T, c *kfake.Cluster) int64 {
	t.Helper()
	ends, err := testkit.Admin(t, kgo.SeedBrokers(c.ListenAddrs()...)).ListEndOffsets(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	o, _ := ends.Lookup("orders", 0)
	return o.Offset
}
