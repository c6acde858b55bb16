package history

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var regions = []string{"us-east", "eu-west", "ap-south"}

const partitions = 3

// run is a generated active-passive run: the history and what the
// mutations below need to know about it.
type run struct {
	h        History
	primary  []string    // primary region of epoch i+1
	promoted []time.Time // when epoch i+1 began
}

// entry is one record in a region's partition log.
type entry struct {
	id      string
	aborted bool
	acked   bool
	origin  string // the region that took it, if this is a copy
}

// generate builds a valid history from seed: two to four epochs, each
// with a new primary that takes writes (some unacknowledged, some in
// aborted transactions, some in transactions whose end failed, committed
// or not) that are copied in order to every other region, except the
// last few of an epoch before a failover, which are stranded and
// quarantined in orders.stranded on the next primary; every region reads
// its whole log, sometimes twice over a position; and the logs of every
// region are the history's ground truth.
func generate(seed uint64) run {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tick := func() time.Time { t = t.Add(time.Duration(1+rng.IntN(50)) * time.Millisecond); return t }
	logs := map[string][][]entry{}
	quarantine := map[string][][]entry{}
	for _, r := range regions {
		logs[r] = make([][]entry, partitions)
	}
	var out run
	var stranded [][]entry // by partition, of the last epoch's primary
	next := 0
	epochs := 2 + rng.IntN(3)
	for e := 1; e <= epochs; e++ {
		p := regions[rng.IntN(len(regions))]
		for e > 1 && p == out.primary[e-2] {
			p = regions[rng.IntN(len(regions))]
		}
		if e > 1 {
			old := out.primary[e-2]
			out.h.Epochs = append(out.h.Epochs, Epoch{Time: tick(), Epoch: uint64(e - 1), Region: old, Role: RoleFenced, Observer: old})
			if quarantine[p] == nil {
				quarantine[p] = make([][]entry, partitions)
			}
			for part, es := range stranded {
				for _, en := range es {
					quarantine[p][part] = append(quarantine[p][part], entry{id: en.id, origin: old})
				}
			}
		}
		stranded = make([][]entry, partitions)
		promoted := tick()
		out.primary = append(out.primary, p)
		out.promoted = append(out.promoted, promoted)
		for _, r := range regions {
			role := RoleStandby
			if r == p {
				role = RolePrimary
			}
			out.h.Epochs = append(out.h.Epochs, Epoch{Time: promoted, Epoch: uint64(e), Region: r, Role: role, Observer: r})
		}
		n := 10 + rng.IntN(30)
		strandedFrom := n
		if e < epochs {
			strandedFrom -= rng.IntN(3)
		}
		for i := range n {
			next++
			id := fmt.Sprintf("r%04d", next)
			part := int32(rng.IntN(partitions))
			en := entry{id: id, acked: true}
			switch x := rng.IntN(20); {
			case x == 0:
				en = entry{id: id, aborted: true}
				out.h.Aborts = append(out.h.Aborts, Abort{Time: tick(), Region: p, ID: id})
			case x == 1:
				// Sent, never acknowledged, never written.
				out.h.Produces = append(out.h.Produces, Produce{Time: tick(), Region: p, Topic: "orders", Partition: part, Offset: -1, ID: id})
				continue
			case x == 2:
				// Written, but the acknowledgement was lost.
				en.acked = false
			case x == 3:
				// The transaction's end failed: committed or not.
				en = entry{id: id, aborted: rng.IntN(2) == 0}
				out.h.Unresolved = append(out.h.Unresolved, Unresolved{Time: tick(), Region: p, ID: id})
			}
			off := int64(len(logs[p][part]))
			logs[p][part] = append(logs[p][part], en)
			out.h.Produces = append(out.h.Produces, Produce{Time: tick(), Region: p, Topic: "orders", Partition: part, Offset: off, ID: id, Acked: en.acked})
			if en.aborted {
				continue
			}
			if i >= strandedFrom {
				stranded[part] = append(stranded[part], en)
				out.h.Stranded = append(out.h.Stranded, Stranded{Time: t, Region: p, ID: id})
				continue
			}
			for _, r := range regions {
				if r != p {
					cp := en
					cp.origin = p
					logs[r][part] = append(logs[r][part], cp)
				}
			}
		}
	}
	for _, r := range regions {
		committed := rng.IntN(4) > 0
		for part, log := range logs[r] {
			for off, en := range log {
				if en.aborted && committed {
					continue
				}
				c := Consume{Time: tick(), Region: r, Topic: "orders", Partition: int32(part), Offset: int64(off), ID: en.id, ReadCommitted: committed}
				out.h.Consumes = append(out.h.Consumes, c)
				if rng.IntN(10) == 0 {
					c.Time = tick()
					out.h.Consumes = append(out.h.Consumes, c)
				}
			}
		}
	}
	rng.Shuffle(len(out.h.Consumes), func(i, j int) { out.h.Consumes[i], out.h.Consumes[j] = out.h.Consumes[j], out.h.Consumes[i] })
	for _, r := range regions {
		out.h.Logs = append(out.h.Logs, committedLogs(r, "orders", logs[r], tick())...)
		if quarantine[r] != nil {
			out.h.Logs = append(out.h.Logs, committedLogs(r, "orders.stranded", quarantine[r], tick())...)
		}
	}
	return out
}

