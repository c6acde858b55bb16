package membership

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
)

// testLogger sends Info and above to t.Log until the test ends; memberlist
// goroutines may still log briefly after Shutdown, and t.Log panics then.
type testLogger struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func newLogger(t *testing.T) *slog.Logger {
	w := &testLogger{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// start starts a member on a random loopback port (port 0: memberlist binds
// TCP and UDP on one free port and advertises it) and closes it at the end
// of the test.
func start(t *testing.T, cfg Config) *Membership {
	t.Helper()
	if cfg.BindAddr == "" {
		cfg.BindAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = newLogger(t)
	}
	m := New(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatalf("start %s: %v", cfg.AgentID, err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// cluster starts n members, each seeded with every member started before
// it, as an agent is seeded with every other agent of the mesh: each join
// then reaches every earlier member by TCP push-pull, and the pool's view
// does not hang on the UDP gossip of a loaded test machine.
func cluster(t *testing.T, n int, cfg Config) []*Membership {
	t.Helper()
	var ms []*Membership
	for i := range n {
		c := cfg
		c.AgentID = fmt.Sprintf("agent-%d", i+1)
		c.Region = "us-east"
		c.APIAddr = fmt.Sprintf("10.0.0.%d:8080", i+1)
		for _, m := range ms {
			c.Seeds = append(c.Seeds, m.LocalAddr())
		}
		ms = append(ms, start(t, c))
	}
	waitMembers(t, ms, 5*time.Second, names(n)...)
	return ms
}

func names(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("agent-%d", i+1))
	}
	return out
}

func memberNames(m *Membership) []string {
	var out []string
	for _, mem := range m.Members() {
		out = append(out, mem.Name)
	}
	return out
}

// waitMembers waits until every one of ms lists exactly want.
func waitMembers(t *testing.T, ms []*Membership, timeout time.Duration, want ...string) time.Duration {
	t.Helper()
	return poll.Until(t, timeout, func() error {
		for _, m := range ms {
			if got := memberNames(m); !slices.Equal(got, want) {
				return fmt.Errorf("%s sees %v, want %v", m.cfg.AgentID, got, want)
			}
		}
		return nil
	})
}

func TestJoinAndMetadata(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 3, Config{})
	for _, m := range ms {
		for i, mem := range m.Members() {
			want := Meta{Region: "us-east", AgentID: fmt.Sprintf("agent-%d", i+1), APIAddr: fmt.Sprintf("10.0.0.%d:8080", i+1)}
			if mem.Meta != want {
				t.Errorf("%s sees %s with meta %+v, want %+v", m.cfg.AgentID, mem.Name, mem.Meta, want)
			}
			if mem.Addr != ms[i].LocalAddr() {
				t.Errorf("%s sees %s at %s, want %s", m.cfg.AgentID, mem.Name, mem.Addr, ms[i].LocalAddr())
			}
		}
	}
}

func TestGracefulLeave(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 3, Config{})
	ch, _ := ms[0].Subscribe()
	begin := time.Now()
	if err := ms[2].Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	closeTook := time.Since(begin)
	took := waitMembers(t, ms[:2], 2*time.Second, "agent-1", "agent-2")
	t.Logf("close took %v; leave seen by both peers %v after close returned", closeTook, took)
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Error("no notification after a member left")
	}
	if ms[2].Members() != nil {
		t.Error("Members after Close is not nil")
	}
}

// TestCrashDetection kills a member without a leave message, as SIGKILL
// would, and measures how long the others take to declare it dead.
func TestCrashDetection(t *testing.T) {
	t.Parallel()
	for _, n := range []int{3, 5} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			ms := cluster(t, n, Config{})
			victim := ms[n-1]
			list := victim.list.Swap(nil) // Close then skips Leave and Shutdown
			killed := time.Now()
			if err := list.Shutdown(); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			timing := LAN()
			bound := timing.DetectionTime(n)
			waitMembers(t, ms[:n-1], bound+time.Second, names(n-1)...)
			took := time.Since(killed)
			t.Logf("%d nodes: crashed member declared dead by all %d peers after %v (documented bound %v, suspicion %v)",
				n, n-1, took.Round(time.Millisecond), bound, timing.SuspicionTimeout(n))
			if took < timing.SuspicionTimeout(n) {
				t.Errorf("dead after %v, faster than the suspicion timeout %v: detection is not what the docs say",
					took, timing.SuspicionTimeout(n))
			}
		})
	}
}

