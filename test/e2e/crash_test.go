//go:build linux

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/mirror/assign"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The tests in this file run the agent as a separate OS process and kill,
// stop and continue it while a producer writes to the source, then check
// that the target holds every committed source record exactly once.
//
// They do not run in parallel with each other: the host has few CPUs, and a
// starved agent misses gossip probes, which would blur what a test proves.

// agentShards is the number of copy shards per flow: agent.Config's
// default, which the CLI does not change.
const agentShards = 4

// seed returns the seed of a test's random choices: GEOMESH_E2E_SEED if
// set, else the clock. It is logged so that a failure can be replayed.
func seed(t *testing.T) uint64 {
	t.Helper()
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("GEOMESH_E2E_SEED"); v != "" {
		var err error
		if s, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("GEOMESH_E2E_SEED=%q: %v", v, err)
		}
	}
	t.Logf("seed %d (GEOMESH_E2E_SEED=%d replays the random choices)", s, s)
	return s
}

// TestCrashSIGKILLExactlyOnce kills the standby's agent with SIGKILL at
// random moments, at least 20 times, while a producer writes plain records
// and committed and aborted transactions into the primary, restarting the
// agent after a random pause each time. When the producer stops and the
// last agent has caught up, the standby holds every committed record once,
// in order, and nothing of the aborted transactions.
func TestCrashSIGKILLExactlyOnce(t *testing.T) {
	const (
		topic = "crash-orders"
		// At least this many kills, and on until the stream has written
		// at least minRecords.
		minKills   = 24
		minRecords = 20_000
	)
	rng := rand.New(rand.NewPCG(seed(t), 1))
	path := meshFile(t, "e2e-crash", []region{{"crash-east", clusters[0], 1}, {"crash-west", clusters[1], 1}}, `
topology: {kind: active-passive, primary: crash-east, standby: [crash-west]}
topics: {include: ["`+topic+`"]}
`)
	src, tgt := clusters[0], clusters[1]
	createTopic(t, src, topic, 6, nil)
	st := startStream(t, src, "crash-east", topic, 6, rng.Uint64(), 60*time.Millisecond)

	ag := newAgentProc(t, path, "crash-west", "crash-west-1")
	ag.start()
	start := time.Now()
	kills, running, committing := 0, 0, 0
	for kills < minKills || st.written() < minRecords {
		// A random moment of the agent's life: one kill in four while it
		// starts (gossip, InitProducerID, progress read), the others in
		// the middle of copying.
		up := 300*time.Millisecond + time.Duration(rng.Int64N(int64(2200*time.Millisecond)))
		if rng.IntN(4) == 0 {
			up = 20*time.Millisecond + time.Duration(rng.Int64N(int64(400*time.Millisecond)))
		}
		time.Sleep(up) // the scenario: the agent runs for this long
		state := "no status"
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		if s, err := ag.status(ctx); err == nil {
			var states []string
			var commits int64
			for _, sh := range s.shards() {
				states = append(states, sh.State)
				commits += sh.Committed
			}
			slices.Sort(states)
			states = slices.Compact(states)
			state = fmt.Sprintf("shards %v, %d transactions committed in this life", states, commits)
			if slices.Contains(states, "running") {
				running++
			}
			if commits > 0 {
				committing++
			}
		}
		cancel()
		ag.kill()
		kills++
		t.Logf("kill %d at %s (life %d: %s)", kills, time.Since(start).Round(time.Millisecond), ag.lives, state)
		if err := st.failed(); err != nil {
			t.Fatal(err)
		}
		// The scenario again: the agent stays down for a random while.
		time.Sleep(time.Duration(rng.Int64N(int64(500 * time.Millisecond))))
		ag.start()
	}
	st.stop(t)
	t.Logf("%d SIGKILLs in %s: %d while shards were running, %d after commits in that life; source: %s",
		kills, time.Since(start).Round(time.Millisecond), running, committing, st)
	if committing == 0 {
		t.Errorf("no life of the agent committed a transaction before its kill: the kills did not hit copying")
	}

	n := st.verify(t, tgt, "crash-east,crash-west", 120*time.Second)
	t.Logf("target holds each of the %d committed records exactly once after %d kills (%s in all)", n, kills, time.Since(start).Round(time.Millisecond))

	// The last life stops gracefully on SIGTERM.
	if err := ag.terminate(10 * time.Second); err != nil {
		t.Errorf("agent after SIGTERM: %v", err)
	}
	t.Logf("agent log: %d lives, %d shard sessions started, %d progress reads waiting for open transactions, %d sessions failed, %d shards fenced",
		ag.lives, ag.logCount("mirror shard session started"), ag.logCount("still reading progress"),
		ag.logCount("mirror shard session failed"), ag.logCount("mirror shard fenced"))
}

