package offsets

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// ErrUnstable is returned when the copy a translation needs is committed but
// not yet readable: another writer's open transaction on the target
// partition holds its last stable offset at or below the copier's last
// copy. It clears when that transaction ends; callers retry.
var ErrUnstable = errors.New("an open transaction holds the last stable offset below the last copy")

// Record is what a read_committed reader of a target partition sees at one
// offset, reduced to what translation needs.
type Record struct {
	// Offset is the record's offset in the target partition.
	Offset int64
	// Copy is true when the record is a copy of the source partition being
	// translated: its provenance headers name the flow's source region,
	// the source topic and the same partition.
	Copy bool
	// Origin is the source offset of the copied record, when Copy.
	Origin int64
}

// Log is a target partition as translation reads it.
//
// ReadAt returns the first record at or after offset that a read_committed
// consumer would receive: records of aborted transactions, transaction
// markers and records removed by compaction or retention are skipped, just
// as a Kafka fetch at an offset inside them skips forward. ok is false when
// no such record exists yet. Implementations may be called for offsets in
// any order; they need not be safe for concurrent use.
type Log interface {
	ReadAt(ctx context.Context, offset int64) (r Record, ok bool, err error)
}

// State says what a translated offset means.
type State string

const (
	// Copied: Offset is the target offset of the copy of the first source
	// record at or after the group offset that has a copy; Origin is that
	// record's source offset.
	Copied State = "copied"
	// End: every source record before the group offset has been dealt
	// with by the copier and none at or after it has a copy yet. Offset is
	// where the target ends; the next copy lands at or after it, and it is
	// the copy of the first record at or after the group offset.
	End State = "end"
	// Behind: the copier has not reached the group offset yet; records
	// before it may still be copied, to offsets at or after Offset. A group
	// committed at Offset would read them twice, so group sync waits.
	Behind State = "behind"
	// Truncated: retention deleted from the target every copy at or after
	// the group offset that had been made; Offset is the target's log
	// start, where a consumer can resume with the records that are left.
	Truncated State = "truncated"
)

// Query is one source partition's group offset and what the target and the
// copier's progress say about that partition.
type Query struct {
	// Group is the committed source offset: the next record the group
	// reads.
	Group int64

	// SourceStart is the log start offset of the source partition, -1 if
	// unknown. Nothing below it can still be copied, so the copier counts
	// as having dealt with everything before it. That is what answers a
	// group at the start of an empty or never copied partition. The one
	// race: retention deleting records that the copier has read but not
	// yet committed (within one commit interval); their copies then land
	// after an End answer.
	SourceStart int64

	// HasProgress says whether the copier committed progress for the
	// partition; Next, LastSource and LastTarget are that progress
	// (mirror.Progress), LastSource and LastTarget -1 when nothing was
	// copied.
	HasProgress                  bool
	Next, LastSource, LastTarget int64

	// TargetStart is the log start offset of the target partition and
	// TargetEnd its last stable offset (the end a read_committed reader
	// sees). TargetEnd must have been read before the progress: then every
	// copy committed below TargetEnd is counted in the progress, which is
	// what makes End and Behind safe.
	TargetStart, TargetEnd int64
}

// Result is a translated offset.
type Result struct {
	Offset int64
	State  State
	// Origin is the source offset of the record at Offset when State is
	// Copied, -1 otherwise.
	Origin int64
	// Reads counts the calls of Log.ReadAt the search made.
	Reads int
}

// Translate finds the target offset for q.Group in the target partition
// log.
//
// Copies of one source partition sit in the target partition in source
// order (exactly-once copy commits them in order and a restart resumes after
// the last committed one), so "origin offset ≥ Group" is monotone over the
// copies and a binary search finds the first copy that satisfies it. Other
// records (local writes, copies from other regions, aborted records,
// markers) are skipped over by scanning forward from each probe. The
// progress record is the anchor: when Group is past its last copied source
// offset the answer follows from it without reading the log; otherwise the
// search runs below its last target offset. hints narrows the search with
// pairs learned before; nil means none.
func Translate(ctx context.Context, log Log, q Query, hints *Hints) (Result, error) {
	next, lastSource, lastTarget := int64(-1), int64(-1), int64(-1)
	if q.HasProgress {
		next, lastSource, lastTarget = q.Next, q.LastSource, q.LastTarget
	}
	next = max(next, q.SourceStart)
	if q.Group > lastSource {
		// Every committed copy below TargetEnd is of a record at or below
		// lastSource < Group, and every later copy lands after both
		// TargetEnd and lastTarget.
		end := max(q.TargetEnd, lastTarget+1)
		if q.Group <= next {
			return Result{Offset: end, State: End, Origin: -1}, nil
		}
		return Result{Offset: end, State: Behind, Origin: -1}, nil
	}
	if q.TargetEnd <= lastTarget {
		// Copies at or after TargetEnd are invisible to read_committed
		// readers, and the answer may be one of them.
		return Result{}, fmt.Errorf("last stable offset %d, last copy at %d: %w", q.TargetEnd, lastTarget, ErrUnstable)
	}
	lo := max(q.TargetStart, 0)
	if lastTarget < lo {
		return Result{Offset: lo, State: Truncated, Origin: -1}, nil
	}
	hints.forgetFrom(q.TargetEnd)
	s := search{ctx: ctx, log: log, group: q.Group, hints: hints}
	res, err := s.run(lo, lastTarget, lastSource)
	if err != nil {
		return Result{}, err
	}
	if !s.verified {
		// The answer came from a hint that no read of this call confirmed:
		// check it, and if the log no longer agrees (a recreated or
		// truncated topic) forget the hints and search again.
		r, ok, err := s.readCopy(res.Offset, res.Offset+1)
		if err != nil {
			return Result{}, err
		}
		if !ok || r.Origin != res.Origin {
			hints.reset()
			s.hints = nil
			res, err = s.run(lo, lastTarget, lastSource)
			if err != nil {
				return Result{}, err
			}
		}
	}
	res.Reads = s.reads
	return res, nil
}

