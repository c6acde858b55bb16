package offsets

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// This file is an in-memory model of a source partition, the exactly-once
// copier of package mirror and the target partition it writes, close enough
// to Kafka's read_committed semantics to drive Translate through every case
// the real logs produce: plain and transactional batches interleaved by
// several producers, aborted transactions, markers, compaction and
// retention on the source, local writes and other regions' transactional
// copies on the target, retention and DeleteRecords moving the target's log
// start, the target topic deleted and recreated, copier transactions that
// abort or crash and sessions that restart from the committed progress.

var (
	histories = flag.Int("histories", 10_000, "generated histories of the property test")
	seed      = flag.Uint64("seed", 1, "seed of the property test")
)

// entry is one offset of a modelled log.
type entry struct {
	pid     int  // 0: not transactional
	marker  bool // a transaction marker of pid
	commit  bool // the marker's outcome
	removed bool // compacted away
	copy    bool // target only: a copy of the translated source partition
	origin  int64
}

// mlog is a modelled partition log.
type mlog struct {
	entries []entry
	start   int64       // log start offset
	open    map[int]int // pid → offset of its open transaction's first record
}

func newLog() *mlog { return &mlog{open: map[int]int{}} }

func (l *mlog) end() int64 { return int64(len(l.entries)) }

// lso is the last stable offset: the first record of the oldest open
// transaction, or the end; never below the log start (Kafka moves the first
// unstable offset up to a log start that passed it).
func (l *mlog) lso() int64 {
	lso := l.end()
	for _, first := range l.open {
		lso = min(lso, int64(first))
	}
	return max(lso, l.start)
}

func (l *mlog) append(e entry) int64 {
	if e.pid != 0 && !e.marker {
		if _, ok := l.open[e.pid]; !ok {
			l.open[e.pid] = len(l.entries)
		}
	}
	l.entries = append(l.entries, e)
	return int64(len(l.entries) - 1)
}

// openPIDs lists the producers with an open transaction, sorted, so that
// a seed replays the same history.
func (l *mlog) openPIDs() []int {
	return slices.Sorted(maps.Keys(l.open))
}

// endTxn writes pid's marker and decides its records.
func (l *mlog) endTxn(pid int, commit bool) {
	if _, ok := l.open[pid]; !ok {
		return
	}
	delete(l.open, pid)
	l.entries = append(l.entries, entry{pid: pid, marker: true, commit: commit})
}

// committed reports whether the data entry at i belongs to a committed
// transaction (or none); entries of open transactions are not.
func (l *mlog) committed(i int) bool {
	e := l.entries[i]
	if e.pid == 0 {
		return true
	}
	for j := i + 1; j < len(l.entries); j++ {
		if f := l.entries[j]; f.pid == e.pid && f.marker {
			return f.commit
		}
	}
	return false
}

// visible reports whether a read_committed reader below the LSO sees the
// data entry at i.
func (l *mlog) visible(i int, lso int64) bool {
	e := l.entries[i]
	return int64(i) >= l.start && int64(i) < lso && !e.marker && !e.removed && l.committed(i)
}

// target is a Log over the modelled target partition as it is now.
type target struct {
	l     *mlog
	reads int
}

func (t *target) ReadAt(_ context.Context, offset int64) (Record, bool, error) {
	t.reads++
	lso := t.l.lso()
	for i := max(offset, t.l.start); i < lso; i++ {
		if t.l.visible(int(i), lso) {
			e := t.l.entries[i]
			return Record{Offset: i, Copy: e.copy, Origin: e.origin}, true, nil
		}
	}
	return Record{}, false, nil
}

// copier models one exactly-once shard of one source partition.
type copier struct {
	pid       int
	has       bool // progress committed
	committed progressState
	pending   progressState
	pos       int64 // next source offset the session reads
	inTxn     bool
}

type progressState struct{ next, lastSource, lastTarget int64 }

// world is one generated history.
type world struct {
	rng *rand.Rand
	src *mlog
	dst *mlog
	gen int // how often the target topic was recreated
	cp  copier
	// checks are the translations made against the target topic as it is
	// now, to be judged once it is complete or deleted.
	checks []pending
}

