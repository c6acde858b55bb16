package quorum

import (
	"context"
	"log/slog"
	"regexp"
	"sync"
	"time"
)

// Op names a kind of control-plane operation whose failures a node
// reports: the value of the op label of the failover plane's
// geomesh_control_plane_errors_total.
type Op string

// The operations, a fixed set.
const (
	OpCheck     Op = "check"     // Store.Check: the majority write of the health check
	OpLoad      Op = "load"      // Store.Load: the state read from the stream's leader
	OpPropose   Op = "propose"   // Store.CompareAndSet, Store.Propose (a lost race is no error)
	OpStatus    Op = "status"    // Store.Replicas, Store.Leader: the stream's replicas
	OpLead      Op = "lead"      // Store.LeadFrom: moving the stream's leader
	OpPublish   Op = "publish"   // Store.PublishEvent, Store.PublishViews
	OpSubscribe Op = "subscribe" // Store.Watch, Store.SubscribeEvents, Store.SubscribeViews
	// OpStorage is the embedded server's own storage failing: JetStream
	// refuses writes after a critical write error (a full disk, the
	// open-files limit, a permission), runs out of its resources or
	// cannot persist its raft state; nats-server says so in its log.
	OpStorage Op = "storage"
)

// Ops lists every Op, for metrics that show each from the start.
var Ops = []Op{OpCheck, OpLoad, OpPropose, OpStatus, OpLead, OpPublish, OpSubscribe, OpStorage}

// ErrorObserver hears of every failed control-plane operation of a node
// and its store, one call per failure; failures that come from the
// caller's context ending are not reported. It is called from the
// goroutine that ran the operation, or from nats-server's for OpStorage,
// possibly concurrently, and must not block.
type ErrorObserver interface {
	ObserveError(op Op, err error)
}

// errorLogInterval is how often a node logs an operation that keeps
// failing: its first failure at once, then one line per interval with
// the count.
const errorLogInterval = time.Minute

// errorReporter logs a node's failed operations at ERROR, without
// flooding the log while the control plane stays unreachable, and tells
// the node's ErrorObserver of each. Safe for concurrent use.
type errorReporter struct {
	log *slog.Logger
	obs ErrorObserver // nil: log only

	mu    sync.Mutex
	ops   map[Op]*opErrors
	clock func() time.Time
}

// opErrors is what errorReporter remembers of one operation.
type opErrors struct {
	logged    time.Time // the last line logged; zero: none since the last success
	unlogged  int       // failures since that line
	sinceGood int       // failures since the last success
}

func newErrorReporter(log *slog.Logger, obs ErrorObserver) *errorReporter {
	return &errorReporter{log: log, obs: obs, ops: map[Op]*opErrors{}, clock: time.Now}
}

// failed reports err of op, unless ctx, the caller's, has ended, and
// returns err.
func (r *errorReporter) failed(ctx context.Context, op Op, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	if r.obs != nil {
		r.obs.ObserveError(op, err)
	}
	r.mu.Lock()
	e := r.ops[op]
	if e == nil {
		e = &opErrors{}
		r.ops[op] = e
	}
	e.sinceGood++
	now := r.clock()
	if !e.logged.IsZero() && now.Sub(e.logged) < errorLogInterval {
		e.unlogged++
		r.mu.Unlock()
		return err
	}
	repeated, failures := e.unlogged, e.sinceGood
	e.logged, e.unlogged = now, 0
	r.mu.Unlock()
	args := []any{"op", op, "err", err}
	if failures > 1 {
		args = append(args, "failures", failures, "not_logged", repeated)
	}
	r.log.Error("control plane: "+string(op)+" failed", args...)
	return err
}

// ok notes a success of op: the next failure is logged at once, and a
// success after logged failures is logged at INFO.
func (r *errorReporter) ok(op Op) {
	r.mu.Lock()
	e := r.ops[op]
	if e == nil || e.sinceGood == 0 {
		r.mu.Unlock()
		return
	}
	failures := e.sinceGood
	*e = opErrors{}
	r.mu.Unlock()
	r.log.Info("control plane: "+string(op)+" works again", "failures", failures)
}

// storageLine matches the lines nats-server logs when its JetStream
// storage fails (filestore.go, raft.go, jetstream.go, stream.go and
// jetstream_cluster.go of v2.15): a critical write error, which stops
// the store's writes for good; resources or disk space exhausted; a
// permission denied; a store or WAL that cannot be created or written;
// raft state that cannot be persisted.
var storageLine = regexp.MustCompile(`(?i)critical write error|out of (?:\w+ )?(?:resources|space)|resource limits exceeded|permission denied|error creating (?:filestore|memstore)|error storing entry|error writing|could not persist|error truncating wal|too many open files|no space left`)
