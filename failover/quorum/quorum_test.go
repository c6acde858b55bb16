package quorum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// cluster starts n embedded nodes routing to each other and opens the
// store on each; it returns them and how long formation took.
//
// Each cluster has a mesh name of its own. nats-server takes a route
// from any server that gives the same cluster name (geomesh-<mesh>, no
// other credential), a node keeps redialing its stopped peers' ports,
// and testkit.FreeAddr's ports are free for anyone to take. Under one
// fixed name a node of another run of this test on the host (a second CI
// job, the package tested twice at once) that takes such a port joins
// the "lone" survivor: that cluster's majority acknowledges the
// survivor's writes to $KV.geomesh-<mesh>.> while the survivor's own
// replica commits nothing, and "check on the minority side" gets nil,
// which is no minority write. Under different names the route is
// refused.
func cluster(t *testing.T, n int) ([]*Node, []*Store, time.Duration) {
	return clusterWith(t, n, nil)
}

// clusterWith is cluster with each node's config passed through secure
// (when not nil) before the node is made.
func clusterWith(t *testing.T, n int, secure func(*Config)) ([]*Node, []*Store, time.Duration) {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = testkit.FreeAddr(t)
	}
	// n0 ranks first, so the first cluster of this process gives it the
	// first election window (see TestElectionAfterLeaderLoss).
	slices.Sort(addrs)
	mesh := fmt.Sprintf("test-%016x", rand.Uint64())
	nodes := make([]*Node, n)
	for i := range nodes {
		cfg := Config{
			Mesh:        mesh,
			Name:        fmt.Sprintf("n%d", i),
			ClusterAddr: addrs[i],
			Peers:       addrs,
			StoreDir:    t.TempDir(),
			Timeout:     time.Second,
		}
		if secure != nil {
			secure(&cfg)
		}
		nodes[i] = NewNode(cfg)
		t.Cleanup(func() { _ = nodes[i].Close() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	for _, nd := range nodes {
		if err := nd.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, nd := range nodes {
		wg.Go(func() { stores[i], errs[i] = nd.Open(ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return nodes, stores, time.Since(start)
}

func state(epoch uint64) api.State {
	return api.State{Epoch: epoch, Regions: map[string]api.RegionState{"a": {Role: api.RolePrimary}},
		Decision: api.DecisionFailover, Reason: "test", Time: time.Now().UTC()}
}

// TestCluster proves the decisions plane on three embedded nodes: a
// compare-and-set on a revision lets exactly one of two concurrent
// writers through; with one node gone the majority still decides; a node
// left alone cannot decide anything.
func TestCluster(t *testing.T) {
	ctx := context.Background()
	nodes, stores, formed := cluster(t, 3)
	t.Logf("3 embedded nodes: cluster formed and bucket open on all after %v", formed.Round(time.Millisecond))

	start := time.Now()
	var leader string
	poll.Until(t, 10*time.Second, func() error {
		if leader = stores[0].Leader(ctx); leader == "" {
			return errors.New("no stream leader")
		}
		return nil
	})
	t.Logf("bucket stream leader %s known %v later (%v after start)", leader, time.Since(start).Round(time.Millisecond), (formed + time.Since(start)).Round(time.Millisecond))

	// Nothing stored; a watch says so, then reports each write.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	changes, err := stores[2].Watch(wctx)
	if err != nil {
		t.Fatal(err)
	}
	if sc := <-changes; sc.State != nil || sc.Revision != 0 {
		t.Fatalf("initial watch value %+v, want none", sc)
	}
	if st, rev, err := stores[1].Load(ctx); st != nil || rev != 0 || err != nil {
		t.Fatalf("load of an empty bucket: %v, %d, %v", st, rev, err)
	}

	// Create: first wins, second conflicts.
	rev, err := stores[0].CompareAndSet(ctx, 0, state(1))
	if err != nil || rev == 0 {
		t.Fatalf("create: %d, %v", rev, err)
	}
	if _, err := stores[1].CompareAndSet(ctx, 0, state(1)); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	if sc := <-changes; sc.State == nil || sc.State.Epoch != 1 || sc.Revision != rev {
		t.Fatalf("watch after create: %+v", sc)
	}

	// Concurrent compare-and-set from two nodes on the same revision:
	// exactly one wins, every round.
	const rounds = 20
	for round := range rounds {
		epoch := uint64(round + 2)
		var wg sync.WaitGroup
		var results [2]error
		var revs [2]uint64
		gate := make(chan struct{})
		for i := range 2 {
			wg.Go(func() {
				<-gate
				revs[i], results[i] = stores[i+1].CompareAndSet(ctx, rev, state(epoch))
			})
		}
		close(gate)
		wg.Wait()
		won := 0
		for i, err := range results {
			switch {
			case err == nil:
				won++
				rev = revs[i]
			case !errors.Is(err, ErrConflict):
				t.Fatalf("round %d: node %d: %v", round, i+1, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d winners, want exactly 1 (%v)", round, won, results)
		}
	}
	t.Logf("%d rounds of two concurrent compare-and-sets on one revision: exactly one winner each", rounds)

	// Propose maps a lost race to the winner's state.
	res := stores[0].Propose(ctx, machine.Propose{Revision: rev - 1, State: state(99)})
	if res.OK || res.NoQuorum || res.Current == nil || res.Current.Epoch != rounds+1 || res.Revision != rev {
		t.Fatalf("propose on a stale revision: %+v", res)
	}

	// One node down: the two others are a majority and still decide (a
	// new stream leader is elected if the lost node led).
	_ = nodes[2].Close()
	start = time.Now()
	poll.Until(t, 15*time.Second, func() error {
		r, err := stores[0].CompareAndSet(ctx, rev, state(100))
		if err == nil {
			rev = r
		} else if errors.Is(err, ErrConflict) {
			_, rev, _ = stores[0].Load(ctx)
		}
		return err
	})
	t.Logf("one of three nodes stopped: majority wrote after %v", time.Since(start).Round(time.Millisecond))
	if err := stores[1].Check(ctx); err != nil {
		t.Fatalf("check on the majority side: %v", err)
	}

	// Two nodes down: the survivor is a minority and cannot decide.
	_ = nodes[0].Close()
	start = time.Now()
	_, err = stores[1].CompareAndSet(ctx, rev, state(101))
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("compare-and-set on the minority side: %v, want ErrNoQuorum", err)
	}
	t.Logf("minority compare-and-set failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if err := stores[1].Check(ctx); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("check on the minority side: %v, want ErrNoQuorum (the survivor has %d routes, want 0)", err, nodes[1].srv.NumRoutes())
	}
	if res := stores[1].Propose(ctx, machine.Propose{Revision: rev, State: state(101)}); !res.NoQuorum {
		t.Fatalf("propose on the minority side: %+v, want NoQuorum", res)
	}
}

func TestEventsAndViews(t *testing.T) {
	_, stores, _ := cluster(t, 1)
	events := make(chan api.Event, 1)
	stop, err := stores[0].SubscribeEvents(func(e api.Event) { events <- e })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	views := make(chan []machine.View, 1)
	stopViews, err := stores[0].SubscribeViews(func(v []machine.View) { views <- v })
	if err != nil {
		t.Fatal(err)
	}
	defer stopViews()

	ev := api.Event{Kind: api.DecisionFailover, Epoch: 2, From: "a", To: "b", Reason: "region a down", Time: time.Now().UTC()}
	if err := stores[0].PublishEvent(ev); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-events:
		if !got.Time.Equal(ev.Time) || got.Kind != ev.Kind || got.Epoch != 2 || got.From != "a" || got.To != "b" {
			t.Fatalf("event %+v, want %+v", got, ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	v := []machine.View{{Observer: "b", Region: "a", Verdict: "down", At: time.Now().UTC()}}
	if err := stores[0].PublishViews(v); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-views:
		if len(got) != 1 || got[0].Observer != "b" || got[0].Verdict != "down" {
			t.Fatalf("views %+v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no views")
	}
}

func TestNodeConfig(t *testing.T) {
	if err := NewNode(Config{}).Start(context.Background()); err == nil {
		t.Fatal("start without mesh, name or cluster address: no error")
	}
	n := NewNode(Config{Mesh: "m", Name: "x", ClusterAddr: "127.0.0.1:0"})
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err == nil {
		t.Fatal("start after close: no error")
	}
	// No silent default for the store: the caller names it, and a
	// directory that cannot be made is named in the error.
	err := NewNode(Config{Mesh: "m", Name: "x", ClusterAddr: testkit.FreeAddr(t)}).Start(context.Background())
	if want := "quorum: node x: invalid config: store dir is required for an embedded node"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("start without a store dir: %v, want %q", err, want)
	}
	file := testkit.TempFile(t, "not-a-dir", "")
	n = NewNode(Config{Mesh: "m", Name: "x", ClusterAddr: testkit.FreeAddr(t), StoreDir: filepath.Join(file, "x")})
	err = n.Start(context.Background())
	_ = n.Close()
	if want := "quorum: node x: store dir " + filepath.Join(file, "x") + ": "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("start with a store dir under a file: %v, want %q", err, want)
	}
	if err := NewNode(Config{Mesh: "m", Name: "x", URLs: []string{"nats://" + testkit.RefusedAddr(t)}}).Start(context.Background()); err == nil || strings.Contains(err.Error(), "store dir") {
		t.Errorf("an external node needs no store dir: %v", err)
	}
	for _, tc := range []struct {
		peers, want int
	}{{0, 1}, {1, 1}, {2, 3}, {3, 3}, {4, 5}, {6, 5}} {
		peers := make([]string, tc.peers)
		if got := (Config{Peers: peers}).withDefaults().Replicas; got != tc.want {
			t.Errorf("%d peers: replicas %d, want %d", tc.peers, got, tc.want)
		}
	}
}

// TestLeadFrom moves the bucket's stream leader to the node that asks, and
// shows why the writer region wants it: with the leader at home, stopping
// another node leaves writes going at once instead of after an election.
func TestLeadFrom(t *testing.T) {
	ctx := context.Background()
	nodes, stores, _ := cluster(t, 3)
	var leader string
	poll.Until(t, 10*time.Second, func() error {
		if leader = stores[0].Leader(ctx); leader == "" {
			return errors.New("no stream leader")
		}
		return nil
	})
	// The asker is a node that does not lead.
	asker := 0
	for i := range nodes {
		if nodes[i].cfg.Name != leader {
			asker = i
			break
		}
	}
	name := nodes[asker].cfg.Name
	if moved, err := stores[asker].LeadFrom(ctx, leader, nil); err != nil || !moved {
		t.Fatalf("LeadFrom on %s (leader %s): moved %v, %v", name, leader, moved, err)
	}
	start := time.Now()
	poll.Until(t, 10*time.Second, func() error {
		if l := stores[asker].Leader(ctx); l != name {
			return fmt.Errorf("leader %q, want %s", l, name)
		}
		return stores[asker].Check(ctx)
	})
	t.Logf("stream leader moved from %s to %s in %v", leader, name, time.Since(start).Round(time.Millisecond))
	if moved, err := stores[asker].LeadFrom(ctx, name, nil); err != nil || moved {
		t.Fatalf("LeadFrom on the leader: moved %v, %v; want no move", moved, err)
	}
	// A leader in the asker's own region is left where it is.
	other := (asker + 1) % 3
	if moved, err := stores[other].LeadFrom(ctx, name, []string{name}); err != nil || moved {
		t.Fatalf("LeadFrom with the leader in our region: moved %v, %v; want no move", moved, err)
	}

	poll.Until(t, 10*time.Second, func() error {
		if l, behind := stores[asker].Replicas(ctx); l != name || len(behind) > 0 {
			return fmt.Errorf("leader %q, replicas behind %v; want %s, none", l, behind, name)
		}
		return nil
	})

	// Stop a node that does not lead: the leader's next write succeeds
	// within one request, with no election.
	_ = nodes[other].Close()
	start = time.Now()
	if err := stores[asker].Check(ctx); err != nil {
		t.Fatalf("write right after a follower stopped: %v", err)
	}
	t.Logf("write with a follower just stopped confirmed in %v", time.Since(start).Round(time.Millisecond))
	// The leader reports the stopped node behind once it misses it.
	poll.Until(t, 20*time.Second, func() error {
		if _, behind := stores[asker].Replicas(ctx); !slices.Equal(behind, []string{nodes[other].cfg.Name}) {
			return fmt.Errorf("replicas behind %v, want [%s]", behind, nodes[other].cfg.Name)
		}
		return nil
	})
	t.Logf("stopped follower reported behind %v after it stopped", time.Since(start).Round(time.Millisecond))
}

// TestElectionAfterLeaderLoss kills the stream's leader, a node in a
// child process that took the leadership, with SIGKILL (a node closed in
// process hands its leadership over at once) three times, and times the
// survivors' election of a new stream leader (its advisory) and their
// first confirmed write.
//
// It is the guard of natselection.go. Each kill follows a write that the
// child confirmed, so the survivor that wins got that write's append
// entry, which re-armed its election timer, after the write began (a
// voter refuses a candidate that lacks its entries). Under nats-server's
// own timers (4–9s) no survivor can lead sooner than 4s after the write;
// under the window natselection.go set, 2–2.5s for a process whose first
// node ranks first, one leads within it (2.05–2.5s in 24 rounds, once
// 3.1s). The test wants a median election within the window's end plus
// 1s (3.5s), below 4s: past it, raft does not read what natselection.go
// writes (4.7–8.6s when it wrote nothing), or the machine is too busy to
// tell. Both survivors live in this process and share its window, so now
// and then they stand at once and split the vote, which costs one more
// window; the median of three rounds bears one such round. (Nodes in
// processes of their own have windows of their own, and split no vote.)
//
// With nats-server's timers a round's first write takes at most 4s in
// one of ten, so a median of at most 4s comes by chance in one run of
// 35; with the window, it takes at most its end after the last
// heartbeat.
func TestElectionAfterLeaderLoss(t *testing.T) {
	ctx := context.Background()
	addrs := []string{testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t)}
	slices.Sort(addrs) // the child ranks last
	mesh := fmt.Sprintf("test-%016x", rand.Uint64())
	childDir := t.TempDir()
	nodes := make([]*Node, 2)
	for i := range nodes {
		nodes[i] = NewNode(Config{Mesh: mesh, Name: fmt.Sprintf("n%d", i), ClusterAddr: addrs[i], Peers: addrs, StoreDir: t.TempDir(), Timeout: time.Second})
		t.Cleanup(func() { _ = nodes[i].Close() })
		if err := nodes[i].Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The window of the first node this process started, here or in an
	// earlier test (clusterWith, like this test, ranks n0 first: 2–2.5s);
	// the survivors draw from it.
	window, err := setNATSElection(electionWindowFor(electionSlot(addrs[0], addrs)))
	if err != nil {
		t.Fatalf("nats-server %s: %v\n\n%s", natsServerVersion(), err, natsElectionHelp)
	}
	// An election ends within the window, after a vote that takes
	// milliseconds on loopback. The slack covers a candidate that waits
	// min/4 more because it has not applied its log yet
	// (switchToCandidate, raft.go:6253 of v2.15.2) and a busy machine.
	const slack = time.Second
	bound := window.Max + slack
	if bound >= natsElectionDefault.Min {
		t.Fatalf("this process's first node set the election window %v–%v: with its end plus %v at or past nats-server's default minimum %v this test cannot tell the two apart; the first node a test of this package starts must rank first (clusterWith sorts the addresses)",
			window.Min, window.Max, slack, natsElectionDefault.Min)
	}
	advisories := make(chan *nats.Msg, 64)
	for _, nd := range nodes {
		sub, err := nd.Conn().ChanSubscribe(server.JSAdvisoryStreamLeaderElectedPre+".KV_"+Bucket(mesh), advisories)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}

	var stores []*Store
	var elected, took []time.Duration
	for round := range 3 {
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), "GEOMESH_QUORUM_CHILD="+strings.Join([]string{mesh, addrs[2], strings.Join(addrs, ","), childDir}, ";"))
		child.Stderr = os.Stderr
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
		if stores == nil {
			// The bucket's three replicas need the child's node too.
			stores = []*Store{storeOf(ctx, t, nodes[0]), storeOf(ctx, t, nodes[1])}
		}
		var wrote time.Time
		poll.Until(t, 30*time.Second, func() error {
			if l := stores[0].Leader(ctx); l != "child" {
				return fmt.Errorf("round %d: stream leader %q, want child", round, l)
			}
			wrote = time.Now()
			return stores[0].Check(ctx)
		})
		if err := child.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		_ = child.Wait()
		leader, at := survivorElected(t, advisories, wrote, 15*time.Second)
		elected = append(elected, at.Sub(wrote))
		poll.Until(t, 15*time.Second, func() error { return stores[round%2].Check(ctx) })
		took = append(took, time.Since(killed))
		t.Logf("round %d: leader killed %v after a confirmed write; %s elected %v after that write; n%d wrote %v after the kill",
			round, killed.Sub(wrote).Round(time.Millisecond), leader, elected[round].Round(time.Millisecond), round%2, took[round].Round(time.Millisecond))
	}
	slices.Sort(elected)
	slices.Sort(took)
	t.Logf("election window in effect %v–%v (nats-server's own %v–%v)", window.Min, window.Max, natsElectionDefault.Min, natsElectionDefault.Max)
	if elected[1] >= bound {
		t.Errorf("new stream leader after the leader's last confirmed write: median %v of %v, want below %v (election window %v–%v set by natselection.go, plus %v); nats-server's own timers allow none before %v. At %v or more nats-server %s does not read the variables natselection.go writes.\n\n%s",
			elected[1], elected, bound, window.Min, window.Max, slack, natsElectionDefault.Min, natsElectionDefault.Min, natsServerVersion(), natsElectionHelp)
	}
	if took[1] > 4*time.Second {
		t.Errorf("first write after the leader was killed: median %v of %v, want at most 4s (election timeout from %v, staggered by %v)", took[1], took, ElectionTimeoutMin, ElectionStagger)
	}
}

// survivorElected waits for the advisory of a stream leader other than
// the child elected after since, and returns its name and arrival.
func survivorElected(t *testing.T, advisories <-chan *nats.Msg, since time.Time, timeout time.Duration) (string, time.Time) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-advisories:
			var adv server.JSStreamLeaderElectedAdvisory
			if err := json.Unmarshal(m.Data, &adv); err != nil {
				t.Fatalf("stream leader advisory %q: %v", m.Data, err)
			}
			if adv.Leader != "child" && adv.Time.After(since) {
				return adv.Leader, time.Now()
			}
		case <-deadline:
			t.Fatalf("no survivor elected stream leader within %v of the kill", timeout)
		}
	}
}

// storeOf opens the store on a started node.
func storeOf(ctx context.Context, t *testing.T, nd *Node) *Store {
	t.Helper()
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := nd.Open(octx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestMain runs, in a child process of TestElectionAfterLeaderLoss, a
// node named child that keeps the stream's leadership until killed.
func TestMain(m *testing.M) {
	spec := os.Getenv("GEOMESH_QUORUM_CHILD")
	if spec == "" {
		os.Exit(m.Run())
	}
	f := strings.Split(spec, ";")
	nd := NewNode(Config{Mesh: f[0], Name: "child", ClusterAddr: f[1], Peers: strings.Split(f[2], ","), StoreDir: f[3], Timeout: time.Second})
	ctx := context.Background()
	if err := nd.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var st *Store
	for st == nil {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, _ = nd.Open(octx)
		cancel()
	}
	// Claim the leadership again and again, at a pace, until killed.
	for {
		_, _ = st.LeadFrom(ctx, st.Leader(ctx), nil)
		time.Sleep(200 * time.Millisecond)
	}
}

func TestElectionSlot(t *testing.T) {
	peers := []string{"10.0.0.3:6222", "10.0.0.1:6222", "10.0.0.2:6222"}
	for addr, want := range map[string]int{"10.0.0.1:6222": 0, "10.0.0.2:6222": 1, "10.0.0.3:6222": 2} {
		// The same list for every node, its own address included or not.
		if got := electionSlot(addr, peers); got != want {
			t.Errorf("electionSlot(%s, all) = %d, want %d", addr, got, want)
		}
		var others []string
		for _, p := range peers {
			if p != addr {
				others = append(others, p)
			}
		}
		if got := electionSlot(addr, others); got != want {
			t.Errorf("electionSlot(%s, others) = %d, want %d", addr, got, want)
		}
	}
}