// search is one binary search for the first copy whose origin offset is at
// least group.
type search struct {
	ctx      context.Context
	log      Log
	group    int64
	hints    *Hints
	reads    int
	verified bool // the candidate returned was read by this search
}

// run searches [lo, cand] where cand is known to hold a copy with origin
// candOrigin ≥ group. Invariant: every copy below lo has an origin below
// group, and no copy lies in [hi, cand).
func (s *search) run(lo, cand, candOrigin int64) (Result, error) {
	s.verified = true // the anchor is the copier's own record of a copy
	hi := cand
	if below, ok := s.hints.below(s.group); ok {
		lo = max(lo, below.Target+1)
	}
	if above, ok := s.hints.atOrAbove(s.group); ok && above.Target < cand && above.Target >= lo {
		cand, candOrigin, hi = above.Target, above.Origin, above.Target
		s.verified = false
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		r, ok, err := s.readCopy(mid, hi)
		if err != nil {
			return Result{}, err
		}
		switch {
		case !ok: // no copy in [mid, hi)
			hi = mid
		case r.Origin >= s.group:
			cand, candOrigin, hi = r.Offset, r.Origin, mid
			s.verified = true
		default:
			lo = r.Offset + 1
		}
	}
	return Result{Offset: cand, State: Copied, Origin: candOrigin}, nil
}

// readCopy returns the first copy in [from, before), skipping records of
// other origins.
func (s *search) readCopy(from, before int64) (Record, bool, error) {
	for at := from; at < before; {
		s.reads++
		r, ok, err := s.log.ReadAt(s.ctx, at)
		if err != nil {
			return Record{}, false, err
		}
		if !ok || r.Offset >= before {
			return Record{}, false, nil
		}
		if r.Offset < at {
			return Record{}, false, fmt.Errorf("log read at offset %d returned offset %d", at, r.Offset)
		}
		if r.Copy {
			s.hints.learn(r.Origin, r.Offset)
			return r, true, nil
		}
		at = r.Offset + 1
	}
	return Record{}, false, nil
}

// Pair is a source offset and the target offset of its copy.
type Pair struct {
	Origin, Target int64
}

// maxHints bounds the pairs a Hints keeps per partition: enough to start
// most searches of groups that lag by similar amounts a few probes from
// their answer, small enough that memory does not grow with the log.
const maxHints = 64

// Hints are (source, target) pairs of one target partition learned by
// earlier searches. They only narrow a search: a pair is a fact about the
// log that stays true while the log is only appended to. A nil *Hints is
// empty and learns nothing. Safe for concurrent use.
type Hints struct {
	mu    sync.Mutex
	pairs []Pair // sorted by Origin (and so by Target)
}

func (h *Hints) below(group int64) (Pair, bool) {
	if h == nil {
		return Pair{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	i, _ := slices.BinarySearchFunc(h.pairs, group, func(p Pair, g int64) int { return cmp.Compare(p.Origin, g) })
	if i == 0 {
		return Pair{}, false
	}
	return h.pairs[i-1], true
}

func (h *Hints) atOrAbove(group int64) (Pair, bool) {
	if h == nil {
		return Pair{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	i, _ := slices.BinarySearchFunc(h.pairs, group, func(p Pair, g int64) int { return cmp.Compare(p.Origin, g) })
	if i == len(h.pairs) {
		return Pair{}, false
	}
	return h.pairs[i], true
}

func (h *Hints) learn(origin, target int64) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	i, found := slices.BinarySearchFunc(h.pairs, origin, func(p Pair, o int64) int { return cmp.Compare(p.Origin, o) })
	if found {
		h.pairs[i].Target = target
		return
	}
	h.pairs = slices.Insert(h.pairs, i, Pair{Origin: origin, Target: target})
	if len(h.pairs) > maxHints {
		// Thin out evenly, keeping both ends, so the pairs still cover the
		// whole range searched so far.
		kept := h.pairs[:0]
		for j, p := range h.pairs {
			if j%2 == 0 || j == len(h.pairs)-1 {
				kept = append(kept, p)
			}
		}
		h.pairs = kept
	}
}

// forgetFrom drops every pair if one lies at or past end: copies are only
// ever learned below the end a reader saw, and ends only grow, so such a
// pair means the topic was truncated or recreated.
func (h *Hints) forgetFrom(end int64) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.pairs); n > 0 && h.pairs[n-1].Target >= end {
		h.pairs = nil
	}
}

func (h *Hints) reset() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pairs = nil
}

// Len is the number of pairs held.
func (h *Hints) Len() int {
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.pairs)
}
