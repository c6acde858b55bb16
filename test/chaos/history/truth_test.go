package history

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// copyAt is a copy in some region's orders log: logs[i].Records[j].
type copyAt struct{ i, j int }

// copiesIn lists the copies (records with an origin) in the orders logs.
func copiesIn(h History) []copyAt {
	var out []copyAt
	for i, l := range h.Logs {
		if l.Topic != "orders" {
			continue
		}
		for j, r := range l.Records {
			if r.Origin != "" {
				out = append(out, copyAt{i, j})
			}
		}
	}
	return out
}

// logOf returns the index of the log of region, topic, partition, adding
// an empty one if there is none.
func logOf(h *History, region, topic string, partition int32) int {
	for i, l := range h.Logs {
		if l.Region == region && l.Topic == topic && l.Partition == partition {
			return i
		}
	}
	h.Logs = append(h.Logs, Log{Region: region, Topic: topic, Partition: partition, Records: []LogRecord{}})
	return len(h.Logs) - 1
}

// appendTo puts r at the end of logs[i] and returns where it went.
func appendTo(h *History, i int, r LogRecord) position {
	l := &h.Logs[i]
	r.Offset = l.End
	l.Records = append(l.Records, r)
	l.End++
	return position{l.Region, l.Topic, l.Partition, r.Offset}
}

// move takes a copy out of its log, puts it at the end of logs[to], and
// moves the consumers' reads of it along.
func move(h *History, c copyAt, to int) string {
	from := h.Logs[c.i]
	r := from.Records[c.j]
	h.Logs[c.i].Records = slices.Delete(slices.Clone(from.Records), c.j, c.j+1)
	dst := appendTo(h, to, r)
	for k, rd := range h.Consumes {
		if rd.Region == from.Region && rd.Topic == from.Topic && rd.Partition == from.Partition && rd.Offset == r.Offset {
			h.Consumes[k].Topic, h.Consumes[k].Partition, h.Consumes[k].Offset = dst.topic, dst.partition, dst.offset
		}
	}
	return r.ID
}

func otherRegion(rng *rand.Rand, not string) string {
	return pick(rng, slices.DeleteFunc(slices.Clone(regions), func(s string) bool { return s == not }))
}

// plantPhantom puts on a target a record its source never committed:
// either one nobody produced, which the consumer there reads, or a late
// copy of an aborted record, after the consumer stopped.
func plantPhantom(r *run, rng *rand.Rand) []Finding {
	if len(r.h.Aborts) > 0 && rng.IntN(2) == 0 {
		a := pick(rng, r.h.Aborts)
		var part int32
		for _, p := range r.h.Produces {
			if p.ID == a.ID {
				part = p.Partition
			}
		}
		appendTo(&r.h, logOf(&r.h, otherRegion(rng, a.Region), "orders", part), LogRecord{ID: a.ID, Origin: a.Region})
		return []Finding{{Kind: Phantom, ID: a.ID}}
	}
	src := pick(rng, regions)
	dst := otherRegion(rng, src)
	at := appendTo(&r.h, logOf(&r.h, dst, "orders", int32(rng.IntN(partitions))), LogRecord{ID: "phantom", Origin: src})
	r.h.Consumes = append(r.h.Consumes, Consume{Region: at.region, Topic: at.topic, Partition: at.partition, Offset: at.offset, ID: "phantom", ReadCommitted: true})
	return []Finding{{Kind: Phantom, ID: "phantom"}}
}

// plantMisplaced moves a copy into another partition of its topic, where
// the consumer reads it.
func plantMisplaced(r *run, rng *rand.Rand) []Finding {
	c := pick(rng, copiesIn(r.h))
	l := r.h.Logs[c.i]
	to := (l.Partition + 1 + int32(rng.IntN(partitions-1))) % partitions
	return []Finding{{Kind: Misplaced, ID: move(&r.h, c, logOf(&r.h, l.Region, "orders", to))}}
}

