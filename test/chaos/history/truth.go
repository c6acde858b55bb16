package history

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Place is a topic in a region.
type Place struct {
	Region string
	Topic  string
}

func (p Place) String() string { return p.Region + " " + p.Topic }

// Mirror is a copy whose ground truth Check judges from the history's
// Logs: every record written in Source itself (a log record without an
// Origin) that Source committed must be in Target once, in the same
// partition and in Source's order, and Target may hold nothing that
// names Source as its origin and that Source did not commit.
type Mirror struct {
	Source, Target Place
	// Quarantine is the topic of Target's region where Source's stranded
	// records are settled (failover.stranded: quarantine, the topic
	// "<target topic>.stranded"). A record there counts as its one copy
	// in Target. Empty: Target holds no quarantine of Source's.
	Quarantine string
}

// truth is the history's logs, indexed for the ground-truth checks.
type truth struct {
	h        History
	opts     Options
	stranded map[string]bool
	aborted  map[string]bool

	logs       map[logKey]*Log
	byPlace    map[Place][]*Log
	where      map[string][]logRef // id → every log record of it
	logRegions map[string]bool
	produced   map[string]Produce
	unresolved map[string]bool
	acked      map[string]bool
}

type logKey struct {
	region, topic string
	partition     int32
}

func newTruth(h History, opts Options, stranded, aborted map[string]bool) *truth {
	t := &truth{h: h, opts: opts, stranded: stranded, aborted: aborted,
		logs: map[logKey]*Log{}, byPlace: map[Place][]*Log{}, where: map[string][]logRef{}, logRegions: map[string]bool{},
		produced: map[string]Produce{}, unresolved: map[string]bool{}, acked: map[string]bool{}}
	for i := range h.Logs {
		l := &h.Logs[i]
		t.logs[logKey{l.Region, l.Topic, l.Partition}] = l
		pl := Place{l.Region, l.Topic}
		t.byPlace[pl] = append(t.byPlace[pl], l)
		t.logRegions[l.Region] = true
		for _, r := range l.Records {
			t.where[r.ID] = append(t.where[r.ID], logRef{l, r})
		}
	}
	for _, ls := range t.byPlace {
		slices.SortFunc(ls, func(a, b *Log) int { return cmp.Compare(a.Partition, b.Partition) })
	}
	for _, p := range h.Produces {
		if q, ok := t.produced[p.ID]; !ok || (p.Acked && !q.Acked) {
			t.produced[p.ID] = p
		}
		if p.Acked {
			t.acked[p.ID] = true
		}
	}
	for _, u := range h.Unresolved {
		t.unresolved[u.ID] = true
	}
	return t
}

// belief is what the producers recorded about id, for a finding's detail.
func (t *truth) belief(id string) string {
	p, ok := t.produced[id]
	switch {
	case !ok:
		return "never produced"
	case t.aborted[id]:
		return "produced in " + p.Region + ", its transaction aborted"
	case t.unresolved[id]:
		return "produced in " + p.Region + ", its transaction's end failed"
	case t.acked[id]:
		return "produced in " + p.Region + ", acknowledged"
	}
	return "produced in " + p.Region + ", never acknowledged"
}

// certain reports whether region is one the history can judge a
// producer's records by: it has logs, or an observer saw it. A producer
// that could not tell where its records went (a client switching
// regions) records a region of its own, which is not certain.
func (t *truth) certain(region string) bool {
	if t.logRegions[region] {
		return true
	}
	for _, e := range t.h.Epochs {
		if e.Region == region {
			return true
		}
	}
	return false
}

// at is a position in a log, for details.
func at(l *Log, r LogRecord) position { return position{l.Region, l.Topic, l.Partition, r.Offset} }

// origin is the region that took id: the region of a log holding it
// without an origin, else the region its producer recorded if that one
// is certain. ok is false if neither tells.
func (t *truth) origin(id string) (region, why string, ok bool) {
	for _, w := range t.where[id] {
		if w.rec.Origin == "" {
			return w.log.Region, "written at " + w.String(), true
		}
	}
	if p, found := t.produced[id]; found && t.certain(p.Region) {
		return p.Region, "produced in " + p.Region, true
	}
	return "", "", false
}