const (
	copierPID  = 1000
	foreignPID = 2000
)

func newWorld(rng *rand.Rand) *world {
	w := &world{rng: rng, src: newLog(), dst: newLog()}
	w.cp = copier{pid: copierPID, committed: progressState{-1, -1, -1}, pending: progressState{-1, -1, -1}}
	// Data on the target before replication began: local records, an
	// aborted and a committed transaction of other writers.
	for range rng.IntN(6) {
		w.localWrite()
	}
	return w
}

// sourceStep appends to the source: plain records or a transaction's
// records and markers, several producers interleaving.
func (w *world) sourceStep() {
	r := w.rng
	switch n := r.IntN(10); {
	case n < 4:
		w.src.append(entry{})
	case n < 8:
		pid := 1 + r.IntN(3)
		for range 1 + r.IntN(4) {
			w.src.append(entry{pid: pid})
		}
	default:
		if open := w.src.openPIDs(); len(open) > 0 {
			w.src.endTxn(open[r.IntN(len(open))], r.IntN(3) > 0)
		}
	}
}

// sourceCompaction removes committed records below the LSO (the cleaner
// never touches what is not decided) or moves the log start. Retention does
// not run while the copier holds an open transaction: deleting records the
// copier has read and not committed yet is the one race Translate does not
// cover (see Query.SourceStart).
func (w *world) sourceCompaction() {
	lso := w.src.lso()
	if w.rng.IntN(4) == 0 && lso > w.src.start && !w.cp.inTxn {
		w.src.start += w.rng.Int64N(min(lso-w.src.start, 5) + 1)
		return
	}
	for i := w.src.start; i < lso; i++ {
		if w.rng.IntN(5) == 0 && !w.src.entries[i].marker {
			w.src.entries[i].removed = true
		}
	}
}

// localWrite adds a target record that is not a copy of the source
// partition: a local record, or another region's copy in its own
// transaction.
func (w *world) localWrite() {
	if w.rng.IntN(2) == 0 {
		w.dst.append(entry{origin: -1})
		return
	}
	for range 1 + w.rng.IntN(3) {
		w.dst.append(entry{pid: foreignPID, origin: w.rng.Int64N(1000)})
	}
	if w.rng.IntN(2) == 0 {
		w.dst.endTxn(foreignPID, w.rng.IntN(4) > 0)
	}
}

// targetCompaction removes committed local records; copies stay, as the
// target topic of a copy is not compacted in this model.
func (w *world) targetCompaction() {
	lso := w.dst.lso()
	for i := w.dst.start; i < lso; i++ {
		if e := &w.dst.entries[i]; !e.copy && !e.marker && w.rng.IntN(4) == 0 {
			e.removed = true
		}
	}
}

// copyStep reads up to a few source records visible to read_committed and
// writes copies into the copier's open transaction; forwarded decides per
// record (the loop rules and the dead-letter policy let some pass without a
// copy).
func (w *world) copyStep() {
	cp := &w.cp
	lso := w.src.lso()
	if cp.pos < w.src.start {
		cp.pos = w.src.start // behind retention: the consumer resets to the start
	}
	for n := 1 + w.rng.IntN(6); n > 0 && cp.pos < lso; cp.pos++ {
		i := cp.pos
		e := w.src.entries[i]
		switch {
		case e.marker:
			cp.pending.next = i + 1
		case w.src.visible(int(i), lso):
			n--
			cp.pending.next = i + 1
			if w.rng.IntN(8) == 0 {
				continue // filtered
			}
			cp.inTxn = true
			t := w.dst.append(entry{pid: cp.pid, copy: true, origin: i})
			cp.pending.lastSource, cp.pending.lastTarget = i, t
		}
	}
	if cp.pending != cp.committed {
		cp.inTxn = true
	}
}

