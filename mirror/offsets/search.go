package offsets

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/geomesh/geomesh/api"
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

// State says what a translated offset means; the API serves it
// (api.TranslationState).
type State = api.TranslationState

const (
	// Copied: Offset is the target offset of the copy of the first source
	// record at or after the group offset that has a copy; Origin is that
	// record's source offset.
	Copied = api.TranslationCopied
	// End: every source record before the group offset has been dealt
	// with by the copier and none at or after it has a copy yet. Offset is
	// where the target ends; the next copy lands at or after it, and it is
	// the copy of the first record at or after the group offset.
	End = api.TranslationEnd
	// Behind: the copier has not reached the group offset yet; records
	// before it may still be copied, to offsets at or after Offset. A group
	// committed at Offset would read them twice, so group sync waits.
	Behind = api.TranslationBehind
	// Truncated: the copier copied records at or after the group offset,
	// but no copy of them is left to read on the target: retention or
	// DeleteRecords deleted them, or the target topic was deleted and
	// created again. Offset is where a consumer resumes with the records
	// that are left: right after the last copy of a record before the
	// group offset, or the target's log start if there is none.
	Truncated = api.TranslationTruncated
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

	// TargetHigh is the high watermark of the target partition, read
	// after the progress, or -1 if unknown. Every copy the progress counts
	// was written below it, so LastTarget at or past it names an offset of
	// a topic that was deleted and created again (or truncated) since.
	TargetHigh int64
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
//
// The anchor and the hints are facts about the log only while it is
// appended to. An anchor at or past the high watermark is known to be of a
// deleted topic. Any other anchor or hint is read before an answer rests
// on it; when the log no longer agrees, the hints are dropped and the
// search runs again over the whole readable log.
func Translate(ctx context.Context, log Log, q Query, hints *Hints) (Result, error) {
	next, lastSource, lastTarget := int64(-1), int64(-1), int64(-1)
	if q.HasProgress {
		next, lastSource, lastTarget = q.Next, q.LastSource, q.LastTarget
	}
	next = max(next, q.SourceStart)
	lo := max(q.TargetStart, 0)
	if lastTarget >= 0 && q.TargetHigh >= 0 && lastTarget >= q.TargetHigh {
		// The last copy was made into a topic deleted since. The copier
		// moves lastTarget to the last copy of every transaction it
		// commits, so it has committed none into this one: every copy
		// here is of a record after lastSource and lies at or after
		// TargetEnd.
		if q.Group <= lastSource {
			return Result{Offset: lo, State: Truncated, Origin: -1}, nil
		}
		return endOrBehind(q.Group, next, q.TargetEnd), nil
	}
	if q.TargetEnd <= lastTarget {
		// Copies at or after TargetEnd are invisible to read_committed
		// readers. The answer may be one of them; and a last copy that
		// cannot be read cannot be told from an offset of a deleted topic
		// that this one has grown past.
		return Result{}, fmt.Errorf("last stable offset %d, last copy at %d: %w", q.TargetEnd, lastTarget, ErrUnstable)
	}
	if q.Group > lastSource {
		// Every committed copy below TargetEnd is of a record at or below
		// lastSource < Group, and every later copy lands at or after
		// TargetEnd.
		return endOrBehind(q.Group, next, q.TargetEnd), nil
	}
	if lastTarget < lo {
		return Result{Offset: lo, State: Truncated, Origin: -1}, nil
	}
	s := search{ctx: ctx, log: log, group: q.Group, hints: hints}
	res, found, err := s.run(lo, lastTarget, lastSource)
	if err != nil {
		return Result{}, err
	}
	if found && !s.verified {
		// The answer is the anchor or a hint that no read of this call
		// confirmed: check it, and if the log no longer agrees (a
		// recreated topic) forget the hints and search all of it.
		r, ok, err := s.readCopy(res.Offset, res.Offset+1)
		if err != nil {
			return Result{}, err
		}
		if !ok || r.Origin != res.Origin {
			hints.reset()
			s.hints = nil
			if res, found, err = s.run(lo, q.TargetEnd, -1); err != nil {
				return Result{}, err
			}
		}
	}
	if !found {
		res = Result{Offset: res.Offset, State: Truncated, Origin: -1}
	}
	res.Reads = s.reads
	return res, nil
}

// endOrBehind answers a group offset past every copy made: End when the
// copier has dealt with every record before it, Behind otherwise.
func endOrBehind(group, next, end int64) Result {
	if group <= next {
		return Result{Offset: end, State: End, Origin: -1}
	}
	return Result{Offset: end, State: Behind, Origin: -1}
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

// run searches [lo, cand] where cand holds a copy with origin candOrigin ≥
// group, or, when candOrigin is negative, [lo, cand) for any copy. found
// is false when there is none; the result's Offset is then where the
// search ended: right after the last copy with an origin below group, or
// lo. Invariant: every copy below lo has an origin below group, and no
// copy lies in [hi, cand).
func (s *search) run(lo, cand, candOrigin int64) (res Result, found bool, err error) {
	// The anchor is the copier's record of a copy, but of a topic that may
	// since have been recreated: it counts as unread.
	s.verified = false
	hi := cand
	if below, ok := s.hints.below(s.group); ok && below.Target >= lo {
		// A hint moves lo only once the log shows it still holds.
		r, ok, err := s.readCopy(below.Target, below.Target+1)
		if err != nil {
			return Result{}, false, err
		}
		if ok && r.Origin == below.Origin {
			lo = below.Target + 1
		} else {
			s.hints.reset()
			s.hints = nil
		}
	}
	if above, ok := s.hints.atOrAbove(s.group); ok && above.Target < cand && above.Target >= lo {
		cand, candOrigin, hi = above.Target, above.Origin, above.Target
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		r, ok, err := s.readCopy(mid, hi)
		if err != nil {
			return Result{}, false, err
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
	if candOrigin < 0 {
		return Result{Offset: lo, Origin: -1}, false, nil
	}
	return Result{Offset: cand, State: Copied, Origin: candOrigin}, true, nil
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
// log that stays true while the log is only appended to, and a search
// reads each pair it relies on before it does, so that pairs of a deleted
// topic are dropped. A nil *Hints is empty and learns nothing. Safe for
// concurrent use.
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