// plantWrongTopic moves a copy into another topic of its region, where
// the consumer reads it.
func plantWrongTopic(r *run, rng *rand.Rand) []Finding {
	c := pick(rng, copiesIn(r.h))
	l := r.h.Logs[c.i]
	return []Finding{{Kind: WrongTopic, ID: move(&r.h, c, logOf(&r.h, l.Region, "orders.misrouted", l.Partition))}}
}

// plantLateDuplicate copies a record a second time at the end of its
// partition, after the consumer stopped.
func plantLateDuplicate(r *run, rng *rand.Rand) []Finding {
	c := pick(rng, copiesIn(r.h))
	rec := r.h.Logs[c.i].Records[c.j]
	appendTo(&r.h, c.i, rec)
	return []Finding{{Kind: Duplicate, ID: rec.ID}}
}

// plantUnresolvedRead copies a record whose transaction's end failed and
// that its source never committed, and the consumer reads the copy.
func plantUnresolvedRead(r *run, rng *rand.Rand) []Finding {
	committed := map[string]bool{}
	for _, l := range r.h.Logs {
		for _, rec := range l.Records {
			committed[rec.ID] = true
		}
	}
	var ps []Produce
	for _, u := range r.h.Unresolved {
		for _, p := range r.h.Produces {
			if p.ID == u.ID && !committed[p.ID] {
				ps = append(ps, p)
			}
		}
	}
	if len(ps) == 0 {
		// Seeds without one get one.
		p := Produce{Region: r.primary[0], Topic: "orders", Partition: int32(rng.IntN(partitions)), Offset: -1, ID: "unresolved"}
		r.h.Produces = append(r.h.Produces, p)
		r.h.Unresolved = append(r.h.Unresolved, Unresolved{Region: p.Region, ID: p.ID})
		ps = append(ps, p)
	}
	p := pick(rng, ps)
	at := appendTo(&r.h, logOf(&r.h, otherRegion(rng, p.Region), "orders", p.Partition), LogRecord{ID: p.ID, Origin: p.Region})
	r.h.Consumes = append(r.h.Consumes, Consume{Region: at.region, Topic: at.topic, Partition: at.partition, Offset: at.offset, ID: p.ID, ReadCommitted: true})
	return []Finding{{Kind: AbortedRead, ID: p.ID}, {Kind: Phantom, ID: p.ID}}
}

// plantForeignStranded has a region other than the one that took a
// record report it stranded.
func plantForeignStranded(r *run, rng *rand.Rand) []Finding {
	if len(r.h.Stranded) > 0 {
		i := rng.IntN(len(r.h.Stranded))
		r.h.Stranded[i].Region = otherRegion(rng, r.h.Stranded[i].Region)
		return []Finding{{Kind: ForeignStranded, ID: r.h.Stranded[i].ID}}
	}
	// Seeds without a stranded record: one that was copied everywhere.
	var ps []Produce
	for _, p := range r.h.Produces {
		if p.Acked {
			ps = append(ps, p)
		}
	}
	p := pick(rng, ps)
	r.h.Stranded = append(r.h.Stranded, Stranded{Region: otherRegion(rng, p.Region), ID: p.ID})
	return []Finding{{Kind: ForeignStranded, ID: p.ID}}
}

// TestPlantedHoles plants each violation that only the ground truth
// shows (the consumers' reads alone look fine, or lack it) and wants
// exactly its findings.
func TestPlantedHoles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(*run, *rand.Rand) []Finding
	}{
		{"phantom", plantPhantom},
		{"wrong partition", plantMisplaced},
		{"wrong topic", plantWrongTopic},
		{"late duplicate", plantLateDuplicate},
		{"read of an unresolved transaction", plantUnresolvedRead},
		{"stranded from another region", plantForeignStranded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(50) {
				r := generate(seed)
				want := tc.plant(&r, rand.New(rand.NewPCG(seed, 2)))
				got := Check(r.h, all)
				if !slices.Equal(kinds(want), kinds(got)) {
					t.Fatalf("seed %d: findings %v, want %v:\n%s", seed, kinds(got), kinds(want), join(got))
				}
			}
		})
	}
}