// committedLogs is what a read_committed reader finds in each partition
// of a topic.
func committedLogs(region, topic string, parts [][]entry, at time.Time) []Log {
	var out []Log
	for part, es := range parts {
		l := Log{Time: at, Region: region, Topic: topic, Partition: int32(part), End: int64(len(es)), Records: []LogRecord{}}
		for off, en := range es {
			if !en.aborted {
				l.Records = append(l.Records, LogRecord{Offset: int64(off), ID: en.id, Origin: en.origin})
			}
		}
		out = append(out, l)
	}
	return out
}

// mirrors copy orders from every region to every other, each quarantining
// what it strands.
func mirrors() []Mirror {
	var out []Mirror
	for _, a := range regions {
		for _, b := range regions {
			if a != b {
				out = append(out, Mirror{Source: Place{a, "orders"}, Target: Place{b, "orders"}, Quarantine: "orders.stranded"})
			}
		}
	}
	return out
}

var all = Options{ExactlyOnce: true, Regions: regions, Mirrors: mirrors()}

func TestValidHistoriesPass(t *testing.T) {
	for seed := range uint64(200) {
		r := generate(seed)
		if f := Check(r.h, all); len(f) > 0 {
			t.Fatalf("seed %d: valid history has findings:\n%s", seed, join(f))
		}
	}
}

func join(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintln(&b, f)
	}
	return b.String()
}

// mutation plants one violation and returns the id or epoch it is about.
type mutation func(r *run, rng *rand.Rand) (id string, epoch uint64)

