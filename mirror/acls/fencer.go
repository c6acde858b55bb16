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
	Err  error
}

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

	// Logger receives one line per DENY created or deleted and per change
	// of a pass's error; the lines do not name the region (the agent's
	// logger does, and errors do). Default: discard.
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

// Status returns a snapshot; safe from any goroutine.
func (f *Fencer) Status() FenceStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.status
	st.Denies = append([]string{}, st.Denies...)
	return st
}

// Run runs a pass every Interval, and at once after a change of side,
// until ctx ends; then it returns ctx's error.
func (f *Fencer) Run(ctx context.Context) error {
	if f.cfgErr != nil {
		return f.cfgErr
	}
	t := time.NewTicker(f.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-f.kick:
		}
		pctx, cancel := context.WithTimeout(ctx, f.cfg.PassTimeout)
		_ = f.PassOnce(pctx) // recorded in Status, logged and observed
		cancel()
	}
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
	rep, held := f.pass(ctx, fenced)
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
	f.mu.Unlock()
	if f.cfg.Observer != nil {
		f.cfg.Observer.ObserveFence(rep)
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

// pass reads the cluster's ACLs, plans and applies the changes. It
// returns the DENYs geomesh holds afterwards, nil when it could not read
// them.
func (f *Fencer) pass(ctx context.Context, fenced bool) (FenceReport, []ACL) {
	c := cluster{region: f.cfg.Region, kafka: f.cfg.Kafka, cl: f.cfg.Cluster}
	all, err := describe(ctx, f.cfg.Cluster, fencedTypes)
	if err != nil {
		return FenceReport{Err: c.explain("DESCRIBE", "the CLUSTER (to read its ACLs)", err)}, nil
	}
	plan := PlanFence(all, fenced, FencePolicy{Mesh: f.cfg.Mesh, Selects: f.cfg.Selects, Exempt: []string{broker.Principal(f.cfg.Kafka)}})
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
	if len(markersGone) > 0 {
		_, err := c.delete(ctx, markersGone)
		errs = append(errs, err)
	}
	marked := map[ACL]bool{}
	if len(plan.AddMarkers) > 0 {
		done, err := c.create(ctx, plan.AddMarkers)
		errs = append(errs, err)
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
		for _, d := range done {
			f.cfg.Logger.Info("fence acl created", "acl", d.String())
		}
	}
	if !plan.Empty() {
		// Read back rather than compute: the cluster is the record.
		if all, err = describe(ctx, f.cfg.Cluster, fencedTypes); err != nil {
			rep.Err = errors.Join(append(errs, c.explain("DESCRIBE", "the CLUSTER (to read its ACLs)", err))...)
			return rep, nil
		}
	}
	rep.Err = errors.Join(errs...)
	return rep, heldDenies(all, f.cfg.Mesh)
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