// kinds is the distinct kind and record of each finding, sorted.
func kinds(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		k := fmt.Sprintf("%s %s", f.Kind, f.ID)
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func TestTruthCases(t *testing.T) {
	mirror := []Mirror{{Source: Place{"a", "t"}, Target: Place{"b", "t"}, Quarantine: "t.stranded"}}
	prod := func(id string, off int64) Produce {
		return Produce{Region: "a", Topic: "t", Offset: off, ID: id, Acked: true}
	}
	log := func(region, topic string, recs ...LogRecord) Log {
		end := int64(0)
		if len(recs) > 0 {
			end = recs[len(recs)-1].Offset + 1
		}
		return Log{Region: region, Topic: topic, End: end, Records: recs}
	}
	own := func(id string, off int64) LogRecord { return LogRecord{Offset: off, ID: id} }
	cp := func(id string, off int64) LogRecord { return LogRecord{Offset: off, ID: id, Origin: "a"} }
	read := func(region, id string, off int64) Consume {
		return Consume{Region: region, Topic: "t", Offset: off, ID: id, ReadCommitted: true}
	}
	for _, tc := range []struct {
		name string
		h    History
		opts Options
		want []string
	}{{
		name: "a faithful copy passes",
		h: History{Produces: []Produce{prod("x", 0), prod("y", 2)},
			Consumes: []Consume{read("b", "x", 0), read("b", "y", 1)},
			Logs:     []Log{log("a", "t", own("x", 0), own("y", 2)), log("b", "t", cp("x", 0), cp("y", 1))}},
		opts: Options{ExactlyOnce: true, Regions: []string{"b"}, Mirrors: mirror},
	}, {
		name: "copies out of the source's order",
		h: History{Produces: []Produce{prod("x", 0), prod("y", 1)}, Consumes: []Consume{read("b", "x", 1), read("b", "y", 0)},
			Logs: []Log{log("a", "t", own("x", 0), own("y", 1)), log("b", "t", cp("y", 0), cp("x", 1))}},
		opts: Options{Mirrors: mirror},
		want: []string{
			"reorder: record x: from a t[0]@0 copied at b t[0]@1, after y from a t[0]@1 copied at b t[0]@0",
			"reorder: record x: from a t[0]@0 read at b t[0]@1, after y from a t[0]@1 read at b t[0]@0",
		},
	}, {
		name: "an acknowledged record missing from its source's log",
		h: History{Produces: []Produce{prod("x", 0)}, Consumes: []Consume{read("b", "x", 0)},
			Logs: []Log{log("a", "t"), log("b", "t", cp("x", 0))}},
		opts: Options{Mirrors: mirror},
		want: []string{
			"lost: record x: acknowledged at a t[0]@0, not in the committed log of t[0] (offsets 0-0)",
			"phantom: record x: copy at b t[0]@0 from a t, which never committed it (produced in a, acknowledged)",
		},
	}, {
		name: "a committed record whose acknowledgement was lost must be copied and read",
		h: History{Produces: []Produce{{Region: "a", Topic: "t", ID: "x"}},
			Logs: []Log{log("a", "t", own("x", 0)), log("b", "t")}},
		opts: Options{Regions: []string{"b"}, Mirrors: mirror},
		want: []string{
			"lost: record x: committed at a t[0]@0 (produced in a, never acknowledged), not read in [b]",
			"lost: record x: committed at a t[0]@0, not in b t or t.stranded",
		},
	}, {
		name: "a record the target took itself must have been produced there",
		h: History{Produces: []Produce{prod("x", 0)}, Consumes: []Consume{read("b", "x", 0)},
			Logs: []Log{log("a", "t", own("x", 0)), log("b", "t", cp("x", 0), own("x", 1))}},
		opts: Options{Mirrors: mirror},
		want: []string{"phantom: record x: written at b t[0]@1 with no origin, never produced there (produced in a, acknowledged)"},
	}, {
		name: "a producer that could not tell its region may have written anywhere",
		h: History{Produces: []Produce{{Region: "switching-1", Topic: "t", ID: "w", Acked: true}},
			Consumes: []Consume{read("b", "w", 0)},
			Logs:     []Log{log("a", "t"), log("b", "t", own("w", 0))}},
		opts: Options{ExactlyOnce: true, Mirrors: mirror},
	}, {
		name: "a committed record whose transaction aborted",
		h: History{Produces: []Produce{{Region: "a", Topic: "t", ID: "x"}}, Aborts: []Abort{{Region: "a", ID: "x"}},
			Logs: []Log{log("a", "t", own("x", 0)), log("b", "t", cp("x", 0))}},
		opts: Options{Mirrors: mirror},
		want: []string{"phantom: record x: committed at a t[0]@0, but its transaction aborted"},
	}, {
		name: "a stranded record quarantined once passes",
		h: History{Produces: []Produce{prod("x", 0)}, Stranded: []Stranded{{Region: "a", ID: "x"}},
			Logs: []Log{log("a", "t", own("x", 0)), log("b", "t"), log("b", "t.stranded", cp("x", 0))}},
		opts: Options{ExactlyOnce: true, Mirrors: mirror},
	}, {
		name: "a stranded record also copied is a duplicate",
		h: History{Produces: []Produce{prod("x", 0)}, Stranded: []Stranded{{Region: "a", ID: "x"}},
			Logs: []Log{log("a", "t", own("x", 0)), log("b", "t", cp("x", 0)), log("b", "t.stranded", cp("x", 0))}},
		opts: Options{ExactlyOnce: true, Mirrors: mirror},
		want: []string{"duplicate: record x: committed at a t[0]@0, in b t or t.stranded 2 times: [b t[0]@0 b t.stranded[0]@0]"},
	}, {
		name: "a stranded record settled nowhere is lost",
		h: History{Produces: []Produce{prod("x", 0)}, Stranded: []Stranded{{Region: "a", ID: "x"}},
			Logs: []Log{log("a", "t", own("x", 0)), log("b", "t"), log("b", "t.stranded")}},
		opts: Options{Mirrors: mirror},
		want: []string{"lost: record x: reported stranded in a, settled in none of [b t.stranded] and copied to none of [b t]"},
	}, {
		name: "a stranded record that was never taken",
		h:    History{Stranded: []Stranded{{Region: "a", ID: "x"}}},
		want: []string{"foreign-stranded: record x: reported stranded in a, taken by no region: in no log, never produced"},
	}, {
		name: "a read the final log contradicts",
		h: History{Produces: []Produce{prod("x", 1), prod("y", 0)},
			Consumes: []Consume{read("b", "y", 0), read("b", "x", 2)},
			Logs:     []Log{{Region: "b", Topic: "t", Start: 0, End: 3, Records: []LogRecord{cp("x", 0), cp("y", 1)}}}},
		want: []string{
			"misread: record x: read at b t[0]@2, where the final log holds no committed record",
			"misread: record y: read at b t[0]@0, where the final log holds x",
		},
	}, {
		name: "a read below the log start is not judged",
		h: History{Produces: []Produce{prod("x", 0)}, Consumes: []Consume{read("b", "x", 0)},
			Logs: []Log{{Region: "b", Topic: "t", Start: 4, End: 4, Records: []LogRecord{}}}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range Check(tc.h, tc.opts) {
				got = append(got, f.String())
			}
			if !slices.Equal(tc.want, got) {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