func acked(h History) map[string]Produce {
	out := map[string]Produce{}
	stranded := map[string]bool{}
	for _, s := range h.Stranded {
		stranded[s.ID] = true
	}
	for _, p := range h.Produces {
		if p.Acked && !stranded[p.ID] {
			out[p.ID] = p
		}
	}
	return out
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func plantLoss(r *run, rng *rand.Rand) (string, uint64) {
	ids := slices.Sorted(maps.Keys(acked(r.h)))
	id := pick(rng, ids)
	r.h.Consumes = slices.DeleteFunc(r.h.Consumes, func(c Consume) bool { return c.ID == id })
	return id, 0
}

func plantDuplicate(r *run, rng *rand.Rand) (string, uint64) {
	ok := acked(r.h)
	var cs []Consume
	for _, c := range r.h.Consumes {
		if _, a := ok[c.ID]; a {
			cs = append(cs, c)
		}
	}
	c := pick(rng, cs)
	end := int64(0)
	for _, o := range r.h.Consumes {
		if o.Region == c.Region && o.Partition == c.Partition {
			end = max(end, o.Offset+1)
		}
	}
	c.Offset = end
	r.h.Consumes = append(r.h.Consumes, c)
	return c.ID, 0
}

// plantReorder swaps two neighbouring records of one source partition in
// one region's partition.
func plantReorder(r *run, rng *rand.Rand) (string, uint64) {
	ok := acked(r.h)
	type pos struct {
		region string
		part   int32
		off    int64
	}
	byPart := map[string][]Consume{}
	seen := map[pos]bool{}
	for _, c := range r.h.Consumes {
		k := pos{c.Region, c.Partition, c.Offset}
		if _, a := ok[c.ID]; a && !seen[k] {
			seen[k] = true
			byPart[fmt.Sprint(c.Region, c.Partition)] = append(byPart[fmt.Sprint(c.Region, c.Partition)], c)
		}
	}
	var pairs [][2]Consume
	for _, k := range slices.Sorted(maps.Keys(byPart)) {
		cs := byPart[k]
		slices.SortFunc(cs, func(a, b Consume) int { return int(a.Offset - b.Offset) })
		for i := 0; i+1 < len(cs); i++ {
			if ok[cs[i].ID].Region == ok[cs[i+1].ID].Region {
				pairs = append(pairs, [2]Consume{cs[i], cs[i+1]})
			}
		}
	}
	p := pick(rng, pairs)
	for i, c := range r.h.Consumes {
		if c.Region != p[0].Region || c.Partition != p[0].Partition {
			continue
		}
		switch c.Offset {
		case p[0].Offset:
			r.h.Consumes[i].ID = p[1].ID
		case p[1].Offset:
			r.h.Consumes[i].ID = p[0].ID
		}
	}
	// The earlier record, now read second, is the one out of order.
	return p[0].ID, 0
}

func plantAbortedRead(r *run, rng *rand.Rand) (string, uint64) {
	aborted := map[string]bool{}
	for _, a := range r.h.Aborts {
		aborted[a.ID] = true
	}
	var ps []Produce
	for _, p := range r.h.Produces {
		if aborted[p.ID] {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		// Seeds without an abort get one at the end of a partition.
		id := "aborted-planted"
		r.h.Aborts = append(r.h.Aborts, Abort{Region: regions[0], ID: id})
		ps = append(ps, Produce{Region: regions[0], Topic: "orders", Offset: 1 << 20, ID: id})
	}
	p := pick(rng, ps)
	r.h.Consumes = append(r.h.Consumes, Consume{Region: p.Region, Topic: p.Topic, Partition: p.Partition, Offset: p.Offset, ID: p.ID, ReadCommitted: true})
	return p.ID, 0
}

func plantDoublePrimary(r *run, rng *rand.Rand) (string, uint64) {
	e := rng.IntN(len(r.primary))
	other := pick(rng, slices.DeleteFunc(slices.Clone(regions), func(s string) bool { return s == r.primary[e] }))
	r.h.Epochs = append(r.h.Epochs, Epoch{Time: r.promoted[e].Add(time.Millisecond), Epoch: uint64(e + 1), Region: other, Role: RolePrimary, Observer: other})
	return "", uint64(e + 1)
}

// plantZombie has the old primary act as primary again after the new one
// was promoted, at its old epoch.
func plantZombie(r *run, rng *rand.Rand) (string, uint64) {
	e := 1 + rng.IntN(len(r.primary)-1) // index of the new epoch
	old := r.primary[e-1]
	r.h.Epochs = append(r.h.Epochs, Epoch{Time: r.promoted[e].Add(time.Millisecond), Epoch: uint64(e), Region: old, Role: RolePrimary, Observer: old})
	return "", uint64(e + 1)
}

// TestPlantedViolations plants violations in what the clients saw and
// judges that alone, without the logs; TestPlantedHoles plants them in
// the ground truth.
func TestPlantedViolations(t *testing.T) {
	for _, tc := range []struct {
		kind  Kind
		plant mutation
	}{
		{Lost, plantLoss},
		{Duplicate, plantDuplicate},
		{Reorder, plantReorder},
		{AbortedRead, plantAbortedRead},
		{DoublePrimary, plantDoublePrimary},
		{OverlappingPrimary, plantZombie},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			for seed := range uint64(50) {
				r := generate(seed)
				r.h.Logs = nil
				id, epoch := tc.plant(&r, rand.New(rand.NewPCG(seed, 1)))
				got := Check(r.h, all)
				want := []Finding{{Kind: tc.kind, ID: id, Epoch: epoch}}
				if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b Finding) bool {
					return a.Kind == b.Kind && a.ID == b.ID && a.Epoch == b.Epoch
				})); diff != "" {
					t.Fatalf("seed %d: findings (-want +got):\n%s\ngot:\n%s", seed, diff, join(got))
				}
			}
		})
	}
}

