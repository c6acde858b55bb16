//go:build linux

package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/geomesh/geomesh/test/chaos/history"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/test/netns"
)

// Ports inside each region's namespace; a fresh namespace has all free.
const (
	gossipPort = 7946
	apiPort    = 8080
	// wanDelay is the one-way delay between the regions outside SlowLink.
	wanDelay = 10 * time.Millisecond
	// slowDelay is SlowLink's one-way delay.
	slowDelay = 150 * time.Millisecond
)

// env reads the run's settings: GEOMESH_CHAOS_RUNS schedules (default
// 3), the first seeded GEOMESH_CHAOS_SEED (default the clock) and the
// next ones seed+1, ..., each about GEOMESH_CHAOS_LENGTH of faults
// (default 20s).
func env(t *testing.T) (runs int, seed uint64, length time.Duration) {
	t.Helper()
	runs, seed, length = 3, uint64(time.Now().UnixNano()), 20*time.Second
	var err error
	if v := os.Getenv("GEOMESH_CHAOS_RUNS"); v != "" {
		if runs, err = strconv.Atoi(v); err != nil || runs < 1 {
			t.Fatalf("GEOMESH_CHAOS_RUNS=%q: want a positive number", v)
		}
	}
	if v := os.Getenv("GEOMESH_CHAOS_SEED"); v != "" {
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("GEOMESH_CHAOS_SEED=%q: %v", v, err)
		}
	}
	if v := os.Getenv("GEOMESH_CHAOS_LENGTH"); v != "" {
		if length, err = time.ParseDuration(v); err != nil || length <= 0 {
			t.Fatalf("GEOMESH_CHAOS_LENGTH=%q: want a positive duration", v)
		}
	}
	return runs, seed, length
}

// world is what every run of a test shares: the regions' namespaces and
// Kafka clusters, and the geomesh binary.
type world struct {
	net        *netns.Net
	east, west *netns.NS
	src, tgt   *kafkatest.Cluster
	bin        string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{net: netns.New(t, netns.Options{RelayUDPPorts: []int{gossipPort}})}
	w.east, w.west = w.net.Add("us-east"), w.net.Add("eu-west")
	if err := w.net.WAN(w.east, w.west, netns.Link{Delay: wanDelay}); err != nil {
		t.Fatal(err)
	}
	w.bin = buildGeomesh(t)
	var wg sync.WaitGroup
	for _, c := range []struct {
		ns  *netns.NS
		dst **kafkatest.Cluster
	}{{w.east, &w.src}, {w.west, &w.tgt}} {
		cl, err := kafkatest.New(kafkatest.Options{Host: c.ns.Addr.String(), CommandPrefix: c.ns.Prefix(), Dial: c.ns.Dial})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("broker of %s, last 60 lines:\n%s", c.ns.Region, cl.LogTail(0, 60))
			}
			_ = cl.Close()
		})
		*c.dst = cl
		wg.Go(func() {
			if err := cl.Start(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return w
}

// buildGeomesh builds the CLI of this module into the test's temporary
// directory.
func buildGeomesh(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "geomesh")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/geomesh")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/geomesh: %v\n%s", err, out)
	}
	return bin
}

// TestChaos runs seeded fault schedules against an active-passive pair of
// regions in network namespaces, each with a real Kafka broker: a
// transactional producer writes into us-east (committing most
// transactions, aborting some), the eu-west agent copies exactly once
// across a WAN link, a read_committed consumer in eu-west reads the copy,
// and the schedule kills and freezes the agent, partitions the regions,
// slows the link and restarts brokers. Once the faults end, eu-west must
// hold every acknowledged record exactly once, in order, and none of the
// aborted ones; the history checker judges.
func TestChaos(t *testing.T) {
	runs, seed, length := env(t)
	t.Logf("chaos: %d runs, seed %d, %s of faults each (GEOMESH_CHAOS_SEED=%d replays them)", runs, seed, length, seed)
	w := newWorld(t)
	for i := range runs {
		s := seed + uint64(i)
		t.Run(fmt.Sprintf("seed-%d", s), func(t *testing.T) { w.run(t, i, s, length) })
	}
}