// endStep ends the copier's transaction: commit, abort, or a crash after
// which the next session's InitProducerID aborts it. Either way that leaves
// an abort marker and a session resuming from the committed progress.
func (w *world) endStep() {
	cp := &w.cp
	if !cp.inTxn {
		return
	}
	cp.inTxn = false
	if w.rng.IntN(6) > 0 {
		// A transaction that only moved progress (markers, filtered
		// records) has no marker in this partition: endTxn skips it.
		w.dst.endTxn(cp.pid, true)
		cp.committed, cp.has = cp.pending, true
		return
	}
	w.dst.endTxn(cp.pid, false)
	cp.restart(w.src.start)
}

// restart is a new session after a failed one: it resumes from the
// committed progress.
func (cp *copier) restart(sourceStart int64) {
	cp.inTxn = false
	cp.pending = cp.committed
	cp.pos = cp.committed.next
	if !cp.has {
		cp.pos = sourceStart
	}
}

// targetTruncation moves the target's log start: retention deleting the
// oldest records, or DeleteRecords up to any offset below the high
// watermark, the end included, which may delete records of open
// transactions.
func (w *world) targetTruncation() {
	d := w.dst
	switch w.rng.IntN(3) {
	case 0:
		d.start += w.rng.Int64N(min(d.lso()-d.start, 8) + 1)
	case 1:
		d.start += w.rng.Int64N(d.end() - d.start + 1)
	default:
		d.start = d.end()
	}
}

// recreateTarget deletes the target topic and creates it again, empty.
// The copier's open transaction cannot commit into the new topic: its
// session fails and a new one resumes from the committed progress, whose
// last target offset names an offset of the old topic. Other writers'
// open transactions go with the old topic.
func (w *world) recreateTarget() {
	w.dst = newLog()
	w.gen++
	if w.cp.inTxn {
		w.cp.restart(w.src.start)
	}
	for range w.rng.IntN(3) {
		w.localWrite()
	}
}

// query translates g against the world as it is now.
func (w *world) query(g int64, hints *Hints) (Query, Result, int, error) {
	q := Query{
		Group:       g,
		SourceStart: w.src.start,
		HasProgress: w.cp.has,
		Next:        w.cp.committed.next, LastSource: w.cp.committed.lastSource, LastTarget: w.cp.committed.lastTarget,
		TargetStart: w.dst.start,
		TargetEnd:   w.dst.lso(),
		TargetHigh:  w.dst.end(),
	}
	if !w.cp.has {
		q.Next, q.LastSource, q.LastTarget = -1, -1, -1
	}
	lg := &target{l: w.dst}
	res, err := Translate(context.Background(), lg, q, hints)
	return q, res, lg.reads, err
}

// staleAnchor reports whether the copier's committed last target offset
// no longer holds the copy of its last source offset: it names an offset
// of a target topic that was deleted since.
func (w *world) staleAnchor() bool {
	c := w.cp.committed
	if !w.cp.has || c.lastTarget < 0 {
		return false
	}
	if c.lastTarget >= w.dst.end() {
		return true
	}
	e := w.dst.entries[c.lastTarget]
	return !e.copy || e.pid != copierPID || e.origin != c.lastSource
}

// pending is a translation to be checked once the target topic it was
// made against is complete or deleted.
type pending struct {
	q   Query
	res Result
	at  string
}

