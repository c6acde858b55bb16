package offsets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/geomesh/geomesh/internal/loop"
	"github.com/geomesh/geomesh/mirror"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// SyncObserver receives what group sync does. It is called from the
// syncer's goroutine, never concurrently, and must not block.
type SyncObserver interface {
	// Committed is called after a round with the number of partition
	// offsets it committed on the target.
	Committed(partitions int)
	// Failed is called after a round once per group the round failed to
	// sync, with the error's class (SyncErrorClass), and once for a round
	// that failed before it knew any group.
	Failed(class string)
}

// SyncConfig configures a Syncer. Zero values take the defaults named on
// each field.
type SyncConfig struct {
	// Translator translates for the flow whose groups are synced, and
	// holds its clients. Required; the Syncer does not close it.
	Translator *Translator

	// Interval is the time between rounds. Default 1s (MirrorMaker 2's
	// sync.group.offsets.interval.seconds is 60 s). A round costs, per
	// cluster, a group listing and an offset fetch per group, plus, per
	// partition whose group moved, a search that is usually answered from
	// the progress record without reading the target log.
	Interval time.Duration

	// Observer receives counts; nil means none.
	Observer SyncObserver

	// Active, when set, says whether the flow copies now; a round while
	// it does not commits nothing and counts as in step. Only a flow
	// that copies keeps the target's groups in step: once the target is
	// promoted its groups are the applications' own there, and the
	// source's offsets would only move them on (an End answer is the
	// target's end, which then holds what the applications write,
	// unread). Default: always active.
	Active func() bool

	// Logger receives warnings. Default: the Translator's.
	Logger *slog.Logger
}

// Syncer commits the translated offsets of the flow's groups on the target
// while those groups have no active members there.
//
// A group active on the target is never written. Before each round the
// syncer lists the target's groups and skips every one whose state is
// neither Empty nor Dead; the commit itself is an admin commit (generation
// -1, no member id), which the group coordinator accepts only while the
// group has no members, so a consumer joining between the listing and the
// commit makes the commit fail instead of overwriting what the consumer
// uses. A consumer that never joins a group (it assigns partitions itself
// and commits with generation -1) is invisible to both checks; do not
// select such groups.
//
// A group is only moved forward, unless its source offset moved backwards
// (someone reset it on the source) and the target still holds what this
// syncer committed last; a lower translation is otherwise left alone,
// because the group may have been consumed on the target since (after a
// failover), and moving it back would deliver records twice. What the
// syncer committed is remembered in memory only: after a restart it moves
// groups forward only until the source next moves backwards.
//
// A round syncs each group or fails it, one group at a time: a group is
// in step once a round has committed what could be committed for it (or
// found nothing to commit, or found it active on the target). Status says
// since when every group has been in step and which groups fail and why,
// so that one failing group shows even while the others sync.
type Syncer struct {
	cfg SyncConfig
	t   *Translator

	mu     sync.Mutex
	last   map[syncKey]synced
	health syncHealth
}

type syncKey struct {
	group, topic string
	partition    int32
}

// synced is what the syncer last committed for a partition of a group.
type synced struct {
	source, target int64
}

// Error classes of group sync, a small fixed set for a metric label.
const (
	SyncClassAuthorization = "authorization" // a permission is missing on a cluster
	SyncClassUnreachable   = "unreachable"   // a cluster or group coordinator does not answer
	SyncClassOther         = "other"
)

// SyncErrorClasses lists every class SyncErrorClass returns.
var SyncErrorClasses = []string{SyncClassAuthorization, SyncClassUnreachable, SyncClassOther}

// SyncErrorClass sorts an error of group sync into one of the classes.
func SyncErrorClass(err error) string {
	switch mirror.ErrorClass(err) {
	case mirror.ClassAuthorization:
		return SyncClassAuthorization
	case mirror.ClassUnreachable:
		return SyncClassUnreachable
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kerr.CoordinatorNotAvailable) ||
		errors.Is(err, kerr.NotCoordinator) || errors.Is(err, kerr.CoordinatorLoadInProgress) {
		return SyncClassUnreachable
	}
	return SyncClassOther
}

