package offsets

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// SyncObserver receives what group sync does. It is called from the
// syncer's goroutine, never concurrently, and must not block.
type SyncObserver interface {
	// Committed is called after a round with the number of partition
	// offsets it committed on the target.
	Committed(partitions int)
	// RoundDone is called after every round that reached both clusters.
	RoundDone(at time.Time)
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
type Syncer struct {
	cfg SyncConfig
	t   *Translator

	mu   sync.Mutex
	last map[syncKey]synced
}

type syncKey struct {
	group, topic string
	partition    int32
}

// synced is what the syncer last committed for a partition of a group.
type synced struct {
	source, target int64
}

// NewSyncer returns a Syncer; it does no I/O.
func NewSyncer(cfg SyncConfig) *Syncer {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = cfg.Translator.cfg.Logger
	}
	return &Syncer{cfg: cfg, t: cfg.Translator, last: map[syncKey]synced{}}
}

// Run syncs every Interval until ctx ends; it returns nil then. Failed
// rounds are logged and retried at the next tick.
func (s *Syncer) Run(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	var lastErr string
	for {
		rctx, cancel := context.WithTimeout(ctx, max(10*time.Second, 2*s.cfg.Interval))
		_, err := s.Round(rctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		// Say it once per distinct error, not every second.
		if msg := fmt.Sprint(err); err != nil && msg != lastErr {
			s.cfg.Logger.Warn("group offset sync failed", "flow", s.t.cfg.Flow.Source+"->"+s.t.cfg.Flow.Target, "err", err)
			lastErr = msg
		} else if err == nil {
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Round runs one sync pass and returns how many partition offsets it
// committed.
func (s *Syncer) Round(ctx context.Context) (int, error) {
	f := s.t.cfg.Flow
	listed, err := s.t.srcAdm.ListGroups(ctx)
	if err != nil {
		return 0, fmt.Errorf("cluster %s: list groups: %w", f.Source, err)
	}
	var groups []string
	for _, g := range listed.Sorted() {
		if f.Groups.Match(g.Group) {
			groups = append(groups, g.Group)
		}
	}
	if len(groups) == 0 {
		s.done(0)
		return 0, nil
	}
	onTarget, err := s.t.dstAdm.ListGroups(ctx)
	if err != nil {
		return 0, fmt.Errorf("cluster %s: list groups: %w", f.Target, err)
	}
	var idle []string
	for _, g := range groups {
		if lg, ok := onTarget[g]; !ok || lg.State == "Empty" || lg.State == "Dead" {
			idle = append(idle, g)
		}
	}
	if len(idle) == 0 {
		s.done(0)
		return 0, nil
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
		if !ok || resp.Err != nil {
			continue // the group disappeared, or cannot be read: next round
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
		s.done(0)
		return 0, nil
	}
	trs, err := s.t.Translate(ctx, reqs)
	if err != nil {
		return 0, err
	}
	names := make([]string, len(spans))
	for i, sp := range spans {
		names[i] = sp.group
	}
	dstOffsets := s.t.dstAdm.FetchManyOffsets(ctx, names...)
	total := 0
	var errs []error
	for _, sp := range spans {
		cur, ok := dstOffsets[sp.group]
		if !ok || cur.Err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: offsets of group %s: %v", f.Target, sp.group, cur.Err))
			continue
		}
		commit := kadm.Offsets{}
		var keys []syncKey
		var sources []int64
		for _, tr := range trs[sp.from:sp.to] {
			if tr.Error != "" || (tr.State != Copied && tr.State != End) {
				continue // behind or failing: try again next round
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
			errs = append(errs, fmt.Errorf("cluster %s: commit offsets of group %s: %w", f.Target, sp.group, err))
			continue
		}
		for i, k := range keys {
			o, ok := resp.Lookup(k.topic, k.partition)
			if !ok || o.Err != nil {
				// Most often the group gained a member since the listing:
				// the coordinator refuses admin commits then, as it should.
				s.cfg.Logger.Debug("group offset not committed", "group", k.group, "topic", k.topic, "partition", k.partition, "err", o.Err)
				continue
			}
			s.mu.Lock()
			s.last[k] = synced{source: sources[i], target: o.At}
			s.mu.Unlock()
			total++
		}
	}
	s.done(total)
	if len(errs) > 0 {
		return total, fmt.Errorf("%d groups not synced, first: %w", len(errs), errs[0])
	}
	return total, nil
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

func (s *Syncer) done(n int) {
	if o := s.cfg.Observer; o != nil {
		o.Committed(n)
		o.RoundDone(time.Now())
	}
}
