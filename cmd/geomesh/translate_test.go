package main

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/mirror/offsets"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestTranslateNeedsAFlow(t *testing.T) {
	_, _, err := run(t, "translate", "--topology", "../../configs/examples/active-passive.yaml", "--group", "g", "--from", "eu-west", "--to", "us-east")
	if err == nil || !strings.Contains(err.Error(), "copies nothing from eu-west to us-east (flows: [us-east->eu-west])") {
		t.Fatalf("want an error naming the flows, got %v", err)
	}
}

func TestTranslateRequiresFlags(t *testing.T) {
	_, _, err := run(t, "translate", "--topology", "../../configs/examples/active-passive.yaml", "--from", "us-east")
	if err == nil || !strings.Contains(err.Error(), `"group"`) || !strings.Contains(err.Error(), `"to"`) {
		t.Fatalf("want an error naming the missing flags, got %v", err)
	}
}

// translateMesh writes an active-passive topology east → west with the
// given bootstrap addresses; no agent of it ever runs.
func translateMesh(t *testing.T, east, west string) string {
	t.Helper()
	return meshFile(t, "tr", meshRegion{name: "east", bootstrap: east}, meshRegion{name: "west", bootstrap: west})
}

// fakeRegion is a kfake cluster with a client that produces to orders,
// or the topic a record names, on the partition the record names.
type fakeRegion struct {
	addr string
	cl   *kgo.Client
	adm  *kadm.Client
}

func newFakeRegion(t *testing.T, topics ...string) fakeRegion {
	t.Helper()
	c := testkit.FakeCluster(t, kfake.SeedTopics(2, topics...))
	cl := testkit.Client(t, kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	return fakeRegion{addr: c.ListenAddrs()[0], cl: cl, adm: kadm.NewClient(cl)}
}

// commit commits offsets of group orders-app: partition → offset.
func (r fakeRegion) commit(t *testing.T, at map[int32]int64) {
	t.Helper()
	offs := kadm.Offsets{}
	for p, o := range at {
		offs.Add(kadm.Offset{Topic: "orders", Partition: p, At: o, LeaderEpoch: -1})
	}
	if resp, err := r.adm.CommitOffsets(t.Context(), "orders-app", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
}

func (r fakeRegion) committed(t *testing.T) map[int32]int64 {
	t.Helper()
	resp, err := r.adm.FetchOffsets(t.Context(), "orders-app")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) { out[o.Partition] = o.At })
	return out
}

// westWithCopies fills a target region the way the copier and group sync
// of east → west leave it: partition 0 holds copies of east's offsets
// 0–9 at 0–9 and partition 1 of 0–4; the group is synced at 4 and 2.
func westWithCopies(t *testing.T, newest time.Time) fakeRegion {
	t.Helper()
	west := newFakeRegion(t, "orders", mirror.ProgressTopic)
	var recs []*kgo.Record
	for p, n := range map[int32]int64{0: 10, 1: 5} {
		for o := range n {
			recs = append(recs, &kgo.Record{Partition: p, Value: []byte("copy"), Headers: []kgo.RecordHeader{
				{Key: mirror.HeaderOriginRegion, Value: []byte("east")},
				{Key: mirror.HeaderOriginTopic, Value: []byte("orders")},
				{Key: mirror.HeaderOriginPartition, Value: []byte(strconv.Itoa(int(p)))},
				{Key: mirror.HeaderOriginOffset, Value: []byte(strconv.FormatInt(o, 10))},
			}})
		}
		prog := mirror.Progress{Next: n, LastSource: n - 1, LastTarget: n - 1, LastTimestamp: newest.Add(-time.Second).UnixMilli()}
		recs = append(recs, &kgo.Record{Topic: mirror.ProgressTopic, Key: []byte(mirror.ProgressKey("east", "orders", p)), Value: prog.AppendTo(nil)})
	}
	beat := mirror.Progress{Next: 30, LastSource: 29, LastTarget: 29, LastTimestamp: newest.UnixMilli()}
	recs = append(recs, &kgo.Record{Topic: mirror.ProgressTopic, Key: []byte(mirror.ProgressKey("east", "geomesh.heartbeats", 0)), Value: beat.AppendTo(nil)})
	testkit.Produce(t, west.cl, recs...)
	west.commit(t, map[int32]int64{0: 4, 1: 2})
	return west
}

