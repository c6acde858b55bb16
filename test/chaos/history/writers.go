package history

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"
)

// What a WriteFence event says a region's cluster does with the
// applications' writes from then on.
const (
	// WritesAccepted: the fence was lifted; writes go through.
	WritesAccepted = "accepted"
	// WritesRefused: the fence holds; writes are refused.
	WritesRefused = "refused"
	// ClusterDown: the cluster's brokers are dead (killed by the test);
	// nothing is written there, whatever the fence says.
	ClusterDown = "down"
	// ClusterUp: the brokers run again, with the fence as it was.
	ClusterUp = "up"
)

// WriteFence records a change of what Region's cluster does with the
// applications' writes: the fence's changes as an agent confirmed them
// (Observer: the agent; the agent of another region fences a cluster
// too), and the test's kills and restarts of the cluster's brokers.
type WriteFence struct {
	// Time is when the change was confirmed: a refusal holds from then
	// on at the latest.
	Time time.Time `json:"time"`
	// Requested is when the change was asked for: writes may be accepted
	// from then on at the earliest. Zero means Time.
	Requested time.Time `json:"requested,omitzero"`
	Region    string    `json:"region"`
	// Writes is one of WritesAccepted, WritesRefused, ClusterDown,
	// ClusterUp.
	Writes   string `json:"writes"`
	Observer string `json:"observer"`
}

func (f WriteFence) requested() time.Time {
	if f.Requested.IsZero() {
		return f.Time
	}
	return f.Requested
}

// effect is the instant the checker puts the change at: as early as
// possible for writes accepted, as late as possible for writes refused.
func (f WriteFence) effect() time.Time {
	if f.Writes == WritesAccepted {
		return f.requested()
	}
	return f.Time
}

// FenceSeen records a change of a cluster's write fence.
func (r *Recorder) FenceSeen(f WriteFence) {
	r.mu.Lock()
	r.h.Fences = append(r.h.Fences, f)
	r.mu.Unlock()
}

// DoubleWriter is the finding that two regions accepted writes at once.
const DoubleWriter Kind = "double-writer"

// writing is a stretch of time in which a region's cluster may have
// accepted writes.
type writing struct {
	region     string
	start, end time.Time // end is zero while it lasts to the history's end
	opened     string    // the event that opened it
	closed     string    // and the one that closed it
}

func (w writing) String() string {
	end := "the end of the history"
	if !w.end.IsZero() {
		end = w.end.Format(time.RFC3339Nano) + " (" + w.closed + ")"
	}
	return fmt.Sprintf("%s accepted writes from %s (%s) to %s", w.region, w.start.Format(time.RFC3339Nano), w.opened, end)
}

func describeFence(f WriteFence) string {
	if f.Writes == WritesAccepted && !f.Requested.IsZero() && !f.Requested.Equal(f.Time) {
		return fmt.Sprintf("%s by %s, confirmed %s", f.Writes, f.Observer, f.Time.Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("%s by %s", f.Writes, f.Observer)
}

// writings are every region's stretches of accepting writes, judged from
// its WriteFence events alone: an agent's role, its death or its freezing
// change nothing in its cluster, so only a confirmed refusal or the
// brokers' death end a stretch. A refusal whose request went out before
// the acceptance it follows was confirmed may have landed before it, and
// ends nothing. Before a region's first event nothing is known of it and
// nothing is judged.
func writings(h History) []writing {
	byRegion := map[string][]WriteFence{}
	for _, f := range h.Fences {
		byRegion[f.Region] = append(byRegion[f.Region], f)
	}
	var out []writing
	for _, region := range slices.Sorted(maps.Keys(byRegion)) {
		fs := byRegion[region]
		slices.SortStableFunc(fs, func(a, b WriteFence) int { return a.effect().Compare(b.effect()) })
		var (
			cur      *writing
			accepted bool
			alive    = true
			last     WriteFence // the acceptance in force
		)
		open := func(at time.Time, why string) {
			if cur == nil {
				cur = &writing{region: region, start: at, opened: why}
			}
		}
		shut := func(at time.Time, why string) {
			if cur != nil {
				cur.end, cur.closed = at, why
				out = append(out, *cur)
				cur = nil
			}
		}
		for _, f := range fs {
			switch f.Writes {
			case WritesAccepted:
				accepted, last = true, f
				if alive {
					open(f.requested(), describeFence(f))
				}
			case WritesRefused:
				if accepted && f.requested().Before(last.Time) {
					continue
				}
				accepted = false
				shut(f.Time, describeFence(f))
			case ClusterDown:
				alive = false
				shut(f.Time, "brokers killed")
			case ClusterUp:
				alive = true
				if accepted {
					open(f.Time, "brokers back with the fence open")
				}
			}
		}
		if cur != nil {
			out = append(out, *cur)
		}
	}
	return out
}

func (w writing) overlaps(o writing) bool {
	return (w.end.IsZero() || o.start.Before(w.end)) && (o.end.IsZero() || w.start.Before(o.end))
}

// doubleWriters finds every two regions whose clusters accepted writes
// at the same time. Only an active-passive mesh promises one writer; its
// tests record WriteFence events, others do not.
func doubleWriters(h History) []Finding {
	ws := writings(h)
	slices.SortFunc(ws, func(a, b writing) int { return cmp.Or(a.start.Compare(b.start), cmp.Compare(a.region, b.region)) })
	var out []Finding
	for i, a := range ws {
		for _, b := range ws[i+1:] {
			if a.region == b.region || !a.overlaps(b) {
				continue
			}
			from := b.start // sorted by start: b starts last
			to := a.end
			if to.IsZero() || (!b.end.IsZero() && b.end.Before(to)) {
				to = b.end
			}
			span := "until the end of the history"
			if !to.IsZero() {
				span = "for " + to.Sub(from).String()
			}
			out = append(out, Finding{Kind: DoubleWriter, Epoch: epochAt(h, from),
				Detail: fmt.Sprintf("%s and %s both accepted writes from %s %s: %s; %s",
					a.region, b.region, from.Format(time.RFC3339Nano), span, a, b)})
		}
	}
	return out
}

// epochAt is the highest epoch any event recorded at or before t.
func epochAt(h History, t time.Time) uint64 {
	var e uint64
	for _, ev := range h.Epochs {
		if !ev.Time.After(t) {
			e = max(e, ev.Epoch)
		}
	}
	return e
}
