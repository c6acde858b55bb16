package history

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Options says which guarantees a run expects.
type Options struct {
	// ExactlyOnce turns on the duplicate check: the run's flows copy
	// exactly once, so no region may hold a record twice. Off (the
	// default) for at-least-once runs.
	ExactlyOnce bool

	// Regions, when set, must each read every acknowledged record that
	// was not reported stranded. Default (empty): reading a record in any
	// region is enough.
	Regions []string

	// ReadOnce turns on the read-twice check: the history's consumers
	// are one application, which must read each record once in all, in
	// whichever region, as an application that follows the mesh does.
	// Off (the default) when each region's consumer reads on its own.
	ReadOnce bool

	// Mirrors are the copies judged on the history's Logs, the ground
	// truth: what each source committed against what each target holds.
	// With them, a record a mirror's source committed must be read like
	// an acknowledged one, whatever its producer saw. Default: none, the
	// logs only check what consumers read.
	Mirrors []Mirror
}

// Kind classifies a Finding.
type Kind string

// The kinds of Finding; the package doc says what each means.
const (
	Lost               Kind = "lost"
	Duplicate          Kind = "duplicate"
	Reorder            Kind = "reorder"
	AbortedRead        Kind = "aborted-read"
	DoublePrimary      Kind = "double-primary"
	OverlappingPrimary Kind = "overlapping-primary"
	Phantom            Kind = "phantom"
	Misplaced          Kind = "misplaced"
	WrongTopic         Kind = "wrong-topic"
	Misread            Kind = "misread"
	ForeignStranded    Kind = "foreign-stranded"
	ReadTwice          Kind = "read-twice"
)

// Finding is one violation.
type Finding struct {
	Kind Kind
	// ID is the record the finding is about, for record kinds.
	ID string
	// Epoch is the epoch the finding is about, for primary kinds.
	Epoch uint64
	// Detail says what was seen: regions, positions, times.
	Detail string
}

func (f Finding) String() string {
	if f.ID != "" {
		return fmt.Sprintf("%s: record %s: %s", f.Kind, f.ID, f.Detail)
	}
	return fmt.Sprintf("%s: epoch %d: %s", f.Kind, f.Epoch, f.Detail)
}

// Check verifies h and returns every violation, sorted by kind, then
// record id or epoch. A valid history gives none.
func Check(h History, opts Options) []Finding {
	aborted := map[string]bool{}
	for _, a := range h.Aborts {
		aborted[a.ID] = true
	}
	stranded := map[string]bool{}
	for _, s := range h.Stranded {
		stranded[s.ID] = true
	}
	t := newTruth(h, opts, stranded, aborted)
	var out []Finding
	out = append(out, lost(t)...)
	if opts.ExactlyOnce {
		out = append(out, duplicates(h)...)
	}
	if opts.ReadOnce {
		out = append(out, readTwice(h)...)
	}
	out = append(out, reorders(h, aborted)...)
	out = append(out, abortedReads(h, aborted)...)
	out = append(out, primaries(h)...)
	out = append(out, t.check()...)
	out = append(out, doubleWriters(h)...)
	slices.SortStableFunc(out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID),
			cmp.Compare(a.Epoch, b.Epoch), cmp.Compare(a.Detail, b.Detail))
	})
	return out
}

type position struct {
	region    string
	topic     string
	partition int32
	offset    int64
}

func (p position) String() string {
	return fmt.Sprintf("%s %s[%d]@%d", p.region, p.topic, p.partition, p.offset)
}