// SyncStatus is what group sync knows after its last round.
type SyncStatus struct {
	Source string `json:"source"`
	Target string `json:"target"`
	// LastRound is when the last round ended, whatever its outcome; zero
	// before the first.
	LastRound time.Time `json:"last_round"`
	// InStep is the time up to which every selected group is known to be
	// in step on the target: the end of the last round in which all of
	// them synced, or, while some fail, the oldest time one of those was
	// last in step (or first seen, or the syncer made). Its age is
	// geomesh_offsets_sync_age_seconds.
	InStep time.Time `json:"in_step"`
	// InStepAge is the time from InStep to the Status call, in seconds,
	// on the agent's clock.
	InStepAge float64 `json:"in_step_age_seconds"`
	// Error is the last round's error when it failed before it reached
	// the groups one by one (a cluster does not list its groups, the
	// translation cannot start); "" otherwise.
	Error string `json:"error,omitempty"`
	// Groups counts the selected groups of the source's last listing.
	Groups int `json:"groups"`
	// Failing lists the groups whose last sync failed, by name.
	Failing []GroupSyncError `json:"failing"`
	// Committed counts the partition offsets committed since the start.
	Committed int64 `json:"committed"`
}

// GroupSyncError is a group whose last sync failed.
type GroupSyncError struct {
	Group string `json:"group"`
	// Class is SyncErrorClass of the error; Error names the cluster, the
	// group and, where one partition failed, the topic and partition.
	Class string `json:"class"`
	Error string `json:"error"`
	// Since is the first round of this run of failures; For is the time
	// from then to the Status call, in seconds, on the agent's clock.
	Since time.Time `json:"since"`
	For   float64   `json:"failing_seconds"`
	// LastSynced is when the group was last in step on the target; zero
	// if never since the syncer started.
	LastSynced time.Time `json:"last_synced,omitzero"`
}

// syncHealth is the state behind Status; Syncer.mu guards it.
type syncHealth struct {
	made      time.Time
	lastRound time.Time
	inStep    time.Time
	roundErr  string
	committed int64
	groups    map[string]*groupHealth
}

type groupHealth struct {
	firstSeen, lastSynced time.Time
	failing               *GroupSyncError
}

// NewSyncer returns a Syncer; it does no I/O.
func NewSyncer(cfg SyncConfig) *Syncer {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = cfg.Translator.cfg.Logger
	}
	now := time.Now()
	return &Syncer{cfg: cfg, t: cfg.Translator, last: map[syncKey]synced{},
		health: syncHealth{made: now, inStep: now, groups: map[string]*groupHealth{}}}
}

// Run runs a round at once, then every Interval, until ctx ends; then it
// returns ctx's error. Failed rounds are logged and retried at the next
// tick.
func (s *Syncer) Run(ctx context.Context) error {
	var lastErr string
	loop.Every(ctx, s.cfg.Interval, func(ctx context.Context) {
		rctx, cancel := context.WithTimeout(ctx, max(10*time.Second, 2*s.cfg.Interval))
		defer cancel()
		_, err := s.Round(rctx)
		if ctx.Err() != nil {
			return // cut short by the end of Run: not a failure to report
		}
		// Say it once per distinct error, not every second.
		if msg := fmt.Sprint(err); err != nil && msg != lastErr {
			s.cfg.Logger.Warn("group offset sync failed", "err", err)
			lastErr = msg
		} else if err == nil {
			lastErr = ""
		}
	})
	return ctx.Err()
}

// Status returns what the syncer knows after its last round; safe to call
// at any time.
func (s *Syncer) Status() SyncStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := &s.health
	f := s.t.Flow()
	st := SyncStatus{
		Source: f.Source, Target: f.Target, LastRound: h.lastRound, InStep: h.inStep, InStepAge: time.Since(h.inStep).Seconds(),
		Error: h.roundErr, Groups: len(h.groups), Failing: []GroupSyncError{}, Committed: h.committed,
	}
	for _, g := range h.groups {
		if g.failing != nil {
			e := *g.failing
			e.For = time.Since(e.Since).Seconds()
			st.Failing = append(st.Failing, e)
		}
	}
	sort.Slice(st.Failing, func(i, j int) bool { return st.Failing[i].Group < st.Failing[j].Group })
	return st
}

// round is the outcome of one Round, group by group.
type round struct {
	// listed is false when the source's groups could not be listed: the
	// groups of the last listing stand, and all of them failed.
	listed bool
	groups []string // the selected groups of the source's listing
	failed map[string]error
	// err failed the round before it reached the groups one by one; with
	// listed, every group of the listing failed with it.
	err       error
	committed int
}

func (r *round) fail(group string, err error) {
	if r.failed == nil {
		r.failed = map[string]error{}
	}
	if _, ok := r.failed[group]; !ok {
		r.failed[group] = err
	}
}