// checkNow checks what can be checked at the time of the query.
func (w *world) checkNow(q Query, res Result) error {
	// first is the first committed copy with origin ≥ g, readable or not
	// yet; readable says whether it lies below the last stable offset.
	first, firstOrigin, readable := int64(-1), int64(-1), false
	for i := range w.dst.entries {
		if e := w.dst.entries[i]; e.copy && w.dst.visible(i, w.dst.end()) && e.origin >= q.Group {
			first, firstOrigin, readable = int64(i), e.origin, int64(i) < w.dst.lso()
			break
		}
	}
	next := max(q.SourceStart, -1)
	if q.HasProgress {
		next = max(next, q.Next)
	}
	switch res.State {
	case Copied:
		if first < 0 || !readable || res.Offset != first || res.Origin != firstOrigin {
			return fmt.Errorf("copied at %d (origin %d), want the first copy with origin ≥ %d at %d (origin %d, readable %v)", res.Offset, res.Origin, q.Group, first, firstOrigin, readable)
		}
	case End:
		if first >= 0 && first < res.Offset {
			return fmt.Errorf("end at %d, but a copy of origin %d ≥ %d is at %d", res.Offset, firstOrigin, q.Group, first)
		}
		if q.Group > next {
			return fmt.Errorf("end although the copier is at %d, before %d", next, q.Group)
		}
	case Behind:
		if first >= 0 || q.Group <= next {
			return fmt.Errorf("behind although the copier is at %d and the first copy with origin ≥ %d is at %d", next, q.Group, first)
		}
	case Truncated:
		if !q.HasProgress || q.Group > q.LastSource {
			return fmt.Errorf("truncated although the copier never copied a record at or after %d (last copied %d)", q.Group, q.LastSource)
		}
		if readable {
			return fmt.Errorf("truncated, but the copy of origin %d ≥ %d at %d is readable", firstOrigin, q.Group, first)
		}
		if first >= 0 && first < res.Offset {
			return fmt.Errorf("truncated at %d, but a copy of origin %d ≥ %d is at %d", res.Offset, firstOrigin, q.Group, first)
		}
		if res.Offset < q.TargetStart || res.Offset > q.TargetEnd {
			return fmt.Errorf("truncated at %d, outside the target's log [%d, %d)", res.Offset, q.TargetStart, q.TargetEnd)
		}
	default:
		return fmt.Errorf("unexpected state %s", res.State)
	}
	return nil
}

// checkFinal checks a translation against the target topic as it ends
// (complete, or about to be deleted): a group committed at the translated
// offset reads on the target exactly the copies of records at or after g:
// every committed copy below the offset has an origin below g, every one at
// or above it an origin of at least g. A Behind answer only promises the
// first half.
func (w *world) checkFinal(p pending) error {
	end := w.dst.end()
	for i := range w.dst.entries {
		e := w.dst.entries[i]
		if !e.copy || !w.dst.visible(i, end) {
			continue
		}
		below := int64(i) < p.res.Offset
		if below && e.origin >= p.q.Group {
			return fmt.Errorf("copy of origin %d at %d is below the translated offset %d of group offset %d: it would be skipped", e.origin, i, p.res.Offset, p.q.Group)
		}
		if !below && e.origin < p.q.Group && p.res.State != Behind {
			return fmt.Errorf("copy of origin %d at %d is at or after the translated offset %d of group offset %d: it would be read twice", e.origin, i, p.res.Offset, p.q.Group)
		}
	}
	return nil
}

// judge checks every translation made against the target topic as it is
// now, and forgets them.
func (w *world) judge() error {
	for _, p := range w.checks {
		if err := w.checkFinal(p); err != nil {
			return fmt.Errorf("query at %s %+v → %+v: %w", p.at, p.q, p.res, err)
		}
	}
	w.checks = nil
	return nil
}

func (w *world) describe() string {
	var b []byte
	for i, e := range w.src.entries {
		b = fmt.Appendf(b, "src %d: %+v committed=%v\n", i, e, w.src.committed(i))
	}
	for i, e := range w.dst.entries {
		b = fmt.Appendf(b, "dst %d: %+v committed=%v\n", i, e, w.dst.committed(i))
	}
	b = fmt.Appendf(b, "source start %d, target start %d (topic created %d times), copier %+v\n", w.src.start, w.dst.start, w.gen+1, w.cp)
	return string(b)
}