func key(t *testing.T) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestEncryption(t *testing.T) {
	t.Parallel()
	k1, k2 := key(t), key(t)
	ms := cluster(t, 2, Config{SecretKeys: [][]byte{k1}})

	for _, tt := range []struct {
		name string
		keys [][]byte
	}{
		{"wrong key", [][]byte{k2}},
		{"no key", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			intruder := start(t, Config{
				AgentID:     "intruder",
				Seeds:       []string{ms[0].LocalAddr()},
				SecretKeys:  tt.keys,
				JoinTimeout: 500 * time.Millisecond,
			})
			// Start has returned: every join attempt failed by now.
			if got := memberNames(intruder); !slices.Equal(got, []string{"intruder"}) {
				t.Errorf("intruder sees %v, want only itself", got)
			}
			for _, m := range ms {
				if got := memberNames(m); !slices.Equal(got, []string{"agent-1", "agent-2"}) {
					t.Errorf("%s sees %v", m.cfg.AgentID, got)
				}
			}
		})
	}

	// Rotation: a node whose primary key is k2 but which also holds k1
	// can join, since received messages are tried with every key.
	rotated := start(t, Config{
		AgentID:    "rotated",
		Seeds:      []string{ms[0].LocalAddr()},
		SecretKeys: [][]byte{k1, k2},
	})
	waitMembers(t, append(ms, rotated), 5*time.Second, "agent-1", "agent-2", "rotated")
}

// TestStartAloneThenRejoin starts an agent whose only seed is not up yet:
// Start must succeed alone, and the agent must find the seed when it
// appears.
func TestStartAloneThenRejoin(t *testing.T) {
	t.Parallel()
	// The seed's port is picked before the seed exists, so another process
	// may take it meanwhile; then the scenario is retried on a new port.
	for attempt := 1; ; attempt++ {
		seed := testkit.FreeAddr(t)
		begin := time.Now()
		a := start(t, Config{
			AgentID:        "a",
			Seeds:          []string{seed},
			JoinTimeout:    300 * time.Millisecond,
			RejoinInterval: 200 * time.Millisecond,
		})
		if took := time.Since(begin); took > 2*time.Second {
			t.Errorf("start alone took %v", took)
		}
		if got := memberNames(a); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("a sees %v", got)
		}
		b := New(Config{AgentID: "b", BindAddr: seed, Logger: newLogger(t)})
		if err := b.Start(context.Background()); err != nil {
			_ = a.Close()
			if attempt < 3 {
				t.Logf("seed port taken meanwhile, retrying: %v", err)
				continue
			}
			t.Fatalf("start seed: %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		took := waitMembers(t, []*Membership{a, b}, 3*time.Second, "a", "b")
		t.Logf("lone agent found its seed %v after the seed started", took)
		return
	}
}

func TestSubscribeAndSettle(t *testing.T) {
	t.Parallel()
	a := start(t, Config{AgentID: "a"})
	ch, cancel := a.Subscribe()
	ch2, _ := a.Subscribe()

	b := start(t, Config{AgentID: "b", Seeds: []string{a.LocalAddr()}})
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("no notification after a member joined")
	}

	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	begin := time.Now()
	if err := a.WaitSettled(ctx); err != nil {
		t.Fatalf("wait settled: %v", err)
	}
	took := time.Since(begin)
	if min := time.Duration(a.cfg.SettleChecks) * a.cfg.Timing.ProbeInterval; took < min {
		t.Errorf("settled after %v, before %v", took, min)
	}
	if got := memberNames(a); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("settled with %v", got)
	}

	cancel()
	cancel()
	if _, ok := <-ch; ok {
		t.Error("channel open after unsubscribe")
	}
	_ = b.Close()
	if err := a.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	for range ch2 { // drains pending notifications; ends when closed
	}
	if late, _ := a.Subscribe(); late != nil {
		if _, ok := <-late; ok {
			t.Error("subscribe after close gave an open channel")
		}
	}

	ctx2, stop2 := context.WithTimeout(context.Background(), time.Second)
	defer stop2()
	if err := a.WaitSettled(ctx2); err == nil {
		t.Error("wait settled after close succeeded")
	}
}