// TestTakeoverAfterSIGKILL runs two agents of one region as processes:
// they share the flow's shards; when one is killed its shards move to the
// survivor within 10 s and the copy goes on exactly once.
func TestTakeoverAfterSIGKILL(t *testing.T) {
	const topic = "takeover-orders"
	rng := rand.New(rand.NewPCG(seed(t), 2))
	mesh := splitMesh(t, "e2e-takeover", "takeover-east", "takeover-west", topic, 6)
	path := meshFile(t, mesh, []region{{"takeover-east", clusters[2], 1}, {"takeover-west", clusters[3], 2}}, `
topology: {kind: active-passive, primary: takeover-east, standby: [takeover-west]}
topics: {include: ["`+topic+`"]}
`)
	src, tgt := clusters[2], clusters[3]
	createTopic(t, src, topic, 6, nil)
	st := startStream(t, src, "takeover-east", topic, 6, rng.Uint64(), 150*time.Millisecond)

	victim := newAgentProc(t, path, "takeover-west", "takeover-west-1")
	survivor := newAgentProc(t, path, "takeover-west", "takeover-west-2")
	victim.start()
	survivor.start()
	before := waitSplit(t, victim, survivor, dataShards(topic, 6))

	victim.kill()
	killed := time.Now()
	t.Logf("SIGKILL %s, which owned shards %v", victim.name, keys(before[victim.name]))
	all := append(keys(before[victim.name]), keys(before[survivor.name])...)
	slices.Sort(all)
	moved := waitOwns(t, survivor, all, killed, 10*time.Second, 30*time.Second)
	t.Logf("takeover: %s owned all shards %v %s after the kill; each had committed anew %s after it",
		survivor.name, all, moved.owned.Round(time.Millisecond), moved.committed.Round(time.Millisecond))

	// Keep the stream going a while under the survivor alone.
	waitRecords(t, survivor, all, 2000)
	st.stop(t)
	n := st.verify(t, tgt, "takeover-east,takeover-west", 90*time.Second)
	t.Logf("target holds each of the %d committed records exactly once; source: %s", n, st)
}