// lost checks that every record that must be read was: each
// acknowledged one, and with mirrors each one a mirror's source
// committed, unless it was reported stranded.
func lost(t *truth) []Finding {
	h, opts := t.h, t.opts
	readIn := map[string]map[string]bool{} // id → regions that read it
	for _, c := range h.Consumes {
		if readIn[c.ID] == nil {
			readIn[c.ID] = map[string]bool{}
		}
		readIn[c.ID][c.Region] = true
	}
	type must struct {
		id, why string
	}
	var musts []must
	seen := map[string]bool{}
	for _, p := range h.Produces {
		if !p.Acked || t.stranded[p.ID] || seen[p.ID] {
			continue
		}
		seen[p.ID] = true
		musts = append(musts, must{p.ID, fmt.Sprintf("acknowledged at %s", position{p.Region, p.Topic, p.Partition, p.Offset})})
	}
	for _, m := range opts.Mirrors {
		recs, ids := t.own(m.Source)
		for _, id := range ids {
			// A record nobody produced or that was aborted is a phantom of
			// the source, not a record to read.
			if _, ok := t.produced[id]; !ok || t.aborted[id] || t.stranded[id] || seen[id] {
				continue
			}
			seen[id] = true
			musts = append(musts, must{id, fmt.Sprintf("committed at %s (%s)", recs[id], t.belief(id))})
		}
	}
	var out []Finding
	for _, m := range musts {
		if len(opts.Regions) == 0 {
			if len(readIn[m.id]) == 0 {
				out = append(out, Finding{Kind: Lost, ID: m.id, Detail: m.why + ", read in no region"})
			}
			continue
		}
		var missing []string
		for _, r := range opts.Regions {
			if !readIn[m.id][r] {
				missing = append(missing, r)
			}
		}
		if len(missing) > 0 {
			out = append(out, Finding{Kind: Lost, ID: m.id, Detail: fmt.Sprintf("%s, not read in %v", m.why, missing)})
		}
	}
	return out
}

func duplicates(h History) []Finding {
	type key struct{ region, id string }
	at := map[key][]position{}
	for _, c := range h.Consumes {
		k := key{c.Region, c.ID}
		p := position{c.Region, c.Topic, c.Partition, c.Offset}
		if !slices.Contains(at[k], p) {
			at[k] = append(at[k], p)
		}
	}
	var out []Finding
	for k, ps := range at {
		if len(ps) < 2 {
			continue
		}
		slices.SortFunc(ps, comparePositions)
		out = append(out, Finding{Kind: Duplicate, ID: k.id,
			Detail: fmt.Sprintf("read in %s at %d positions: %v", k.region, len(ps), ps)})
	}
	return out
}

// readTwice finds the records read more than once, at one position or
// at several, in one region or in several.
func readTwice(h History) []Finding {
	at := map[string][]position{}
	for _, c := range h.Consumes {
		at[c.ID] = append(at[c.ID], position{c.Region, c.Topic, c.Partition, c.Offset})
	}
	var out []Finding
	for id, ps := range at {
		if len(ps) < 2 {
			continue
		}
		slices.SortFunc(ps, comparePositions)
		out = append(out, Finding{Kind: ReadTwice, ID: id, Detail: fmt.Sprintf("read %d times: %v", len(ps), ps)})
	}
	return out
}

func comparePositions(a, b position) int {
	return cmp.Or(cmp.Compare(a.region, b.region), cmp.Compare(a.topic, b.topic),
		cmp.Compare(a.partition, b.partition), cmp.Compare(a.offset, b.offset))
}

func reorders(h History, aborted map[string]bool) []Finding {
	source := map[string]position{}
	for _, p := range h.Produces {
		if p.Acked {
			source[p.ID] = position{p.Region, p.Topic, p.Partition, p.Offset}
		}
	}
	type part struct {
		region, topic string
		partition     int32
	}
	byPart := map[part][]Consume{}
	for _, c := range h.Consumes {
		k := part{c.Region, c.Topic, c.Partition}
		byPart[k] = append(byPart[k], c)
	}
	var out []Finding
	for _, cs := range byPart {
		slices.SortStableFunc(cs, func(a, b Consume) int { return cmp.Compare(a.Offset, b.Offset) })
		type srcPart struct {
			region, topic string
			partition     int32
		}
		type last struct {
			id  string
			src position
			at  position
		}
		prev := map[srcPart]last{}
		first := map[string]bool{}
		for _, c := range cs {
			src, ok := source[c.ID]
			if !ok || aborted[c.ID] || first[c.ID] {
				continue
			}
			first[c.ID] = true
			at := position{c.Region, c.Topic, c.Partition, c.Offset}
			sp := srcPart{src.region, src.topic, src.partition}
			if p, ok := prev[sp]; ok && src.offset < p.src.offset {
				out = append(out, Finding{Kind: Reorder, ID: c.ID,
					Detail: fmt.Sprintf("from %s read at %s, after %s from %s read at %s",
						src, at, p.id, p.src, p.at)})
			}
			prev[sp] = last{c.ID, src, at}
		}
	}
	return out
}