// TestTranslateSourceDown: with east's cluster gone (refused, or silent
// behind a broken link), translate answers from what west holds within the
// source timeout, says so in text and JSON, exits 5, and --apply commits
// nothing.
func TestTranslateSourceDown(t *testing.T) {
	newest := time.Now().Add(-42 * time.Second).Truncate(time.Millisecond)
	west := westWithCopies(t, newest)
	for _, c := range []struct{ name, east string }{{"refused", testkit.RefusedAddr(t)}, {"silent", testkit.SilentAddr(t)}} {
		t.Run(c.name, func(t *testing.T) {
			path := translateMesh(t, c.east, west.addr)
			args := []string{"translate", "--topology", path, "--group", "orders-app", "--from", "east", "--to", "west", "--source-timeout", "1s"}
			start := time.Now()
			out, _, err := run(t, args...)
			took := time.Since(start)
			var st exitStatus
			if !errors.As(err, &st) || st.code != exitBehind {
				t.Fatalf("want exit status %d, got %v\n%s", exitBehind, err, out)
			}
			if took > 8*time.Second {
				t.Errorf("took %s with a source timeout of 1s", took)
			}
			for _, want := range []string{
				`(?m)^group orders-app, east -> west: region east did not answer \((no answer within 1s: )?cluster east: offsets of group orders-app: `,
				`(?m)^answered from what region west holds: `,
				`(?m)^newest copy from east: written ` + regexp.QuoteMeta(newest.UTC().Format(time.RFC3339)) + ` \(4[2-9]s ago\)$`,
				`(?m)^orders\s+0\s+orders\s+4\s+4\s+10\s+6\s+synced$`,
				`(?m)^orders\s+1\s+orders\s+2\s+2\s+5\s+3\s+synced$`,
			} {
				if !regexp.MustCompile(want).MatchString(out) {
					t.Errorf("output does not match %q:\n%s", want, out)
				}
			}

			out, _, err = run(t, append(args, "--json", "--apply")...)
			if !errors.As(err, &st) || st.code != exitBehind {
				t.Fatalf("--json --apply: want exit status %d, got %v\n%s", exitBehind, err, out)
			}
			var res struct {
				translateOutput
				Partitions json.RawMessage `json:"partitions"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			checkShape(t, "translate-held", out)
			if res.Exact || res.SourceError == "" || res.Applied || res.NotApplied == "" || !res.NewestCopy.Equal(newest) || res.Partitions != nil {
				t.Errorf("JSON answer %+v: want exact false, a source error, not applied, newest copy %v, no partitions", res.translateOutput, newest)
			}
			want := []offsets.HeldPartition{
				{Translation: offsets.Translation{Topic: "orders", Partition: 0, TargetTopic: "orders", TargetOffset: 4, SourceOffset: 4, OriginOffset: 4, State: offsets.Synced}, CopiedTo: 10, AtMostRepeated: 6},
				{Translation: offsets.Translation{Topic: "orders", Partition: 1, TargetTopic: "orders", TargetOffset: 2, SourceOffset: 2, OriginOffset: 2, State: offsets.Synced}, CopiedTo: 5, AtMostRepeated: 3},
			}
			if len(res.Held) != len(want) {
				t.Fatalf("held %+v, want %+v", res.Held, want)
			}
			for i, w := range want {
				if g := res.Held[i]; g.Translation != w.Translation || g.CopiedTo != w.CopiedTo || g.AtMostRepeated != w.AtMostRepeated {
					t.Errorf("held[%d] = %+v, want %+v", i, g, w)
				}
			}
			if got := west.committed(t); got[0] != 4 || got[1] != 2 {
				t.Errorf("--apply without the source changed the group in west: %v", got)
			}
		})
	}
}

// TestTranslateSourceDownNothingSynced: without the source and without
// offsets of the group on the target there is no answer: exit 1, saying
// why.
func TestTranslateSourceDownNothingSynced(t *testing.T) {
	west := westWithCopies(t, time.Now())
	path := translateMesh(t, testkit.RefusedAddr(t), west.addr)
	_, _, err := run(t, "translate", "--topology", path, "--group", "other-app", "--from", "east", "--to", "west", "--source-timeout", "1s")
	var st exitStatus
	if err == nil || errors.As(err, &st) || !strings.Contains(err.Error(), "region west holds no offsets of group other-app") {
		t.Fatalf("want an error saying west holds nothing of the group, got %v", err)
	}
}

// TestTranslateApplyNeverBackwards: with both regions up, --apply commits
// a translation that moves the group forward, and refuses one that would
// move it back unless --allow-backwards.
func TestTranslateApplyNeverBackwards(t *testing.T) {
	east := newFakeRegion(t, "orders")
	var recs []*kgo.Record
	for p, n := range map[int32]int{0: 10, 1: 5} {
		for range n {
			recs = append(recs, &kgo.Record{Partition: p, Value: []byte("original")})
		}
	}
	testkit.Produce(t, east.cl, recs...)
	west := westWithCopies(t, time.Now())
	path := translateMesh(t, east.addr, west.addr)
	args := []string{"translate", "--topology", path, "--group", "orders-app", "--from", "east", "--to", "west", "--apply"}

	// Forward: east's group is at 6 and 3, west holds 4 and 2.
	east.commit(t, map[int32]int64{0: 6, 1: 3})
	out, _, err := run(t, args...)
	if err != nil {
		t.Fatalf("forward --apply: %v\n%s", err, out)
	}
	for _, want := range []string{`(?m)^orders\s+0\s+6\s+orders\s+6\s+4\s+copied$`, `(?m)^orders\s+1\s+3\s+orders\s+3\s+2\s+copied$`, `(?m)^committed in west$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output does not match %q:\n%s", want, out)
		}
	}
	if got := west.committed(t); got[0] != 6 || got[1] != 3 {
		t.Fatalf("west holds %v after --apply, want 6 and 3", got)
	}

	// Backwards on partition 0 only: refused as a whole.
	east.commit(t, map[int32]int64{0: 2, 1: 4})
	_, _, err = run(t, args...)
	if exitCode(err) != exitRefused || !strings.Contains(err.Error(), "would move 1 partitions of group orders-app in region west back") || !strings.Contains(err.Error(), "orders/0: from 6 to 2") {
		t.Fatalf("backwards --apply: want a refusal (exit 3) naming orders/0, got exit %d: %v", exitCode(err), err)
	}
	if got := west.committed(t); got[0] != 6 || got[1] != 3 {
		t.Fatalf("a refused --apply changed west: %v", got)
	}
	if _, _, err := run(t, append(args, "--allow-backwards")...); err != nil {
		t.Fatalf("--allow-backwards: %v", err)
	}
	if got := west.committed(t); got[0] != 2 || got[1] != 4 {
		t.Fatalf("west holds %v after --allow-backwards, want 2 and 4", got)
	}
}

// TestTranslateStates: a partition the copier has not reached is behind
// (exit 5, try again); one committed past the source partition's end is
// past-end, with the end and no target offset (exit 1: waiting does not
// help); the group's topics outside the flow are listed not-mirrored; a
// group with no offsets in the source is not found (exit 4).
func TestTranslateStates(t *testing.T) {
	east := newFakeRegion(t, "orders", "audit")
	var recs []*kgo.Record
	for p, n := range map[int32]int{0: 20, 1: 5} {
		for range n {
			recs = append(recs, &kgo.Record{Partition: p, Value: []byte("original")})
		}
	}
	recs = append(recs, &kgo.Record{Topic: "audit", Partition: 0, Value: []byte("local")})
	testkit.Produce(t, east.cl, recs...)
	west := westWithCopies(t, time.Now()) // copied 0–9 of partition 0, 0–4 of 1
	path := translateMesh(t, east.addr, west.addr)
	args := []string{"translate", "-t", path, "--group", "orders-app", "--from", "east", "--to", "west"}
	audit := kadm.Offsets{}
	audit.Add(kadm.Offset{Topic: "audit", Partition: 0, At: 1, LeaderEpoch: -1})
	if resp, err := east.adm.CommitOffsets(t.Context(), "orders-app", audit); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}

	// Behind: east's group at 15 on partition 0, which the copier has not
	// reached (next 10), and at 3 on partition 1, copied.
	east.commit(t, map[int32]int64{0: 15, 1: 3})
	out, _, err := run(t, args...)
	if exitCode(err) != exitBehind || !strings.Contains(err.Error(), "1 partition behind") {
		t.Fatalf("behind: exit %d (%v), want 5\n%s", exitCode(err), err, out)
	}
	for _, want := range []string{
		`(?m)^orders\s+0\s+15\s+orders\s+10\s+4\s+behind$`,
		`(?m)^orders\s+1\s+3\s+orders\s+3\s+2\s+copied$`,
		`(?m)^audit\s+0\s+1\s+-\s+-\s+-\s+not-mirrored$`,
		`(?m)^not-mirrored: the flow east -> west does not copy audit `,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("behind: output does not match %q:\n%s", want, out)
		}
	}
	if _, _, err := run(t, append(args, "--apply")...); exitCode(err) != exitBehind || !strings.Contains(err.Error(), "orders/0: behind at source offset 15") {
		t.Errorf("behind --apply: exit %d (%v), want 5", exitCode(err), err)
	}

	// Past the end: 25 on partition 0, which holds 20 records.
	east.commit(t, map[int32]int64{0: 25})
	out, _, err = run(t, args...)
	if exitCode(err) != exitFailure || !strings.Contains(err.Error(), "group orders-app is committed past the end of 1 partition in region east (past-end)") {
		t.Fatalf("past end: exit %d (%v), want 1\n%s", exitCode(err), err, out)
	}
	for _, want := range []string{
		`(?m)^orders\s+0\s+25\s+orders\s+-\s+4\s+past-end \(source end 20\)$`,
		`(?m)^past-end: the group's offset in east is past the partition's end there`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("past end: output does not match %q:\n%s", want, out)
		}
	}
	out, _, _ = run(t, append(args, "--json")...)
	checkShape(t, "translate", out)
	var res translateOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	p := res.Partitions[0]
	if p.State != pastEnd || p.TargetOffset != -1 || p.SourceEnd == nil || *p.SourceEnd != 20 {
		t.Errorf("past end: JSON partition %+v (source end %v), want past-end, target offset -1, source end 20", p, p.SourceEnd)
	}
	if len(res.NotMirrored) != 1 || res.NotMirrored[0] != (notMirroredPartition{Topic: "audit", Partition: 0, SourceOffset: 1, State: notMirrored}) {
		t.Errorf("not mirrored: %+v", res.NotMirrored)
	}
	if _, _, err := run(t, append(args, "--apply")...); exitCode(err) != exitFailure {
		t.Errorf("past end --apply: exit %d (%v), want 1", exitCode(err), err)
	}
	if got := west.committed(t); got[0] != 4 || got[1] != 2 {
		t.Errorf("a refused --apply changed west: %v", got)
	}

	// No offsets at all, or none on a topic the flow copies.
	_, _, err = run(t, "translate", "-t", path, "--group", "nobody", "--from", "east", "--to", "west")
	if exitCode(err) != exitNotFound || !strings.Contains(err.Error(), "group nobody has no committed offsets in region east") {
		t.Errorf("unknown group: exit %d (%v), want 4", exitCode(err), err)
	}
	if resp, err := east.adm.CommitOffsets(t.Context(), "audit-app", audit); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	_, _, err = run(t, "translate", "-t", path, "--group", "audit-app", "--from", "east", "--to", "west")
	if exitCode(err) != exitNotFound || !strings.Contains(err.Error(), "its offsets there are on audit, which the flow does not copy (not-mirrored)") {
		t.Errorf("group on topics outside the flow: exit %d (%v), want 4", exitCode(err), err)
	}
}