// TestPropertyExact generates histories and checks every translation made
// along the way, at the time and against the target topic as it ends:
// complete, or deleted and created again.
func TestPropertyExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(*seed, 0x6765_6f6d_6573_68))
	var queries, reads, maxReads, truncations, recreations, stale int
	states := map[State]int{}
	for h := range *histories {
		w := newWorld(rng)
		hints := &Hints{}
		steps := 10 + rng.IntN(120)
		for step := range steps {
			switch n := rng.IntN(22); {
			case n < 6:
				w.sourceStep()
			case n < 7:
				w.sourceCompaction()
			case n < 9:
				w.localWrite()
			case n < 10:
				w.targetCompaction()
			case n < 15:
				w.copyStep()
			case n < 17:
				w.endStep()
			case n < 20:
				for range 3 {
					g := w.pickGroupOffset()
					q, res, n, err := w.query(g, hints)
					if errors.Is(err, ErrUnstable) {
						// Waiting is only right while a transaction holds
						// the last stable offset below the high watermark.
						if q.TargetEnd >= q.TargetHigh {
							t.Fatalf("history %d step %d: group offset %d: %v with no transaction open\nquery %+v\n%s", h, step, g, err, q, w.describe())
						}
						states["unstable"]++
						continue
					}
					if err != nil {
						t.Fatalf("history %d step %d: translate %d: %v", h, step, g, err)
					}
					if err := w.checkNow(q, res); err != nil {
						t.Fatalf("history %d step %d: group offset %d: %v\nquery %+v → %+v\n%s", h, step, g, err, q, res, w.describe())
					}
					// Hints only save reads; without them the answer is
					// the same.
					_, plain, _, _ := w.query(g, nil)
					if plain.Offset != res.Offset || plain.State != res.State {
						t.Fatalf("history %d step %d: group offset %d: %+v with hints, %+v without\n%s", h, step, g, res, plain, w.describe())
					}
					w.checks = append(w.checks, pending{q: q, res: res, at: fmt.Sprintf("step %d", step)})
					queries++
					reads += n
					maxReads = max(maxReads, n)
					states[res.State]++
					if w.staleAnchor() {
						stale++
					}
				}
			case n < 21:
				w.targetTruncation()
				truncations++
			default:
				if rng.IntN(2) == 0 {
					if err := w.judge(); err != nil {
						t.Fatalf("history %d step %d, before the target topic is recreated: %v\n%s", h, step, err, w.describe())
					}
					w.recreateTarget()
					recreations++
				}
			}
		}
		// Finish the history: every open source transaction decided, the
		// copier drained and committed.
		for _, pid := range w.src.openPIDs() {
			w.src.endTxn(pid, rng.IntN(2) == 0)
		}
		for _, pid := range w.dst.openPIDs() {
			if pid != copierPID {
				w.dst.endTxn(pid, true)
			}
		}
		for w.cp.pos < w.src.lso() || w.cp.inTxn {
			w.copyStep()
			w.cp.inTxn = w.cp.inTxn || w.cp.pending != w.cp.committed
			if w.cp.inTxn {
				w.dst.endTxn(copierPID, true)
				w.cp.committed, w.cp.has, w.cp.inTxn = w.cp.pending, true, false
			}
		}
		if err := w.judge(); err != nil {
			t.Fatalf("history %d, %v\n%s", h, err, w.describe())
		}
	}
	t.Logf("%d histories, %d target truncations, %d target topics recreated; %d translations (%v), %d of them with the copier's last copy in a deleted topic; %.1f log reads per translation on average, at most %d",
		*histories, truncations, recreations, queries, states, stale, float64(reads)/float64(max(queries, 1)), maxReads)
	// The generator must keep reaching the cases this test is about.
	if *histories >= 1000 && (states[Truncated] == 0 || stale == 0) {
		t.Errorf("no truncated answer (%d) or no translation against a recreated topic with a stale progress anchor (%d): the generator lost a case", states[Truncated], stale)
	}
}

// pickGroupOffset chooses a committed group offset: anywhere in the source
// log and a little around it, with extra weight on the edges.
func (w *world) pickGroupOffset() int64 {
	end := w.src.lso()
	switch w.rng.IntN(6) {
	case 0:
		return end
	case 1:
		return w.src.start
	case 2:
		return max(0, w.cp.committed.lastSource+w.rng.Int64N(3)-1)
	}
	return max(0, w.src.start-2+w.rng.Int64N(end-w.src.start+3))
}