// TestFencingAfterSIGSTOP freezes one of two agents of a region with
// SIGSTOP in the middle of the stream. The other declares it dead and takes
// its shards, which fences its transactional ids in Kafka. Continued with
// SIGCONT, the frozen agent's shards must not commit: they end fenced (or
// are released), and the target holds every record exactly once.
func TestFencingAfterSIGSTOP(t *testing.T) {
	const topic = "fence-orders"
	rng := rand.New(rand.NewPCG(seed(t), 3))
	mesh := splitMesh(t, "e2e-fence", "fence-east", "fence-west", topic, 6)
	path := meshFile(t, mesh, []region{{"fence-east", clusters[3], 1}, {"fence-west", clusters[0], 2}}, `
topology: {kind: active-passive, primary: fence-east, standby: [fence-west]}
topics: {include: ["`+topic+`"]}
`)
	src, tgt := clusters[3], clusters[0]
	createTopic(t, src, topic, 6, nil)
	st := startStream(t, src, "fence-east", topic, 6, rng.Uint64(), 100*time.Millisecond)

	zombie := newAgentProc(t, path, "fence-west", "fence-west-1")
	other := newAgentProc(t, path, "fence-west", "fence-west-2")
	zombie.start()
	other.start()
	before := waitSplit(t, zombie, other, dataShards(topic, 6))
	all := append(keys(before[zombie.name]), keys(before[other.name])...)
	slices.Sort(all)

	// The zombie's shards as they were just before it froze: each is in
	// the middle of the stream.
	waitRecords(t, zombie, nil, 500)
	pre, err := zombie.status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	zombie.signal(syscall.SIGSTOP)
	stopped := time.Now()
	preShards := pre.shards()
	t.Logf("SIGSTOP %s, which owned shards %v with %v transactions committed", zombie.name, keys(preShards), committedCounts(preShards))
	moved := waitOwns(t, other, all, stopped, 10*time.Second, 30*time.Second)
	t.Logf("%s owned all shards %v %s after the SIGSTOP and had committed on each %s after it",
		other.name, all, moved.owned.Round(time.Millisecond), moved.committed.Round(time.Millisecond))

	zombie.signal(syscall.SIGCONT)
	continued := time.Now()
	// Each of the zombie's old shards must end without another commit:
	// fenced, or released by a membership change. A commit that was in
	// flight when the process froze may still be acknowledged, so one
	// more transaction than before the freeze is allowed; a second one
	// would be a commit after the takeover.
	ended := map[int]string{}
	poll.Until(t, 20*time.Second, func() error {
		s, err := zombie.status(t.Context())
		if err != nil {
			return err
		}
		now := s.shards()
		for i, p := range preShards {
			if _, ok := ended[i]; ok {
				continue
			}
			cur, ok := now[i]
			switch {
			case !ok:
				ended[i] = "released"
			case cur.Committed > p.Committed+1:
				t.Fatalf("shard %d of %s committed %d transactions after SIGCONT (%d before SIGSTOP, %d now, state %s) although %s had taken it over",
					i, zombie.name, cur.Committed-p.Committed, p.Committed, cur.Committed, cur.State, other.name)
			case cur.State == "fenced":
				ended[i] = fmt.Sprintf("fenced after %d transactions (%d before SIGSTOP): %s", cur.Committed, p.Committed, cur.Error)
			}
		}
		if len(ended) < len(preShards) {
			return fmt.Errorf("%s: old shards ended so far: %v; now %v", zombie.name, ended, statesOf(now))
		}
		return nil
	})
	for _, i := range keys(preShards) {
		t.Logf("%s shard %d after SIGCONT: %s", zombie.name, i, ended[i])
	}
	t.Logf("all old shards of %s ended %s after SIGCONT", zombie.name, time.Since(continued).Round(time.Millisecond))

	// The region heals: the zombie rejoins and the shards are split again.
	poll.Until(t, 45*time.Second, func() error {
		for _, p := range []*agentProc{zombie, other} {
			s, err := p.status(t.Context())
			if err != nil {
				return err
			}
			if len(s.Members) != 2 {
				return fmt.Errorf("%s sees members %v", p.name, s.Members)
			}
		}
		return nil
	})
	healed := time.Now()
	t.Logf("region healed %s after SIGCONT", healed.Sub(continued).Round(time.Millisecond))
	// The former zombie takes its shards back, fencing the other agent in
	// turn, and commits with its new sessions.
	back := waitOwns(t, zombie, keys(before[zombie.name]), healed, 15*time.Second, 30*time.Second)
	t.Logf("%s runs its shards %v again %s after the heal, committing %s after it",
		zombie.name, keys(before[zombie.name]), back.owned.Round(time.Millisecond), back.committed.Round(time.Millisecond))
	st.stop(t)
	n := st.verify(t, tgt, "fence-east,fence-west", 90*time.Second)
	t.Logf("target holds each of the %d committed records exactly once; source: %s", n, st)
	for _, p := range []*agentProc{zombie, other} {
		t.Logf("%s log: %d shard sessions started, %d shards fenced", p.name, p.logCount("mirror shard session started"), p.logCount("mirror shard fenced"))
	}
}

