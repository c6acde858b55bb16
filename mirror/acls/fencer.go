package acls

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/internal/loop"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fencedTypes are the resources a fence pass reads: a fence denies
// writes to topics only.
var fencedTypes = []kmsg.ACLResourceType{kmsg.ACLResourceTypeTopic}

// FenceObserver receives the outcome of every fence pass (metrics). It is
// called from the Fencer's goroutine and must not block.
type FenceObserver interface {
	ObserveFence(r FenceReport)
}

// FenceReport is one pass: what it changed and why it failed, if it did.
type FenceReport struct {
	Created, Deleted int
	// Held is how many DENYs geomesh holds on the cluster after the pass.
	Held int
	// Writes is what the pass confirmed the cluster does with the writes
	// the fence governs; WritesUnknown when it could not tell.
	Writes Writes
	Err    error
}

// Writes is what a cluster does with the application writes a fence
// governs (writes through an ALLOW of WRITE or ALL on a mirrored topic),
// as a pass confirmed it by reading the cluster's ACLs back.
type Writes string

const (
	// WritesUnknown: no pass has confirmed either yet.
	WritesUnknown Writes = ""
	// WritesAccepted: the cluster holds none of the mesh's DENYs, or has
	// no authorizer; such writes go through.
	WritesAccepted Writes = "accepted"
	// WritesRefused: every ALLOW the fence overrides has its DENY; such
	// writes fail with TOPIC_AUTHORIZATION_FAILED.
	WritesRefused Writes = "refused"
)

// FencerConfig configures a Fencer. Zero values take the defaults named
// on each field, applied by NewFencer.
type FencerConfig struct {
	// Mesh names the mesh in the markers that record its DENYs. Required.
	Mesh string

	// Region names the region in errors and status. Required.
	Region string

	// Kafka is the region's connection settings: the agent's principal
	// named there is exempt from the DENYs and is named when a request is
	// refused.
	Kafka *topology.Kafka

	// Cluster reaches the region's cluster. Required. The Fencer does not
	// close it.
	Cluster Requester

	// Selects reports whether a topic or topic prefix of the region is
	// mirrored. Required.
	Selects func(topic string) bool

	// Interval between passes while the fence's side is known. Default
	// 1 s, so an ALLOW WRITE granted in a demoted region is overridden
	// within about a second; a change of side runs a pass at once.
	Interval time.Duration

	// PassTimeout bounds one pass. Default 10 s.
	PassTimeout time.Duration

	// Observer receives every pass's outcome. Default: none.
	Observer FenceObserver

	// Logger receives one line per DENY created or deleted, per change
	// of a pass's error, and a "write fence" line per change of what the
	// cluster does with the writes (see Writes): writes, denies,
	// requested (when the pass sent its first change, or began if it
	// changed nothing: the earliest the cluster may have acted so) and at
	// (when reading the ACLs back confirmed it), both RFC 3339 with
	// nanoseconds. Every line names the cluster's region (cluster=Region),
	// which need not be the agent's. Default: discard.
	Logger *slog.Logger
}

// FenceStatus is the Fencer's state for the agent's status page.
type FenceStatus struct {
	Region string `json:"region"`
	// Known: the agent has told the Fencer which side it is on; until
	// then it changes nothing.
	Known bool `json:"known"`
	// Fenced: application writes to mirrored topics are to be denied.
	Fenced bool `json:"fenced"`
	// Denies are the DENY ACLs geomesh holds on the cluster.
	Denies  []string  `json:"denies"`
	Created int       `json:"created"`
	Deleted int       `json:"deleted"`
	LastRun time.Time `json:"last_run,omitzero"`
	// Error of the last pass, empty when it succeeded.
	Error string `json:"error,omitempty"`
	// Writes is what the cluster does with the writes the fence governs,
	// as last confirmed; empty until a pass could tell.
	Writes Writes `json:"writes,omitempty"`
	// WritesSince is when a pass confirmed Writes.
	WritesSince time.Time `json:"writes_since,omitzero"`
}