func (w *world) run(t *testing.T, i int, seed uint64, length time.Duration) {
	topic := fmt.Sprintf("chaos-%d-%d", i, seed%100000)
	steps := Schedule(seed, length)
	adm, err := kgo.NewClient(w.src.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).CreateTopic(t.Context(), 3, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	path := w.topology(t, topic, seed)
	ag := startAgent(t, w.bin, w.west, "eu-west-1", path)
	defer ag.terminate()

	var rec history.Recorder
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	prod := &producer{w: w, topic: topic, rec: &rec, rng: rand.New(rand.NewPCG(seed, 1)), txnID: topic}
	wg.Go(func() { prod.run(ctx) })
	cons := &consumer{cluster: w.tgt, region: "eu-west", topic: topic, rec: &rec}
	consCtx, stopCons := context.WithCancel(t.Context())
	defer stopCons()
	wg.Go(func() { cons.run(consCtx) })
	wg.Go(func() { watchEpochs(ctx, ag, &rec) })

	begin := time.Now()
	for n, s := range steps {
		if !sleep(t.Context(), s.Pause) {
			return
		}
		t.Logf("step %d/%d at %s: %s", n+1, len(steps), time.Since(begin).Round(time.Millisecond), s)
		if err := w.apply(t.Context(), ag, s); err != nil {
			t.Fatalf("step %s: %v", s, err)
		}
	}
	cancel() // the producer stops; the consumer goes on
	t.Logf("faults done after %s; %s", time.Since(begin).Round(time.Millisecond), prod)

	// Every acknowledged record must arrive once the faults are over.
	deadline := time.Now().Add(90 * time.Second)
	for {
		h := rec.History()
		missing := history.Check(h, history.Options{Regions: []string{"eu-west"}})
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Logf("%d acknowledged records still missing in eu-west after 90s", len(missing))
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	stopCons()
	wg.Wait()
	h := rec.History()
	findings := history.Check(h, history.Options{ExactlyOnce: true, Regions: []string{"eu-west"}})
	t.Logf("history: %d produced (%d acknowledged), %d consumed in eu-west, %d aborted, %d epoch events; %d findings; agent %d lives",
		len(h.Produces), countAcked(h), len(h.Consumes), len(h.Aborts), len(h.Epochs), len(findings), ag.lives)
	if len(findings) == 0 {
		return
	}
	for n, f := range findings {
		if n == 20 {
			t.Errorf("… and %d more", len(findings)-n)
			break
		}
		t.Error(f)
	}
	save(t, h, seed)
}

func countAcked(h history.History) int {
	n := 0
	for _, p := range h.Produces {
		if p.Acked {
			n++
		}
	}
	return n
}

// save writes a failed run's history where it outlives the test, for
// checkhistory.
func save(t *testing.T, h history.History, seed uint64) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("geomesh-chaos-%d.jsonl", seed))
	f, err := os.Create(path)
	if err != nil {
		t.Log(err)
		return
	}
	defer f.Close()
	if err := history.WriteJSONL(f, h); err != nil {
		t.Log(err)
		return
	}
	t.Logf("history saved: go run ./test/chaos/history/cmd/checkhistory -regions eu-west %s", path)
}