// splitMesh returns base, or base-1, base-2 … : the first mesh name under
// which rendezvous gives each of the two agents of region target at least
// one of the shards that hold partitions of topic. The transactional ids,
// and so the assignment, depend on the mesh name.
func splitMesh(t *testing.T, base, source, target, topic string, partitions int32) string {
	t.Helper()
	ids := []string{target + "-1", target + "-2"}
	flow := topology.Flow{Source: source, Target: target}
	for i := range 100 {
		mesh := base
		if i > 0 {
			mesh = fmt.Sprintf("%s-%d", base, i)
		}
		owners := map[string]bool{}
		for _, s := range dataShards(topic, partitions) {
			owners[assign.Owner(mirror.TransactionalID(mesh, flow, s), ids)] = true
		}
		if len(owners) == len(ids) {
			return mesh
		}
	}
	t.Fatalf("no mesh name %s-N splits the shards of %s between two agents", base, topic)
	return ""
}

// dataShards lists the shards that copy partitions of topic.
func dataShards(topic string, partitions int32) []int {
	var out []int
	for p := range partitions {
		out = append(out, mirror.ShardFor(topic, p, agentShards))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// waitSplit waits until the two agents see each other, each runs a
// disjoint, non-empty part of the shards, together covering want, and every
// shard has committed a transaction. It returns each agent's shards by name.
func waitSplit(t *testing.T, a, b *agentProc, want []int) map[string]map[int]shardStatus {
	t.Helper()
	out := map[string]map[int]shardStatus{}
	poll.Until(t, 90*time.Second, func() error {
		union := map[int]string{}
		for _, p := range []*agentProc{a, b} {
			s, err := p.status(t.Context())
			if err != nil {
				return err
			}
			if len(s.Members) != 2 {
				return fmt.Errorf("%s sees members %v", p.name, s.Members)
			}
			sh := s.shards()
			if len(sh) == 0 {
				return fmt.Errorf("%s owns no shard", p.name)
			}
			for i, x := range sh {
				if o, ok := union[i]; ok {
					return fmt.Errorf("shard %d runs on %s and %s", i, o, p.name)
				}
				union[i] = p.name
				if x.State != "running" || x.Committed == 0 {
					return fmt.Errorf("%s shard %d: %s, %d transactions committed", p.name, i, x.State, x.Committed)
				}
			}
			out[p.name] = sh
		}
		for _, i := range want {
			if _, ok := union[i]; !ok {
				return fmt.Errorf("shard %d runs nowhere: %v", i, union)
			}
		}
		return nil
	})
	t.Logf("shards split: %s %v, %s %v", a.name, keys(out[a.name]), b.name, keys(out[b.name]))
	return out
}

type takeover struct {
	owned     time.Duration // until the survivor listed every shard
	committed time.Duration // until each of them had committed since
}

// waitOwns waits until p runs every shard of want (within owned of since),
// and until each has committed a transaction after since (within
// committed of since).
func waitOwns(t *testing.T, p *agentProc, want []int, since time.Time, owned, committed time.Duration) takeover {
	t.Helper()
	var out takeover
	poll.Until(t, owned-time.Since(since), func() error {
		s, err := p.status(t.Context())
		if err != nil {
			return err
		}
		sh := s.shards()
		for _, i := range want {
			if _, ok := sh[i]; !ok {
				return fmt.Errorf("%s runs shards %v of %v (members %v)", p.name, keys(sh), want, s.Members)
			}
		}
		return nil
	})
	out.owned = time.Since(since)
	poll.Until(t, committed-time.Since(since), func() error {
		s, err := p.status(t.Context())
		if err != nil {
			return err
		}
		sh := s.shards()
		for _, i := range want {
			x, ok := sh[i]
			if !ok || x.State != "running" || !x.LastCommit.After(since) {
				return fmt.Errorf("%s shards since %s: %v", p.name, since.Format(time.TimeOnly), statesOf(sh))
			}
		}
		return nil
	})
	out.committed = time.Since(since)
	return out
}

// waitRecords waits until the shards of p (those listed, or all) have
// copied n more records than now.
func waitRecords(t *testing.T, p *agentProc, shards []int, n int64) {
	t.Helper()
	count := func() (int64, error) {
		s, err := p.status(t.Context())
		if err != nil {
			return 0, err
		}
		var sum int64
		for i, x := range s.shards() {
			if shards == nil || slices.Contains(shards, i) {
				sum += x.Records
			}
		}
		return sum, nil
	}
	from, err := count()
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, func() error {
		c, err := count()
		if err != nil {
			return err
		}
		if c < from+n {
			return fmt.Errorf("%s copied %d records of %d", p.name, c-from, n)
		}
		return nil
	})
}

func keys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

func committedCounts(m map[int]shardStatus) map[int]int64 {
	out := map[int]int64{}
	for i, s := range m {
		out[i] = s.Committed
	}
	return out
}

func statesOf(m map[int]shardStatus) string {
	var b strings.Builder
	for _, i := range keys(m) {
		s := m[i]
		fmt.Fprintf(&b, "[%d %s %d txns, last %s", i, s.State, s.Committed, s.LastCommit.Format("15:04:05.000"))
		if s.Error != "" {
			fmt.Fprintf(&b, ", error %q", s.Error)
		}
		b.WriteString("] ")
	}
	return strings.TrimSpace(b.String())
}

// stream writes numbered records into a source topic until stopped: batches
// of plain records, committed transactions and aborted transactions, in
// random order, spread round-robin over the partitions. Record i's value is
// "<region>/<topic>/<i>", so records of one partition carry increasing
// numbers.
type stream struct {
	cluster       *kafkatest.Cluster
	region, topic string
	partitions    int32
	rng           *rand.Rand
	pause         time.Duration

	plain, txn *kgo.Client
	quit       chan struct{}
	done       chan struct{}

	mu        sync.Mutex
	next      int
	committed int // records in the topic with read_committed
	aborted   map[int]bool
	batches   [3]int // plain, committed, aborted
	err       error
}

// maxStream bounds what a stream writes, whatever the test's timing.
const maxStream = 40_000

func startStream(t *testing.T, c *kafkatest.Cluster, region, topic string, partitions int32, seed uint64, pause time.Duration) *stream {
	t.Helper()
	s := &stream{
		cluster: c, region: region, topic: topic, partitions: partitions,
		rng:   rand.New(rand.NewPCG(seed, 0)),
		pause: pause,
		plain: client(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner())),
		txn: client(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.TransactionalID("e2e-stream-"+topic+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		aborted: map[int]bool{},
	}
	go s.run(t.Context())
	t.Cleanup(func() {
		select {
		case <-s.quit:
		default:
			close(s.quit)
		}
		<-s.done
	})
	return s
}

func (s *stream) run(ctx context.Context) {
	defer close(s.done)
	for {
		select {
		case <-s.quit:
			return
		case <-ctx.Done():
			return
		case <-time.After(s.pause):
		}
		s.mu.Lock()
		from := s.next
		s.mu.Unlock()
		if from >= maxStream {
			continue
		}
		kind := s.rng.IntN(10) // 0: aborted, 1-2: committed transaction, else plain
		n := 40 + s.rng.IntN(80)
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = s.record(from + i)
		}
		var err error
		switch {
		case kind >= 3:
			err = s.plain.ProduceSync(ctx, recs...).FirstErr()
		default:
			err = s.transaction(ctx, recs, kind > 0)
		}
		s.mu.Lock()
		if err != nil {
			s.err = fmt.Errorf("stream into %s: records %d-%d: %w", s.topic, from, from+n-1, err)
			s.mu.Unlock()
			return
		}
		s.next += n
		switch {
		case kind == 0:
			s.batches[2]++
			for i := from; i < from+n; i++ {
				s.aborted[i] = true
			}
		case kind < 3:
			s.batches[1]++
			s.committed += n
		default:
			s.batches[0]++
			s.committed += n
		}
		s.mu.Unlock()
	}
}

func (s *stream) record(i int) *kgo.Record {
	r := &kgo.Record{
		Topic:     s.topic,
		Partition: int32(i) % s.partitions,
		Key:       []byte("k" + strconv.Itoa(i%101)),
		Value:     fmt.Appendf(nil, "%s/%s/%d", s.region, s.topic, i),
	}
	if i%3 == 0 {
		r.Headers = []kgo.RecordHeader{{Key: "app-trace", Value: []byte("t" + strconv.Itoa(i))}}
	}
	return r
}

func (s *stream) transaction(ctx context.Context, recs []*kgo.Record, commit bool) error {
	if err := s.txn.BeginTransaction(); err != nil {
		return err
	}
	if err := s.txn.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		_ = s.txn.EndTransaction(ctx, kgo.TryAbort)
		return err
	}
	return s.txn.EndTransaction(ctx, kgo.TransactionEndTry(commit))
}