// Fencer keeps one region's cluster denying, or not, application writes
// to the mirrored topics; see the package doc.
type Fencer struct {
	cfg    FencerConfig
	cfgErr error
	kick   chan struct{}

	passMu sync.Mutex // serializes passes; taken before mu
	mu     sync.Mutex // guards the fields below, never held across I/O
	status FenceStatus
}

// NewFencer returns a Fencer. It does no I/O; a config error is returned
// by the first PassOnce or Run.
func NewFencer(cfg FencerConfig) *Fencer {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.PassTimeout <= 0 {
		cfg.PassTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.Logger = cfg.Logger.With("cluster", cfg.Region)
	var errs []error
	if cfg.Mesh == "" || cfg.Region == "" {
		errs = append(errs, errors.New("mesh and region are required"))
	}
	if cfg.Cluster == nil {
		errs = append(errs, errors.New("cluster client is required"))
	}
	if cfg.Selects == nil {
		errs = append(errs, errors.New("topic selection is required"))
	}
	var cfgErr error
	if len(errs) > 0 {
		cfgErr = fmt.Errorf("acl fence %s: %w", cfg.Region, errors.Join(errs...))
	}
	return &Fencer{cfg: cfg, cfgErr: cfgErr, kick: make(chan struct{}, 1),
		status: FenceStatus{Region: cfg.Region, Denies: []string{}}}
}

// SetFenced says whether the region must deny application writes now:
// true when it is demoted or has fenced itself, false when it is the
// primary. A change runs a pass at once. Safe from any goroutine; it
// never blocks.
func (f *Fencer) SetFenced(fenced bool) {
	f.mu.Lock()
	changed := !f.status.Known || f.status.Fenced != fenced
	f.status.Known, f.status.Fenced = true, fenced
	f.mu.Unlock()
	if changed {
		select {
		case f.kick <- struct{}{}:
		default: // a pass is due already
		}
	}
}

// forget drops what the fencer knows of the cluster's writes, for a
// cluster another agent may have changed since its last pass: the next
// pass that learns them reports them as a change, with its "write fence"
// line.
func (f *Fencer) forget() {
	f.mu.Lock()
	f.status.Writes, f.status.WritesSince = WritesUnknown, time.Time{}
	f.mu.Unlock()
}

// Status returns a snapshot; safe from any goroutine.
func (f *Fencer) Status() FenceStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.status
	st.Denies = append([]string{}, st.Denies...)
	return st
}

// Run runs a pass at once, then every Interval and at once after a
// change of side, until ctx ends; then it returns ctx's error. Passes
// before the first SetFenced change nothing (PassOnce), so the first
// pass that acts is the one SetFenced asks for.
func (f *Fencer) Run(ctx context.Context) error {
	if f.cfgErr != nil {
		return f.cfgErr
	}
	loop.Every(ctx, f.cfg.Interval, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, f.cfg.PassTimeout)
		defer cancel()
		_ = f.PassOnce(ctx) // recorded in Status, logged and observed
	}, loop.Wake(f.kick))
	return ctx.Err()
}