func abortedReads(h History, aborted map[string]bool) []Finding {
	var out []Finding
	for _, c := range h.Consumes {
		if c.ReadCommitted && aborted[c.ID] {
			out = append(out, Finding{Kind: AbortedRead, ID: c.ID,
				Detail: fmt.Sprintf("aborted, read with read_committed at %s", position{c.Region, c.Topic, c.Partition, c.Offset})})
		}
	}
	return out
}

// tenure is a stretch of time in which a region acted as primary.
type tenure struct {
	region     string
	epoch      uint64
	start, end time.Time // end is zero while it lasts to the history's end
	observer   string
}

func (t tenure) overlaps(o tenure) bool {
	return (t.end.IsZero() || o.start.Before(t.end)) && (o.end.IsZero() || t.start.Before(o.end))
}

func (t tenure) String() string {
	end := "end of history"
	if !t.end.IsZero() {
		end = t.end.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%s primary at epoch %d from %s (seen by %s) to %s",
		t.region, t.epoch, t.start.Format(time.RFC3339Nano), t.observer, end)
}

func primaries(h History) []Finding {
	var out []Finding
	byEpoch := map[uint64][]string{}
	for _, e := range h.Epochs {
		if e.Role == RolePrimary && !slices.Contains(byEpoch[e.Epoch], e.Region) {
			byEpoch[e.Epoch] = append(byEpoch[e.Epoch], e.Region)
		}
	}
	for epoch, regions := range byEpoch {
		if len(regions) > 1 {
			slices.Sort(regions)
			out = append(out, Finding{Kind: DoublePrimary, Epoch: epoch,
				Detail: fmt.Sprintf("primary regions %v", regions)})
		}
	}

	// Each region's events in time order give its tenures as primary.
	byRegion := map[string][]Epoch{}
	for _, e := range h.Epochs {
		byRegion[e.Region] = append(byRegion[e.Region], e)
	}
	var tenures []tenure
	for _, es := range byRegion {
		slices.SortStableFunc(es, func(a, b Epoch) int { return a.Time.Compare(b.Time) })
		var cur *tenure
		for _, e := range es {
			switch {
			case cur == nil && e.Role == RolePrimary:
				cur = &tenure{region: e.Region, epoch: e.Epoch, start: e.Time, observer: e.Observer}
			case cur != nil && e.Role == RolePrimary && e.Epoch > cur.epoch:
				// Promoted again at a newer epoch: a new tenure starts.
				cur.end = e.Time
				tenures = append(tenures, *cur)
				cur = &tenure{region: e.Region, epoch: e.Epoch, start: e.Time, observer: e.Observer}
			case cur != nil && (e.Role != RolePrimary && e.Epoch >= cur.epoch):
				cur.end = e.Time
				tenures = append(tenures, *cur)
				cur = nil
			}
		}
		if cur != nil {
			tenures = append(tenures, *cur)
		}
	}
	slices.SortFunc(tenures, func(a, b tenure) int {
		return cmp.Or(a.start.Compare(b.start), cmp.Compare(a.region, b.region))
	})
	for i, a := range tenures {
		for _, b := range tenures[i+1:] {
			// One epoch with two primaries is a double-primary finding
			// already.
			if a.region == b.region || a.epoch == b.epoch || !a.overlaps(b) {
				continue
			}
			out = append(out, Finding{Kind: OverlappingPrimary, Epoch: max(a.epoch, b.epoch),
				Detail: fmt.Sprintf("%s overlaps %s", a, b)})
		}
	}
	return out
}