func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// topology writes the run's mesh file: us-east primary, eu-west standby,
// one agent each in its namespace. Only eu-west's agent runs: flows
// target the standby. No control plane answers, so no failover happens;
// the run proves the copy, not the decisions.
func (w *world) topology(t *testing.T, topic string, seed uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mesh: chaos-%d\ntopology: {kind: active-passive, primary: us-east, standby: [eu-west]}\n", seed)
	fmt.Fprintf(&b, "topics: {include: [%q]}\nregions:\n", topic)
	for _, r := range []struct {
		ns *netns.NS
		c  *kafkatest.Cluster
	}{{w.east, w.src}, {w.west, w.tgt}} {
		fmt.Fprintf(&b, "  - name: %s\n    kafka:\n      bootstrap: [%s]\n    agents:\n", r.ns.Region, r.c.Bootstrap()[0])
		fmt.Fprintf(&b, "      - {id: %s-1, gossip: %s, api: %s}\n", r.ns.Region, r.ns.Host(gossipPort), r.ns.Host(apiPort))
	}
	b.WriteString("control_plane: {urls: [\"nats://127.0.0.1:4222\"]}\n")
	path := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// apply runs one step: the fault, its hold, and its undoing.
func (w *world) apply(ctx context.Context, ag *agent, s Step) error {
	switch s.Fault {
	case KillAgent:
		if err := ag.kill(); err != nil {
			return err
		}
		sleep(ctx, s.Hold)
		return ag.start()
	case StopAgent:
		if err := ag.signal(syscall.SIGSTOP); err != nil {
			return err
		}
		sleep(ctx, s.Hold)
		return ag.signal(syscall.SIGCONT)
	case Partition:
		if err := w.net.Cut(w.east, w.west); err != nil {
			return err
		}
		sleep(ctx, s.Hold)
		return w.net.Heal(w.east, w.west)
	case SlowLink:
		if err := w.net.WAN(w.east, w.west, netns.Link{Delay: slowDelay, Jitter: 20 * time.Millisecond, Loss: 0.01}); err != nil {
			return err
		}
		sleep(ctx, s.Hold)
		return w.net.WAN(w.east, w.west, netns.Link{Delay: wanDelay})
	case RestartSource, RestartTarget:
		c := w.src
		if s.Fault == RestartTarget {
			c = w.tgt
		}
		if err := c.KillBroker(0); err != nil {
			return err
		}
		sleep(ctx, s.Hold)
		return c.StartBroker(ctx, 0)
	}
	return fmt.Errorf("unknown fault %q", s.Fault)
}

// agent is a geomesh agent process in its region's namespace.
type agent struct {
	t     *testing.T
	bin   string
	ns    *netns.NS
	id    string
	args  []string
	tmp   string // TMPDIR, where its control-plane node keeps its data
	log   *os.File
	lives int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current life was reaped
}

// startAgent starts agent id of ns's region from the topology file at
// path; Cleanup stops it and, if the test failed, logs its log's tail.
func startAgent(t *testing.T, bin string, ns *netns.NS, id, path string) *agent {
	t.Helper()
	// GEOMESH_TEST_LOGS keeps the agents' logs in that directory.
	dir := os.Getenv("GEOMESH_TEST_LOGS")
	if dir == "" {
		dir = t.TempDir()
	}
	log, err := os.Create(filepath.Join(dir, strings.NewReplacer("/", "_").Replace(t.Name())+"-"+id+".log"))
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{t: t, bin: bin, ns: ns, id: id, log: log, tmp: t.TempDir(),
		args: []string{"agent", "--topology", path, "--region", ns.Region, "--id", id}}
	t.Cleanup(func() {
		a.terminate()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			if len(b) > 32<<10 {
				b = b[len(b)-32<<10:]
			}
			t.Logf("agent %s log (%d lives), last 32 KiB:\n%s", id, a.lives, b)
		}
		log.Close()
	})
	if err := a.start(); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *agent) start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lives++
	fmt.Fprintf(a.log, "=== life %d at %s ===\n", a.lives, time.Now().Format(time.RFC3339Nano))
	cmd := a.ns.Command(context.Background(), a.bin, a.args...)
	cmd.Stdout, cmd.Stderr = a.log, a.log
	cmd.Env = append(os.Environ(), "TMPDIR="+a.tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("agent %s: %w", a.id, err)
	}
	done := make(chan struct{})
	a.cmd, a.done = cmd, done
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	return nil
}

func (a *agent) signal(sig syscall.Signal) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("agent %s: %v: %w", a.id, sig, err)
	}
	return nil
}

func (a *agent) kill() error {
	if err := a.signal(syscall.SIGKILL); err != nil {
		return err
	}
	a.mu.Lock()
	done := a.done
	a.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("agent %s: alive 10s after SIGKILL", a.id)
	}
}

// terminate ends the current life with SIGCONT and SIGTERM, or SIGKILL
// after 10s, and waits for it.
func (a *agent) terminate() {
	a.mu.Lock()
	cmd, done := a.cmd, a.done
	a.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// status is the part of /v1/status the runs look at.
type status struct {
	Role   string `json:"role"`
	Epoch  uint64 `json:"epoch"`
	Fenced bool   `json:"fenced"`
}

// status reads the agent's /v1/status from inside its namespace.
func (a *agent) status(ctx context.Context) (status, error) {
	var st status
	return st, a.get(ctx, "/v1/status", &st)
}

// get decodes the JSON the agent's API serves at path into v.
func (a *agent) get(ctx context.Context, path string, v any) error {
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: a.ns.Dial}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.ns.Host(apiPort)+path, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("agent %s: %w", a.id, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("agent %s: %s: %w", a.id, path, err)
	}
	return nil
}