// PassOnce runs one pass. Before the first SetFenced it does nothing: an
// agent that does not know its role yet leaves the DENYs as they are.
func (f *Fencer) PassOnce(ctx context.Context) error {
	if f.cfgErr != nil {
		return f.cfgErr
	}
	f.passMu.Lock()
	defer f.passMu.Unlock()
	f.mu.Lock()
	known, fenced := f.status.Known, f.status.Fenced
	prev := f.status.Error
	f.mu.Unlock()
	if !known {
		return nil
	}
	rep, held, change := f.pass(ctx, fenced)
	var heldNames []string
	for _, d := range held {
		heldNames = append(heldNames, d.String())
	}
	f.mu.Lock()
	f.status.LastRun = time.Now()
	f.status.Created += rep.Created
	f.status.Deleted += rep.Deleted
	if held != nil { // else unknown: keep the last pass's
		f.status.Denies = append([]string{}, heldNames...)
	}
	f.status.Error = ""
	if rep.Err != nil {
		f.status.Error = rep.Err.Error()
	}
	rep.Held = len(f.status.Denies)
	wasWrites := f.status.Writes
	if rep.Writes != WritesUnknown && rep.Writes != wasWrites {
		f.status.Writes, f.status.WritesSince = rep.Writes, change.at
	}
	f.mu.Unlock()
	if f.cfg.Observer != nil {
		f.cfg.Observer.ObserveFence(rep)
	}
	if rep.Writes != WritesUnknown && rep.Writes != wasWrites {
		// One line per change, written before anything else can happen
		// to the agent: tests read these from the log of an agent they
		// kill, and operators see when the cluster started to refuse.
		f.cfg.Logger.Info("write fence", "writes", string(rep.Writes), "denies", rep.Held,
			"requested", change.requested.Format(time.RFC3339Nano), "at", change.at.Format(time.RFC3339Nano))
	}
	err := rep.Err
	switch {
	case err != nil && err.Error() == prev:
	case errors.Is(err, ErrNoAuthorizer):
		// Warn, not info: in such a region nothing stops an application
		// from writing while it is not primary.
		f.cfg.Logger.Warn("acl fence idle: a region that is not primary cannot refuse application writes", "reason", err)
	case err != nil:
		f.cfg.Logger.Warn("acl fence failed", "fenced", fenced, "err", err)
	case prev != "":
		f.cfg.Logger.Info("acl fence recovered", "fenced", fenced)
	}
	return err
}

// passTimes are when a pass sent its first change (or began, if it
// changed nothing) and when it confirmed the outcome.
type passTimes struct{ requested, at time.Time }

// pass reads the cluster's ACLs, plans and applies the changes. It
// returns the DENYs geomesh holds afterwards, nil when it could not read
// them, and when it acted.
func (f *Fencer) pass(ctx context.Context, fenced bool) (FenceReport, []ACL, passTimes) {
	c := cluster{region: f.cfg.Region, kafka: f.cfg.Kafka, cl: f.cfg.Cluster}
	times := passTimes{requested: time.Now()}
	all, err := describe(ctx, f.cfg.Cluster, fencedTypes)
	if err != nil {
		rep := FenceReport{Err: c.explain("DESCRIBE", "the CLUSTER (to read its ACLs)", err)}
		if errors.Is(rep.Err, ErrNoAuthorizer) {
			// Such a cluster refuses nothing, whatever the fence wants.
			rep.Writes = WritesAccepted
		}
		times.at = time.Now()
		return rep, nil, times
	}
	policy := FencePolicy{Mesh: f.cfg.Mesh, Selects: f.cfg.Selects, Exempt: []string{broker.Principal(f.cfg.Kafka)}}
	plan := PlanFence(all, fenced, policy)
	if !plan.Empty() {
		times.requested = time.Now()
	}
	var rep FenceReport
	var errs []error
	// A DENY is created only once its marker exists, and a marker is
	// deleted only once its DENY is gone: a pass cut short anywhere leaves
	// every geomesh DENY marked, so a later pass can remove it.
	gone := map[ACL]bool{}
	if len(plan.RemoveDenies) > 0 {
		done, err := c.delete(ctx, plan.RemoveDenies)
		errs = append(errs, err)
		rep.Deleted += len(done)
		for _, d := range done {
			gone[d] = true
			f.cfg.Logger.Info("fence acl deleted", "acl", d.String())
		}
	}
	removing := map[ACL]bool{}
	for _, d := range plan.RemoveDenies {
		removing[d] = true
	}
	var markersGone []ACL
	for _, m := range plan.RemoveMarkers {
		if _, d, _ := markedDeny(m); !removing[d] || gone[d] {
			markersGone = append(markersGone, m)
		}
	}
	var created, deleted []ACL
	for d := range gone {
		deleted = append(deleted, d)
	}
	if len(markersGone) > 0 {
		done, err := c.delete(ctx, markersGone)
		errs = append(errs, err)
		deleted = append(deleted, done...)
	}
	marked := map[ACL]bool{}
	if len(plan.AddMarkers) > 0 {
		done, err := c.create(ctx, plan.AddMarkers)
		errs = append(errs, err)
		created = append(created, done...)
		for _, m := range done {
			marked[m] = true
		}
	}
	var denies []ACL
	adding := map[ACL]bool{}
	for _, m := range plan.AddMarkers {
		_, d, _ := markedDeny(m)
		adding[d] = true
	}
	for _, d := range plan.AddDenies {
		if !adding[d] || marked[marker(f.cfg.Mesh, d)] {
			denies = append(denies, d)
		}
	}
	if len(denies) > 0 {
		done, err := c.create(ctx, denies)
		errs = append(errs, err)
		rep.Created += len(done)
		created = append(created, done...)
		for _, d := range done {
			f.cfg.Logger.Info("fence acl created", "acl", d.String())
		}
	}
	if !plan.Empty() {
		// Read back rather than compute: the cluster is the record.
		if all, err = readBack(ctx, f.cfg.Cluster, created, deleted); err != nil {
			rep.Err = errors.Join(append(errs, c.explain("DESCRIBE", "the CLUSTER (to read its ACLs)", err))...)
			return rep, nil, times
		}
	}
	times.at = time.Now()
	rep.Err = errors.Join(errs...)
	held := heldDenies(all, f.cfg.Mesh)
	rep.Writes = confirmedWrites(all, held, fenced, policy)
	return rep, held, times
}