// Round runs one sync pass and returns how many partition offsets it
// committed. Its error names the groups it failed to sync; the others
// synced.
func (s *Syncer) Round(ctx context.Context) (int, error) {
	r := &round{}
	if s.cfg.Active == nil || s.cfg.Active() {
		r = s.round(ctx)
	}
	s.record(r)
	switch {
	case r.err != nil:
		return r.committed, r.err
	case len(r.failed) > 0:
		names := slices.Sorted(maps.Keys(r.failed))
		return r.committed, fmt.Errorf("%d of %d groups not synced (%v), first: %w", len(names), len(r.groups), names, r.failed[names[0]])
	}
	return r.committed, nil
}

func (s *Syncer) round(ctx context.Context) *round {
	f := s.t.Flow()
	r := &round{}
	listed, err := s.t.srcAdm.ListGroups(ctx)
	if err != nil {
		r.err = fmt.Errorf("cluster %s: list groups: %w", f.Source, err)
		return r
	}
	r.listed = true
	for _, g := range listed.Sorted() {
		if f.Groups.Match(g.Group) {
			r.groups = append(r.groups, g.Group)
		}
	}
	if len(r.groups) == 0 {
		return r
	}
	onTarget, err := s.t.dstAdm.ListGroups(ctx)
	if err != nil {
		r.err = fmt.Errorf("cluster %s: list groups: %w", f.Target, err)
		return r
	}
	var idle []string
	for _, g := range r.groups {
		if lg, ok := onTarget[g]; !ok || lg.State == "Empty" || lg.State == "Dead" {
			idle = append(idle, g)
		}
	}
	if len(idle) == 0 {
		return r
	}
	srcOffsets := s.t.srcAdm.FetchManyOffsets(ctx, idle...)
	type span struct {
		group      string
		from, to   int
		sourceMeta map[string]map[int32]string
	}
	var reqs []Request
	var spans []span
	for _, g := range idle {
		resp, ok := srcOffsets[g]
		switch {
		case ok && errors.Is(resp.Err, kerr.GroupIDNotFound):
			continue // deleted on the source since the listing
		case !ok:
			r.fail(g, fmt.Errorf("cluster %s: offsets of group %s: no answer", f.Source, g))
			continue
		case resp.Err != nil:
			r.fail(g, fmt.Errorf("cluster %s: offsets of group %s: %w", f.Source, g, resp.Err))
			continue
		}
		sp := span{group: g, from: len(reqs), sourceMeta: map[string]map[int32]string{}}
		resp.Fetched.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil && o.At >= 0 && f.Selects(o.Topic) {
				reqs = append(reqs, Request{Topic: o.Topic, Partition: o.Partition, Offset: o.At})
				if sp.sourceMeta[o.Topic] == nil {
					sp.sourceMeta[o.Topic] = map[int32]string{}
				}
				sp.sourceMeta[o.Topic][o.Partition] = o.Metadata
			}
		})
		sp.to = len(reqs)
		if sp.to > sp.from {
			sortRequests(reqs[sp.from:sp.to])
			spans = append(spans, sp)
		}
	}
	if len(reqs) == 0 {
		return r
	}
	trs, err := s.t.Translate(ctx, reqs)
	if err != nil {
		for _, sp := range spans {
			r.fail(sp.group, err)
		}
		return r
	}
	names := make([]string, len(spans))
	for i, sp := range spans {
		names[i] = sp.group
	}
	dstOffsets := s.t.dstAdm.FetchManyOffsets(ctx, names...)
	for _, sp := range spans {
		cur, ok := dstOffsets[sp.group]
		switch {
		case ok && errors.Is(cur.Err, kerr.GroupIDNotFound):
			// The group has never been committed on the target. Kafka
			// answers that with no offsets, kfake (the embedded
			// clusters) with this error: the same thing.
			cur = kadm.FetchOffsetsResponse{Group: sp.group}
		case !ok:
			r.fail(sp.group, fmt.Errorf("cluster %s: offsets of group %s: no answer", f.Target, sp.group))
			continue
		case cur.Err != nil:
			r.fail(sp.group, fmt.Errorf("cluster %s: offsets of group %s: %w", f.Target, sp.group, cur.Err))
			continue
		}
		commit := kadm.Offsets{}
		var keys []syncKey
		var sources []int64
		for _, tr := range trs[sp.from:sp.to] {
			if tr.Error != "" {
				r.fail(sp.group, fmt.Errorf("group %s: translate %s/%d: %s", sp.group, tr.Topic, tr.Partition, tr.Error))
				continue
			}
			if tr.State != Copied && tr.State != End {
				continue // the copier is behind, or retention took the copies: not yet
			}
			k := syncKey{group: sp.group, topic: tr.TargetTopic, partition: tr.Partition}
			have, has := cur.Fetched.Lookup(tr.TargetTopic, tr.Partition)
			if !s.shouldCommit(k, tr, has && have.Err == nil && have.At >= 0, have.At) {
				continue
			}
			commit.Add(kadm.Offset{
				Topic: tr.TargetTopic, Partition: tr.Partition, At: tr.TargetOffset, LeaderEpoch: -1,
				Metadata: sp.sourceMeta[tr.Topic][tr.Partition],
			})
			keys = append(keys, k)
			sources = append(sources, tr.SourceOffset)
		}
		if len(keys) == 0 {
			continue
		}
		resp, err := s.t.dstAdm.CommitOffsets(ctx, sp.group, commit)
		if err != nil {
			r.fail(sp.group, fmt.Errorf("cluster %s: commit offsets of group %s: %w", f.Target, sp.group, err))
			continue
		}
		for i, k := range keys {
			o, ok := resp.Lookup(k.topic, k.partition)
			switch {
			case !ok:
				r.fail(sp.group, fmt.Errorf("cluster %s: commit offsets of group %s: no answer for %s/%d", f.Target, sp.group, k.topic, k.partition))
				continue
			case joined(o.Err):
				// The group gained a member since the listing: the
				// coordinator refuses admin commits then, as it should,
				// and the group is the consumer's now.
				s.cfg.Logger.Debug("group offset not committed: the group is active", "group", k.group, "topic", k.topic, "partition", k.partition, "err", o.Err)
				continue
			case o.Err != nil:
				r.fail(sp.group, fmt.Errorf("cluster %s: commit offsets of group %s: topic %s partition %d: %w", f.Target, sp.group, k.topic, k.partition, o.Err))
				continue
			}
			s.mu.Lock()
			s.last[k] = synced{source: sources[i], target: o.At}
			s.mu.Unlock()
			r.committed++
		}
	}
	return r
}

