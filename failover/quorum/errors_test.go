package quorum

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/machine"
)

// opRecorder is an ErrorObserver that keeps every report.
type opRecorder struct {
	mu   sync.Mutex
	ops  []Op
	errs []error
}

func (r *opRecorder) ObserveError(op Op, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
	r.errs = append(r.errs, err)
}

func (r *opRecorder) count(op Op) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, o := range r.ops {
		if o == op {
			n++
		}
	}
	return n
}

// logRecorder is a slog handler that keeps every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// at returns the messages logged at level.
func (h *logRecorder) at(level slog.Level) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		if r.Level == level {
			out = append(out, r.Message)
		}
	}
	return out
}

// TestStoreErrorsReported breaks the control plane under a store (its
// node closed) and checks that every operation's failure reaches the
// observer and the log at ERROR, once per operation within a minute,
// and that one ended by the caller's context does not.
func TestStoreErrorsReported(t *testing.T) {
	var obs opRecorder
	logs := &logRecorder{}
	nodes, stores, _ := clusterWith(t, 1, func(c *Config) {
		c.Errors, c.Logger = &obs, slog.New(logs)
	})
	st := stores[0]
	ctx := context.Background()
	if err := st.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompareAndSet(ctx, 0, state(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompareAndSet(ctx, 0, state(1)); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: %v, want a conflict", err)
	}
	if len(obs.ops) != 0 || len(logs.at(slog.LevelError)) != 0 {
		t.Fatalf("a working store reported %v, logged %q", obs.ops, logs.at(slog.LevelError))
	}

	// Break it.
	if err := nodes[0].Close(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := st.Check(ctx); err == nil {
			t.Fatal("check on a closed node: no error")
		}
	}
	if _, _, err := st.Load(ctx); err == nil {
		t.Fatal("load on a closed node: no error")
	}
	if _, err := st.CompareAndSet(ctx, 1, state(2)); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("compare-and-set on a closed node: %v, want no quorum", err)
	}
	if err := st.PublishViews([]machine.View{{Observer: "a", Region: "a", Verdict: "up", At: time.Now()}}); err == nil {
		t.Fatal("publishing views on a closed node: no error")
	}
	if err := st.PublishEvent(api.Event{Epoch: 2}); err == nil {
		t.Fatal("publishing an event on a closed node: no error")
	}
	if leader, _ := st.Replicas(ctx); leader != "" {
		t.Fatalf("replicas on a closed node: leader %q", leader)
	}
	if _, err := st.SubscribeViews(func([]machine.View) {}); err == nil {
		t.Fatal("subscribing on a closed node: no error")
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	_ = st.Check(ended) // the caller gave up: not the store's failure

	for op, want := range map[Op]int{OpCheck: 3, OpLoad: 1, OpPropose: 1, OpPublish: 2, OpStatus: 1, OpSubscribe: 1} {
		if got := obs.count(op); got != want {
			t.Errorf("%s failures reported: %d, want %d", op, got, want)
		}
	}
	errs := logs.at(slog.LevelError)
	slices.Sort(errs)
	want := []string{"control plane: check failed", "control plane: load failed", "control plane: propose failed",
		"control plane: publish failed", "control plane: status failed", "control plane: subscribe failed"}
	if !slices.Equal(errs, want) {
		t.Errorf("logged at ERROR:\n%q\nwant one line per operation:\n%q", errs, want)
	}
}

// TestErrorReporterInterval: an operation that keeps failing is logged
// once a minute with the count, and again at once after a success.
func TestErrorReporterInterval(t *testing.T) {
	logs := &logRecorder{}
	var obs opRecorder
	r := newErrorReporter(slog.New(logs), &obs)
	now := time.Unix(1_000_000, 0)
	r.clock = func() time.Time { return now }
	fail := errors.New("nats: timeout")
	for range 5 {
		_ = r.failed(context.Background(), OpCheck, fail)
		now = now.Add(10 * time.Second)
	}
	if got := len(logs.at(slog.LevelError)); got != 1 {
		t.Fatalf("5 failures within 50s: %d lines, want 1", got)
	}
	now = now.Add(20 * time.Second)
	_ = r.failed(context.Background(), OpCheck, fail)
	if got := len(logs.at(slog.LevelError)); got != 2 {
		t.Fatalf("a failure a minute after the first line: %d lines, want 2", got)
	}
	logs.mu.Lock()
	var failures, notLogged int64
	logs.records[1].Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "failures":
			failures = a.Value.Int64()
		case "not_logged":
			notLogged = a.Value.Int64()
		}
		return true
	})
	logs.mu.Unlock()
	if failures != 6 || notLogged != 4 {
		t.Errorf("the minute's line says failures=%d not_logged=%d, want 6 and 4", failures, notLogged)
	}
	r.ok(OpCheck)
	if got := logs.at(slog.LevelInfo); len(got) != 1 || got[0] != "control plane: check works again" {
		t.Errorf("after a success logged at INFO %q", got)
	}
	_ = r.failed(context.Background(), OpCheck, fail)
	if got := len(logs.at(slog.LevelError)); got != 3 {
		t.Errorf("a failure after a success: %d lines, want 3", got)
	}
	if got := obs.count(OpCheck); got != 7 {
		t.Errorf("observer heard %d failures, want every one of 7", got)
	}
}

// TestStorageLines feeds the adapter lines nats-server v2.15 logs when
// its storage fails, and lines of expected trouble: only the former are
// reported as OpStorage and logged at ERROR.
func TestStorageLines(t *testing.T) {
	logs := &logRecorder{}
	var obs opRecorder
	a := &logAdapter{l: slog.New(logs), errs: newErrorReporter(slog.New(logs), &obs)}
	storage := []string{
		"Filestore [KV_geomesh-shop] Critical write error: open /var/lib/geomesh/jetstream/$G/streams/KV_geomesh-shop/msgs/2.blk: too many open files",
		"RAFT [yrzKKRBu - S-R3F-abc] Critical write error: write /tmp/x: no space left on device",
		"JetStream out of file resources, will be DISABLED",
		"JetStream file resource limits exceeded for server",
		"File system permission denied while writing, disabling JetStream",
		"Error creating filestore WAL: could not create storage directory - mkdir /x: permission denied",
		"RAFT [a - b] Error storing entry to WAL: write error",
		"RAFT [a - b] Not granting vote for \"b\", could not persist term and vote: disk full",
	}
	expected := []string{
		"Error trying to connect to route (attempt 12): dial tcp 10.0.0.7:6222: connect: connection refused",
		"RAFT [a - b] Detected another leader with higher term, will stepdown",
		"JetStream cluster no metadata leader",
	}
	for _, l := range storage {
		a.Errorf("%s", l)
	}
	for _, l := range expected {
		a.Errorf("%s", l)
		a.Warnf("%s", l)
	}
	if got := obs.count(OpStorage); got != len(storage) || len(obs.ops) != len(storage) {
		t.Errorf("reported %v, want %d storage failures and nothing else", obs.ops, len(storage))
	}
	for i, err := range obs.errs {
		if !strings.Contains(err.Error(), storage[i]) {
			t.Errorf("report %d: %v, want the server's line %q", i, err, storage[i])
		}
	}
	if got := logs.at(slog.LevelError); len(got) != 1 || got[0] != "control plane: storage failed" {
		t.Errorf("logged at ERROR %q, want the first storage failure (the rest within the minute counted)", got)
	}
	if got := len(logs.at(slog.LevelDebug)); got != 2*len(expected) {
		t.Errorf("%d lines at DEBUG, want the %d of expected trouble", got, 2*len(expected))
	}
}