// watchEpochs records the role and epoch the agent reports, whenever
// they change, until ctx ends. A fenced region is recorded as such,
// whatever role it last read. A poll only brackets a change, so the
// history holds what was certainly so: a new primary from when it was
// first seen, the end of a region's time as primary at the last poll
// that still saw it primary. Two primaries overlap in the history only
// where they surely did. Callers record when they kill or stop the agent
// (it acts as nothing then); its first answer afterwards is recorded
// even if it repeats the last.
func watchEpochs(ctx context.Context, a *agent, rec *history.Recorder) {
	var last status
	var lastSeen time.Time
	for sleep(ctx, 150*time.Millisecond) {
		st, err := a.status(ctx)
		if err != nil {
			// Down or frozen: whatever it reports next is recorded,
			// also the role it had before.
			last = status{}
			continue
		}
		if st.Role == "" {
			continue
		}
		now := time.Now()
		if st == last {
			lastSeen = now
			continue
		}
		role := st.Role
		if st.Fenced {
			role = history.RoleFenced
		}
		at := now
		if last.Role == history.RolePrimary && !last.Fenced && role != history.RolePrimary {
			at = lastSeen
		}
		last, lastSeen = st, now
		rec.EpochSeen(history.Epoch{Time: at, Epoch: st.Epoch, Region: a.ns.Region, Role: role, Observer: a.id})
	}
}

// producer writes transactions of 5-30 records into us-east, one in eight
// aborted, recording every record.
type producer struct {
	w     *world
	topic string
	rec   *history.Recorder
	rng   *rand.Rand
	txnID string

	mu                         sync.Mutex
	next                       int
	committed, aborted, failed int // transactions
}

func (p *producer) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("producer: %d records in %d committed, %d aborted, %d failed transactions", p.next, p.committed, p.aborted, p.failed)
}

func (p *producer) client() (*kgo.Client, error) {
	return kgo.NewClient(append(p.w.src.ClientOptions(),
		kgo.TransactionalID(p.txnID), kgo.DefaultProduceTopic(p.topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionTimeout(10*time.Second))...)
}

func (p *producer) run(ctx context.Context) {
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for sleep(ctx, 30*time.Millisecond) {
		if cl == nil {
			var err error
			if cl, err = p.client(); err != nil {
				continue
			}
		}
		n := 5 + p.rng.IntN(26)
		commit := p.rng.IntN(8) != 0
		recs := make([]*kgo.Record, n)
		p.mu.Lock()
		for i := range recs {
			p.next++
			id := fmt.Sprintf("%s/%d", p.topic, p.next)
			recs[i] = &kgo.Record{Key: []byte(id), Value: []byte(id), Partition: int32(p.rng.IntN(3))}
		}
		p.mu.Unlock()
		err := p.transaction(ctx, cl, recs, commit)
		p.mu.Lock()
		switch {
		case err != nil:
			p.failed++
		case commit:
			p.committed++
		default:
			p.aborted++
		}
		p.mu.Unlock()
		now := time.Now()
		for _, r := range recs {
			id := string(r.Value)
			if err == nil && !commit {
				p.rec.Aborted(history.Abort{Time: now, Region: "us-east", ID: id})
			}
			p.rec.Produced(history.Produce{Time: now, Region: "us-east", Topic: p.topic, Partition: r.Partition,
				Offset: r.Offset, ID: id, Acked: err == nil && commit})
		}
		if err != nil {
			// A fresh client with the same transactional id fences
			// whatever the failed one left open.
			cl.Close()
			cl = nil
		}
	}
}

func (p *producer) transaction(ctx context.Context, cl *kgo.Client, recs []*kgo.Record, commit bool) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		_ = cl.EndTransaction(ctx, kgo.TryAbort)
		return err
	}
	return cl.EndTransaction(ctx, kgo.TransactionEndTry(commit))
}

// consumer reads a topic in region with read_committed and records every
// record.
type consumer struct {
	cluster *kafkatest.Cluster
	region  string
	topic   string
	rec     *history.Recorder
}

func (c *consumer) run(ctx context.Context) {
	cl, err := kgo.NewClient(append(c.cluster.ClientOptions(), kgo.ConsumeTopics(c.topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.MetadataMinAge(500*time.Millisecond))...)
	if err != nil {
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			c.rec.Consumed(history.Consume{Time: time.Now(), Region: c.region, Topic: r.Topic, Partition: r.Partition,
				Offset: r.Offset, ID: string(r.Value), ReadCommitted: true})
		})
	}
}