// TestPlantedRereads: one region's reads of a valid history, each record
// once, pass the read-once check; a second read of one of them, at its
// position again or in another region, is the one finding.
func TestPlantedRereads(t *testing.T) {
	for seed := range uint64(50) {
		r := generate(seed)
		r.h.Logs = nil
		seen := map[string]bool{}
		var once []Consume
		for _, c := range r.h.Consumes {
			if c.Region == regions[0] && !seen[c.ID] {
				seen[c.ID] = true
				once = append(once, c)
			}
		}
		r.h.Consumes = once
		opts := Options{ReadOnce: true}
		if got := Check(r.h, opts); len(got) > 0 {
			t.Fatalf("seed %d: a valid history read once: %s", seed, join(got))
		}
		rng := rand.New(rand.NewPCG(seed, 2))
		again := pick(rng, once)
		if rng.IntN(2) == 0 {
			again.Region = regions[1]
		}
		r.h.Consumes = append(r.h.Consumes, again)
		got := Check(r.h, opts)
		if len(got) != 1 || got[0].Kind != ReadTwice || got[0].ID != again.ID {
			t.Fatalf("seed %d: %s read again at %s: findings %s", seed, again.ID, again.Region, join(got))
		}
	}
}

func TestCheckCases(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prod := func(id string, off int64) Produce {
		return Produce{Region: "a", Topic: "t", Offset: off, ID: id, Acked: true}
	}
	read := func(region, id string, off int64) Consume {
		return Consume{Region: region, Topic: "t", Offset: off, ID: id, ReadCommitted: true}
	}
	for _, tc := range []struct {
		name string
		h    History
		opts Options
		want []string
	}{{
		name: "a re-read of one position is no duplicate",
		h:    History{Produces: []Produce{prod("x", 0)}, Consumes: []Consume{read("b", "x", 0), read("b", "x", 0)}},
		opts: Options{ExactlyOnce: true},
	}, {
		name: "two copies pass at least once",
		h:    History{Produces: []Produce{prod("x", 0)}, Consumes: []Consume{read("b", "x", 0), read("b", "x", 1)}},
	}, {
		name: "two copies fail exactly once",
		h:    History{Produces: []Produce{prod("x", 0)}, Consumes: []Consume{read("b", "x", 0), read("b", "x", 1)}},
		opts: Options{ExactlyOnce: true},
		want: []string{"duplicate: record x: read in b at 2 positions: [b t[0]@0 b t[0]@1]"},
	}, {
		name: "one application reading a record in two regions reads it twice",
		h:    History{Produces: []Produce{prod("x", 0)}, Consumes: []Consume{read("a", "x", 0), read("b", "x", 4)}},
		opts: Options{ReadOnce: true},
		want: []string{"read-twice: record x: read 2 times: [a t[0]@0 b t[0]@4]"},
	}, {
		name: "a re-read of one position is a second read",
		h:    History{Produces: []Produce{prod("x", 0)}, Consumes: []Consume{read("b", "x", 0), read("b", "x", 0)}},
		opts: Options{ReadOnce: true},
		want: []string{"read-twice: record x: read 2 times: [b t[0]@0 b t[0]@0]"},
	}, {
		name: "a region that must read every record names what it missed",
		h:    History{Produces: []Produce{prod("x", 7)}, Consumes: []Consume{read("a", "x", 7)}},
		opts: Options{Regions: []string{"a", "b"}},
		want: []string{"lost: record x: acknowledged at a t[0]@7, not read in [b]"},
	}, {
		name: "a stranded record may be missing",
		h:    History{Produces: []Produce{prod("x", 0)}, Stranded: []Stranded{{Region: "a", ID: "x"}}},
	}, {
		name: "an unacknowledged record may be missing",
		h:    History{Produces: []Produce{{Region: "a", Topic: "t", ID: "x"}}},
	}, {
		name: "an aborted record may be read uncommitted",
		h:    History{Aborts: []Abort{{ID: "x"}}, Consumes: []Consume{{Region: "a", Topic: "t", ID: "x"}}},
	}, {
		name: "a stale view of the old primary at an older epoch does not extend it",
		h: History{Epochs: []Epoch{
			{Time: t0, Epoch: 1, Region: "a", Role: RolePrimary, Observer: "a"},
			{Time: t0.Add(1 * time.Second), Epoch: 1, Region: "a", Role: RoleFenced, Observer: "a"},
			{Time: t0.Add(2 * time.Second), Epoch: 2, Region: "b", Role: RolePrimary, Observer: "b"},
			{Time: t0.Add(3 * time.Second), Epoch: 1, Region: "a", Role: RoleStandby, Observer: "b"},
		}},
	}, {
		name: "an old primary never fenced overlaps the new one",
		h: History{Epochs: []Epoch{
			{Time: t0, Epoch: 1, Region: "a", Role: RolePrimary, Observer: "a"},
			{Time: t0.Add(2 * time.Second), Epoch: 2, Region: "b", Role: RolePrimary, Observer: "b"},
			{Time: t0.Add(3 * time.Second), Epoch: 2, Region: "a", Role: RoleStandby, Observer: "a"},
		}},
		want: []string{"overlapping-primary: epoch 2: a primary at epoch 1 from 2026-01-01T00:00:00Z (seen by a) to 2026-01-01T00:00:03Z overlaps b primary at epoch 2 from 2026-01-01T00:00:02Z (seen by b) to end of history"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range Check(tc.h, tc.opts) {
				got = append(got, f.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJSONLRoundTrip(t *testing.T) {
	for seed := range uint64(5) {
		h := generate(seed).h
		var b bytes.Buffer
		if err := WriteJSONL(&b, h); err != nil {
			t.Fatal(err)
		}
		lines := strings.Count(b.String(), "\n")
		if want := len(h.Produces) + len(h.Consumes) + len(h.Aborts) + len(h.Unresolved) + len(h.Epochs) + len(h.Stranded) + len(h.Logs); lines != want {
			t.Fatalf("seed %d: %d lines, want %d", seed, lines, want)
		}
		got, err := ReadJSONL(&b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(h, got); diff != "" {
			t.Fatalf("seed %d: round trip (-wrote +read):\n%s", seed, diff)
		}
	}
}

func TestJSONLFirstLine(t *testing.T) {
	var b bytes.Buffer
	h := History{Consumes: []Consume{{Region: "eu-west", Topic: "orders", Partition: 2, Offset: 9, ID: "r1", ReadCommitted: true}}}
	if err := WriteJSONL(&b, h); err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"consume","time":"0001-01-01T00:00:00Z","region":"eu-west","topic":"orders","partition":2,"offset":9,"id":"r1","read_committed":true}` + "\n"
	if b.String() != want {
		t.Errorf("got  %s\nwant %s", b.String(), want)
	}
}

func TestReadJSONLErrors(t *testing.T) {
	in := strings.Join([]string{
		`{"kind":"produce","region":"a","topic":"t","partition":0,"offset":1,"id":"x","acked":true}`,
		``,
		`{"kind":"consume","region":"a","offst":1}`,
		`{"kind":"commit"}`,
		`{"region":"a"}`,
		`not json`,
	}, "\n")
	h, err := ReadJSONL(strings.NewReader(in))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`history: line 3: json: unknown field "offst"`,
		`history: line 4: unknown kind "commit"`,
		`history: line 5: no "kind" field`,
		`history: line 6: invalid character`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if len(h.Produces) != 1 {
		t.Errorf("read %d good produce lines, want 1", len(h.Produces))
	}
}