// readBackWait bounds how long a pass waits for the broker's view of
// the ACLs to show its own changes.
const readBackWait = 2 * time.Second

// readBack reads the cluster's ACLs once they show every ACL of created
// and none of deleted. A broker answers DescribeAcls from its copy of
// the cluster's metadata, which trails the controller that took the
// change: read at once, a DENY just created may be missing, and the pass
// would report a fence it holds as not held. Past readBackWait it returns
// what it read last; the writes stay unconfirmed until a later pass.
func readBack(ctx context.Context, cl Requester, created, deleted []ACL) ([]ACL, error) {
	deadline := time.Now().Add(readBackWait)
	for {
		all, err := describe(ctx, cl, fencedTypes)
		if err != nil || shows(all, created, deleted) || time.Now().After(deadline) {
			return all, err
		}
		select {
		case <-ctx.Done():
			return all, nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// shows reports whether all holds every ACL of created and none of
// deleted.
func shows(all, created, deleted []ACL) bool {
	have := make(map[ACL]bool, len(all))
	for _, a := range all {
		have[a] = true
	}
	for _, a := range created {
		if !have[a] {
			return false
		}
	}
	for _, a := range deleted {
		if have[a] {
			return false
		}
	}
	return true
}

// confirmedWrites is what a cluster whose ACLs are all does with the
// writes the fence governs, given the side the fence is on; unknown
// while a pass has not finished the work of that side.
func confirmedWrites(all, held []ACL, fenced bool, p FencePolicy) Writes {
	switch {
	case fenced && len(PlanFence(all, true, p).AddDenies) == 0:
		return WritesRefused
	case !fenced && len(held) == 0:
		return WritesAccepted
	}
	return WritesUnknown
}

// heldDenies are the DENYs of acls that their markers say mesh made.
func heldDenies(acls []ACL, mesh string) []ACL {
	_, owned := fenceACLs(acls, mesh)
	held := []ACL{}
	for _, a := range acls {
		if owned[a] {
			held = append(held, a)
		}
	}
	return held
}