func TestWaitSettledContext(t *testing.T) {
	t.Parallel()
	a := start(t, Config{AgentID: "a", SettleChecks: 1000})
	ctx, stop := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer stop()
	if err := a.WaitSettled(ctx); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("wait settled = %v, want deadline error", err)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	m := New(Config{AgentID: "a", BindAddr: "127.0.0.1:0", Logger: newLogger(t)})
	if m.Members() != nil || m.LocalAddr() != "" {
		t.Error("members or address before start")
	}
	if err := m.Close(); err != nil {
		t.Errorf("close before start: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if err := m.Start(context.Background()); err == nil {
		t.Error("start after close succeeded")
	}

	m = start(t, Config{AgentID: "b"})
	if err := m.Start(context.Background()); err == nil {
		t.Error("second start succeeded")
	}
	if err := m.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}

	// A taken port fails Start.
	taken := start(t, Config{AgentID: "c"})
	m = New(Config{AgentID: "d", BindAddr: taken.LocalAddr(), Logger: newLogger(t)})
	if err := m.Start(context.Background()); err == nil {
		_ = m.Close()
		t.Error("start on a taken port succeeded")
	}

	// A cancelled context during the join leaves nothing running.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m = New(Config{AgentID: "e", BindAddr: "127.0.0.1:0", Seeds: []string{testkit.FreeAddr(t)}, Logger: newLogger(t)})
	if err := m.Start(ctx); err == nil {
		t.Error("start with cancelled context succeeded")
	}
	if m.Members() != nil {
		t.Error("members after failed start")
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	bad := Config{
		BindAddr:      "nope",
		AdvertiseAddr: "host.example:7946",
		Seeds:         []string{"1.2.3.4:99999"},
		SecretKeys:    [][]byte{make([]byte, 15)},
		Timing:        Timing{ProbeInterval: time.Second, ProbeTimeout: 2 * time.Second},
		APIAddr:       strings.Repeat("x", 600),
	}.withDefaults()
	err := bad.validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"agent id is required",
		`bind address "nope"`,
		`advertise address "host.example:7946": host must be an IP address`,
		`seed "1.2.3.4:99999"`,
		"secret key 0: 15 bytes, want 16, 24 or 32",
		"probe timeout 2s must be less than probe interval 1s",
		"metadata is 605 bytes encoded, memberlist allows 512",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	good := Config{AgentID: "a"}.withDefaults()
	if err := good.validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	if good.NodeName != "a" || good.BindAddr != "0.0.0.0:7946" || good.Timing != LAN() {
		t.Errorf("defaults not applied: %+v", good)
	}
}

func TestDetectionTimeFigures(t *testing.T) {
	t.Parallel()
	l := LAN()
	for _, tt := range []struct {
		n    int
		want time.Duration
	}{
		{1, 3200 * time.Millisecond},
		{2, 3200 * time.Millisecond},
		{3, 3700 * time.Millisecond},
		{5, 4700 * time.Millisecond},
	} {
		if got := l.DetectionTime(tt.n); got != tt.want {
			t.Errorf("DetectionTime(%d) = %v, want %v (update the Timing doc)", tt.n, got, tt.want)
		}
	}
	if got := l.SuspicionTimeout(100); got != 4*time.Second {
		t.Errorf("SuspicionTimeout(100) = %v, want 4s (4 × log10(100) × 0.5s)", got)
	}
}

func TestMetaEncoding(t *testing.T) {
	t.Parallel()
	m := Meta{Region: "eu-west", AgentID: "agent-7", APIAddr: "[2001:db8::7]:8080"}
	b := encodeMeta(m)
	got, err := decodeMeta(b)
	if err != nil || got != m {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	// A later version may append fields.
	if got, err := decodeMeta(append(slices.Clone(b), 5, 'x', 'y', 'z', 'w', 'v')); err != nil || got != m {
		t.Errorf("with trailing field = %+v, %v", got, err)
	}
	if got, err := decodeMeta(encodeMeta(Meta{})); err != nil || got != (Meta{}) {
		t.Errorf("empty = %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, {}, {2}, {1}, {1, 5, 'a'}, {1, 0, 0}, {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if _, err := decodeMeta(bad); err == nil {
			t.Errorf("decodeMeta(%v) succeeded", bad)
		}
	}
}

// TestRestartSeenByEverySeed restarts a crashed member while the first
// seed it reaches never knew it and a later seed still holds it dead. The
// later seed ignores the restarted member's alive messages (their
// incarnation is no newer than the death it recorded) until the two
// exchange full states, which the push-pull interval (a minute here) may
// put off: the restarted member must exchange states with every seed at
// once and refute its death there.
func TestRestartSeenByEverySeed(t *testing.T) {
	t.Parallel()
	timing := Timing{PushPullInterval: time.Minute}
	a := start(t, Config{AgentID: "a", Timing: timing})
	b := start(t, Config{AgentID: "b", Timing: timing, Seeds: []string{a.LocalAddr()}})
	c := start(t, Config{AgentID: "c", Timing: timing, Seeds: []string{a.LocalAddr()}})
	waitMembers(t, []*Membership{a, b, c}, 5*time.Second, "a", "b", "c")
	cAddr := c.LocalAddr()
	list := c.list.Swap(nil) // a crash: no leave message
	if err := list.Shutdown(); err != nil {
		t.Fatalf("shutdown c: %v", err)
	}
	waitMembers(t, []*Membership{a, b}, LAN().DetectionTime(3)+time.Second, "a", "b")
	// b restarts without c in its memory; a keeps c dead. The death's
	// broadcasts to the peers have run out by now (a few gossip rounds).
	if err := b.Close(); err != nil {
		t.Fatalf("close b: %v", err)
	}
	b = start(t, Config{AgentID: "b", Timing: timing, Seeds: []string{a.LocalAddr()}})
	waitMembers(t, []*Membership{a, b}, 5*time.Second, "a", "b")

	c = start(t, Config{AgentID: "c", Timing: timing, BindAddr: cAddr, Seeds: []string{b.LocalAddr(), a.LocalAddr()}})
	took := waitMembers(t, []*Membership{a, b, c}, 5*time.Second, "a", "b", "c")
	t.Logf("restarted member listed by both seeds %v after its start", took)
}