// logRef is a record in its log.
type logRef struct {
	log *Log
	rec LogRecord
}

func (s logRef) String() string { return at(s.log, s.rec).String() }

// own returns the records written in place itself, by id, and the ids in
// log order (by partition, then offset).
func (t *truth) own(place Place) (map[string]logRef, []string) {
	recs := map[string]logRef{}
	var ids []string
	for _, l := range t.byPlace[place] {
		for _, r := range l.Records {
			if r.Origin != "" {
				continue
			}
			if _, dup := recs[r.ID]; !dup {
				ids = append(ids, r.ID)
				recs[r.ID] = logRef{l, r}
			}
		}
	}
	return recs, ids
}

// judged is every place a mirror names: sources, targets, quarantines.
func (t *truth) judged() []Place {
	var out []Place
	add := func(p Place) {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, m := range t.opts.Mirrors {
		add(m.Source)
		add(m.Target)
		if m.Quarantine != "" {
			add(Place{m.Target.Region, m.Quarantine})
		}
	}
	return out
}

func (t *truth) check() []Finding {
	var out []Finding
	if len(t.h.Logs) > 0 {
		out = append(out, t.reads()...)
	}
	out = append(out, t.foreignStranded()...)
	if len(t.opts.Mirrors) == 0 {
		return out
	}
	for _, pl := range t.judged() {
		out = append(out, t.written(pl)...)
	}
	var sources []Place
	for _, m := range t.opts.Mirrors {
		if !slices.Contains(sources, m.Source) {
			sources = append(sources, m.Source)
			out = append(out, t.acknowledged(m.Source)...)
		}
		out = append(out, t.mirror(m)...)
	}
	out = append(out, t.settled()...)
	return out
}

// written checks the records a judged place holds as written there (no
// origin): each was produced into that topic in that region (or by a
// producer of uncertain region), and was not aborted.
func (t *truth) written(pl Place) []Finding {
	var out []Finding
	for _, l := range t.byPlace[pl] {
		seen := map[string]int64{}
		for _, r := range l.Records {
			if r.Origin != "" {
				continue
			}
			where := at(l, r)
			p, ok := t.produced[r.ID]
			switch {
			case !ok || p.Topic != l.Topic || (p.Region != l.Region && t.certain(p.Region)):
				out = append(out, Finding{Kind: Phantom, ID: r.ID,
					Detail: fmt.Sprintf("written at %s with no origin, never produced there (%s)", where, t.belief(r.ID))})
			case t.aborted[r.ID]:
				out = append(out, Finding{Kind: Phantom, ID: r.ID,
					Detail: fmt.Sprintf("committed at %s, but its transaction aborted", where)})
			}
			if first, dup := seen[r.ID]; dup && t.opts.ExactlyOnce {
				out = append(out, Finding{Kind: Duplicate, ID: r.ID,
					Detail: fmt.Sprintf("written twice in %s[%d]: at %d and %d", l.Topic, l.Partition, first, r.Offset)})
			} else if !dup {
				seen[r.ID] = r.Offset
			}
		}
	}
	return out
}

// acknowledged checks that the source's log holds every record its
// producer saw acknowledged there, where the log still reaches.
func (t *truth) acknowledged(src Place) []Finding {
	recs, _ := t.own(src)
	var out []Finding
	for _, p := range t.h.Produces {
		if !p.Acked || p.Region != src.Region || p.Topic != src.Topic {
			continue
		}
		l := t.logs[logKey{p.Region, p.Topic, p.Partition}]
		if l == nil || p.Offset < l.Start {
			continue
		}
		if _, ok := recs[p.ID]; !ok {
			out = append(out, Finding{Kind: Lost, ID: p.ID,
				Detail: fmt.Sprintf("acknowledged at %s, not in the committed log of %s[%d] (offsets %d-%d)",
					position{p.Region, p.Topic, p.Partition, p.Offset}, p.Topic, p.Partition, l.Start, l.End)})
		}
	}
	return out
}

// mirror judges one copy: each committed source record in the target
// once, in its partition and in order; nothing in the target that names
// the source as its origin unless the source committed it; no copy in
// another topic of the target region.
func (t *truth) mirror(m Mirror) []Finding {
	recs, ids := t.own(m.Source)
	var out []Finding
	copies := map[string][]position{} // in Target's topic or its quarantine
	elsewhere := map[string][]position{}
	for _, l := range t.h.Logs {
		if l.Region != m.Target.Region {
			continue
		}
		mirrored := l.Topic == m.Target.Topic || (m.Quarantine != "" && l.Topic == m.Quarantine)
		for _, r := range l.Records {
			pos := at(&l, r)
			_, ok := recs[r.ID]
			switch {
			case ok && mirrored:
				copies[r.ID] = append(copies[r.ID], pos)
			case ok:
				elsewhere[r.ID] = append(elsewhere[r.ID], pos)
			case mirrored && r.Origin == m.Source.Region:
				out = append(out, Finding{Kind: Phantom, ID: r.ID,
					Detail: fmt.Sprintf("copy at %s from %s, which never committed it (%s)", pos, m.Source, t.belief(r.ID))})
			}
		}
	}
	for _, id := range ids {
		s := recs[id]
		cs := copies[id]
		var wrong []position
		for _, c := range cs {
			if c.partition != s.log.Partition {
				wrong = append(wrong, c)
			}
		}
		if len(wrong) > 0 {
			out = append(out, Finding{Kind: Misplaced, ID: id,
				Detail: fmt.Sprintf("committed at %s, copied into another partition: %v", s, wrong)})
		}
		if es := elsewhere[id]; len(es) > 0 {
			out = append(out, Finding{Kind: WrongTopic, ID: id,
				Detail: fmt.Sprintf("committed at %s, copied outside %s: %v", s, m.Target, es)})
		}
		switch {
		case len(cs) == 0 && len(elsewhere[id]) == 0 && !t.stranded[id]:
			out = append(out, Finding{Kind: Lost, ID: id,
				Detail: fmt.Sprintf("committed at %s, not in %s%s", s, m.Target, quarantineOf(m))})
		case len(cs) > 1 && t.opts.ExactlyOnce:
			out = append(out, Finding{Kind: Duplicate, ID: id,
				Detail: fmt.Sprintf("committed at %s, in %s%s %d times: %v", s, m.Target, quarantineOf(m), len(cs), cs)})
		}
	}
	out = append(out, t.order(m, recs)...)
	return out
}

func quarantineOf(m Mirror) string {
	if m.Quarantine == "" {
		return ""
	}
	return " or " + m.Quarantine
}

// order checks that each partition of the target holds the first copies
// of its source partition's records in the source's order.
func (t *truth) order(m Mirror, recs map[string]logRef) []Finding {
	var out []Finding
	for _, l := range t.byPlace[m.Target] {
		seen := map[string]bool{}
		var prev *logRef
		var prevAt position
		for _, r := range l.Records {
			s, ok := recs[r.ID]
			if !ok || seen[r.ID] || s.log.Partition != l.Partition {
				continue
			}
			seen[r.ID] = true
			if prev != nil && s.rec.Offset < prev.rec.Offset {
				out = append(out, Finding{Kind: Reorder, ID: r.ID,
					Detail: fmt.Sprintf("from %s copied at %s, after %s from %s copied at %s",
						s, at(l, r), prev.rec.ID, prev, prevAt)})
			}
			prev, prevAt = &s, at(l, r)
		}
	}
	return out
}

// settled checks that every record reported stranded from a region whose
// mirrors quarantine is in one of those quarantines or copied, and in at
// most one quarantine.
func (t *truth) settled() []Finding {
	var out []Finding
	done := map[string]bool{}
	for _, s := range t.h.Stranded {
		if done[s.ID] {
			continue
		}
		done[s.ID] = true
		var places, targets []Place
		for _, m := range t.opts.Mirrors {
			if m.Source.Region != s.Region {
				continue
			}
			targets = append(targets, m.Target)
			// Only a quarantine that was read can be judged.
			if q := (Place{m.Target.Region, m.Quarantine}); m.Quarantine != "" && len(t.byPlace[q]) > 0 {
				places = append(places, q)
			}
		}
		if len(places) == 0 {
			continue
		}
		var in []Place
		for _, pl := range places {
			if !slices.Contains(in, pl) && t.holds(pl, s.ID) {
				in = append(in, pl)
			}
		}
		switch {
		case len(in) > 1 && t.opts.ExactlyOnce:
			out = append(out, Finding{Kind: Duplicate, ID: s.ID,
				Detail: fmt.Sprintf("reported stranded in %s, quarantined in %v", s.Region, in)})
		case len(in) == 0 && !slices.ContainsFunc(targets, func(p Place) bool { return t.holds(p, s.ID) }):
			out = append(out, Finding{Kind: Lost, ID: s.ID,
				Detail: fmt.Sprintf("reported stranded in %s, settled in none of %v and copied to none of %v", s.Region, places, targets)})
		}
	}
	return out
}

func (t *truth) holds(pl Place, id string) bool {
	return slices.ContainsFunc(t.where[id], func(w logRef) bool { return w.log.Region == pl.Region && w.log.Topic == pl.Topic })
}

// foreignStranded checks that each record reported stranded in a region
// was taken by that region.
func (t *truth) foreignStranded() []Finding {
	var out []Finding
	for _, s := range t.h.Stranded {
		region, why, ok := t.origin(s.ID)
		switch {
		case !ok && t.produced[s.ID].ID == "":
			out = append(out, Finding{Kind: ForeignStranded, ID: s.ID,
				Detail: fmt.Sprintf("reported stranded in %s, taken by no region: in no log, never produced", s.Region)})
		case ok && region != s.Region:
			out = append(out, Finding{Kind: ForeignStranded, ID: s.ID,
				Detail: fmt.Sprintf("reported stranded in %s, taken in %s (%s)", s.Region, region, why)})
		}
	}
	return out
}

// reads judges what consumers read with read_committed against the logs:
// a read where the final log holds another record or none, and a read
// of a record its producer's log shows was never committed.
func (t *truth) reads() []Finding {
	var out []Finding
	never := map[string]bool{}
	for _, c := range t.h.Consumes {
		if !c.ReadCommitted {
			continue
		}
		pos := position{c.Region, c.Topic, c.Partition, c.Offset}
		if l := t.logs[logKey{c.Region, c.Topic, c.Partition}]; l != nil && c.Offset >= l.Start && c.Offset < l.End {
			i := sort.Search(len(l.Records), func(i int) bool { return l.Records[i].Offset >= c.Offset })
			switch {
			case i == len(l.Records) || l.Records[i].Offset != c.Offset:
				out = append(out, Finding{Kind: Misread, ID: c.ID,
					Detail: fmt.Sprintf("read at %s, where the final log holds no committed record", pos)})
			case l.Records[i].ID != c.ID:
				out = append(out, Finding{Kind: Misread, ID: c.ID,
					Detail: fmt.Sprintf("read at %s, where the final log holds %s", pos, l.Records[i].ID)})
			}
		}
		if t.aborted[c.ID] || never[c.ID] {
			continue // an aborted-read of its own, or reported already
		}
		if why, ok := t.uncommitted(c.ID); ok {
			never[c.ID] = true
			out = append(out, Finding{Kind: AbortedRead, ID: c.ID,
				Detail: fmt.Sprintf("read with read_committed at %s, never committed: %s", pos, why)})
		}
	}
	return out
}

// uncommitted reports whether the log its producer wrote to shows that
// id, never acknowledged, was never committed: the log reaches back to
// where id was written and holds it nowhere. (An acknowledged record
// missing there is lost, a finding of its own.)
func (t *truth) uncommitted(id string) (string, bool) {
	p, ok := t.produced[id]
	if !ok || t.acked[id] {
		return "", false
	}
	ls := t.byPlace[Place{p.Region, p.Topic}]
	if len(ls) == 0 {
		return "", false
	}
	if t.holds(Place{p.Region, p.Topic}, id) {
		return "", false
	}
	var covered bool
	var parts []string
	for _, l := range ls {
		if l.Partition == p.Partition {
			covered = l.Start == 0
		}
		parts = append(parts, fmt.Sprint(l.Partition))
	}
	if !covered {
		return "", false
	}
	return fmt.Sprintf("%s; not in the committed log of %s partitions %s", t.belief(id), Place{p.Region, p.Topic}, strings.Join(parts, ",")), true
}