// joined reports a commit refused because the group has members: the
// generation -1 commit of an admin is not theirs.
func joined(err error) bool {
	return errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) ||
		errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.StaleMemberEpoch)
}

// record keeps a round's outcome for Status and tells the observer.
func (s *Syncer) record(r *round) {
	now := time.Now()
	var classes []string
	s.mu.Lock()
	h := &s.health
	h.lastRound = now
	h.committed += int64(r.committed)
	h.roundErr = ""
	if r.err != nil {
		h.roundErr = r.err.Error()
	}
	if r.listed {
		seen := make(map[string]bool, len(r.groups))
		for _, g := range r.groups {
			seen[g] = true
			if h.groups[g] == nil {
				h.groups[g] = &groupHealth{firstSeen: now}
			}
		}
		for g := range h.groups {
			if !seen[g] {
				delete(h.groups, g) // no longer on the source, or no longer selected
			}
		}
	}
	if !r.listed && len(h.groups) == 0 && r.err != nil {
		classes = append(classes, SyncErrorClass(r.err))
	}
	inStep := now
	for name, g := range h.groups {
		err := r.failed[name]
		if err == nil {
			err = r.err
		}
		if err == nil {
			g.lastSynced, g.failing = now, nil
			continue
		}
		class := SyncErrorClass(err)
		classes = append(classes, class)
		since := now
		if g.failing != nil {
			since = g.failing.Since
		}
		g.failing = &GroupSyncError{Group: name, Class: class, Error: err.Error(), Since: since, LastSynced: g.lastSynced}
		if at := orElse(g.lastSynced, g.firstSeen); at.Before(inStep) {
			inStep = at
		}
	}
	if r.err != nil && len(h.groups) == 0 {
		inStep = h.inStep // nothing known to be in step since
	}
	h.inStep = inStep
	s.mu.Unlock()
	if o := s.cfg.Observer; o != nil {
		o.Committed(r.committed)
		for _, c := range classes {
			o.Failed(c)
		}
	}
}

// orElse returns t, or def when t is zero.
func orElse(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// shouldCommit applies the never-backwards rule to one partition; has and
// current are what the target group holds now.
func (s *Syncer) shouldCommit(k syncKey, tr Translation, has bool, current int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, known := s.last[k]
	switch {
	case !has || tr.TargetOffset > current:
		return true
	case tr.TargetOffset == current:
		// Already there (perhaps from before a restart): remember it, so
		// that a later reset on the source can move it back.
		s.last[k] = synced{source: tr.SourceOffset, target: current}
		return false
	default: // the translation is behind what the target holds
		return known && tr.SourceOffset < last.source && current == last.target
	}
}