// written is how many records the stream has written, committed or not.
func (s *stream) written() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// failed returns the error that stopped the stream, if any.
func (s *stream) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// stop ends the stream and fails the test if it could not write.
func (s *stream) stop(t *testing.T) {
	t.Helper()
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.done
	if err := s.failed(); err != nil {
		t.Fatal(err)
	}
}

func (s *stream) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%d records written, %d committed (%d plain batches, %d committed transactions), %d in %d aborted transactions",
		s.next, s.committed, s.batches[0], s.batches[1], len(s.aborted), s.batches[2])
}

// verify reads the stopped stream's topic on both clusters and checks that
// the target holds every committed source record exactly once, in order,
// and nothing of the aborted transactions. It returns the record count.
func (s *stream) verify(t *testing.T, tgt *kafkatest.Cluster, visited string, timeout time.Duration) int {
	t.Helper()
	s.mu.Lock()
	want := s.committed
	s.mu.Unlock()
	src := readTopic(t, s.cluster, s.topic, want, 30*time.Second)
	if len(src) != want {
		t.Fatalf("source %s holds %d committed records, the stream committed %d", s.topic, len(src), want)
	}
	for _, r := range src {
		if s.aborted[s.seq(t, r)] {
			t.Fatalf("source %s: read_committed returned aborted record %s", s.topic, r.Value)
		}
	}
	got := readTopic(t, tgt, s.topic, want, timeout)
	checkCopies(t, s.region, src, got, visited)
	last := map[int32]int{}
	for _, r := range got {
		i := s.seq(t, r)
		if s.aborted[i] {
			t.Errorf("target partition %d offset %d: %s is from an aborted transaction", r.Partition, r.Offset, r.Value)
		}
		if prev, ok := last[r.Partition]; ok && i <= prev {
			t.Errorf("target partition %d offset %d: record %d after record %d", r.Partition, r.Offset, i, prev)
		}
		last[r.Partition] = i
	}
	if len(got) != want {
		t.Fatalf("target %s holds %d records, want exactly the %d committed", s.topic, len(got), want)
	}
	return want
}

func (s *stream) seq(t *testing.T, r *kgo.Record) int {
	t.Helper()
	v := string(r.Value)
	prefix := s.region + "/" + s.topic + "/"
	i, err := strconv.Atoi(strings.TrimPrefix(v, prefix))
	if err != nil || !strings.HasPrefix(v, prefix) {
		t.Fatalf("%s partition %d offset %d: unexpected value %q", r.Topic, r.Partition, r.Offset, v)
	}
	return i
}
