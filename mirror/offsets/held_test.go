package offsets

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestResumeHeld(t *testing.T) {
	p := mirror.Progress{Next: 12, LastSource: 9, LastTarget: 11}
	for _, c := range []struct {
		name                   string
		first                  Record
		found                  bool
		p                      mirror.Progress
		source, origin, atMost int64
	}{
		{"a copy follows: the copies of its origin and after may be read again", Record{Offset: 5, Copy: true, Origin: 3}, true, p, 3, 3, 7},
		{"the last copy follows", Record{Offset: 11, Copy: true, Origin: 9}, true, p, 9, 9, 1},
		{"past every copy: resumes at the copier's next", Record{}, false, p, 12, -1, 0},
		{"nothing copied yet", Record{}, false, mirror.Progress{Next: 4, LastSource: -1, LastTarget: -1}, 4, -1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, o, n := resumeHeld(c.p, c.first, c.found)
			if s != c.source || o != c.origin || n != c.atMost {
				t.Errorf("resumeHeld = %d, %d, %d; want %d, %d, %d", s, o, n, c.source, c.origin, c.atMost)
			}
		})
	}
}

// sliceLog is a Log of visible records, in offset order.
type sliceLog []Record

func (l sliceLog) ReadAt(_ context.Context, offset int64) (Record, bool, error) {
	for _, r := range l {
		if r.Offset >= offset {
			return r, true, nil
		}
	}
	return Record{}, false, nil
}

func TestFirstCopy(t *testing.T) {
	// 2 and 3 are local records, 4 a marker (not visible), 6 a copy of
	// another partition.
	log := sliceLog{{Offset: 1, Copy: true, Origin: 0}, {Offset: 2}, {Offset: 3}, {Offset: 5, Copy: true, Origin: 4}, {Offset: 6}, {Offset: 7, Copy: true, Origin: 5}}
	for _, c := range []struct {
		from, last int64
		limit      int
		want       int64 // offset of the copy found, -1 none
		err        bool
	}{
		{from: 0, last: 7, limit: 10, want: 1},
		{from: 2, last: 7, limit: 10, want: 5},
		{from: 4, last: 7, limit: 10, want: 5},
		{from: 6, last: 7, limit: 10, want: 7},
		{from: 2, last: 4, limit: 10, want: -1}, // the next copy is past the last
		{from: 8, last: 9, limit: 10, want: -1}, // nothing there
		{from: 2, last: 7, limit: 2, err: true}, // two local records use the budget
	} {
		r, ok, err := firstCopy(t.Context(), log, c.from, c.last, c.limit)
		switch {
		case c.err:
			if err == nil {
				t.Errorf("firstCopy(%d, %d, limit %d) = %v, %v; want an error", c.from, c.last, c.limit, r, ok)
			}
		case err != nil:
			t.Errorf("firstCopy(%d, %d): %v", c.from, c.last, err)
		case c.want < 0 && ok, c.want >= 0 && (!ok || r.Offset != c.want):
			t.Errorf("firstCopy(%d, %d) = %+v, %v; want offset %d", c.from, c.last, r, ok, c.want)
		}
	}
}

func TestParseProgressKey(t *testing.T) {
	for in, want := range map[string]struct {
		topic string
		p     int32
		ok    bool
	}{
		"orders/3":              {"orders", 3, true},
		"geomesh.heartbeats/0":  {"geomesh.heartbeats", 0, true},
		"orders":                {ok: false},
		"orders/x":              {ok: false},
		"orders/99999999999999": {ok: false},
	} {
		topic, p, ok := parseProgressKey(in)
		if ok != want.ok || (ok && (topic != want.topic || p != want.p)) {
			t.Errorf("parseProgressKey(%q) = %q, %d, %v; want %+v", in, topic, p, ok, want)
		}
	}
}

// TestHeld reads a target cluster whose source is gone: copies with local
// records among them, the copier's progress, and a group's offsets synced
// there on two of three partitions.
func TestHeld(t *testing.T) {
	target := testkit.FakeCluster(t, kfake.SeedTopics(3, "orders"), kfake.SeedTopics(1, "local", mirror.ProgressTopic))
	cl := testkit.Client(t, kgo.SeedBrokers(target.ListenAddrs()...), kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := t.Context()
	now := time.Now().Truncate(time.Millisecond)
	copyOf := func(p int32, origin int64) *kgo.Record {
		return &kgo.Record{Partition: p, Value: []byte("copy"), Headers: []kgo.RecordHeader{
			{Key: mirror.HeaderOriginRegion, Value: []byte("east")},
			{Key: mirror.HeaderOriginTopic, Value: []byte("orders")},
			{Key: mirror.HeaderOriginPartition, Value: []byte(strconv.Itoa(int(p)))},
			{Key: mirror.HeaderOriginOffset, Value: []byte(strconv.FormatInt(origin, 10))},
		}}
	}
	local := func(p int32) *kgo.Record { return &kgo.Record{Partition: p, Value: []byte("local")} }
	// Partition 0: a local record at 0, copies of 0–2 at 1–3, a local
	// record at 4, copies of 3–9 at 5–11. Partition 1: copies of 0–4 at
	// 0–4. Partition 2: nothing copied.
	recs := []*kgo.Record{local(0), copyOf(0, 0), copyOf(0, 1), copyOf(0, 2), local(0)}
	for o := int64(3); o <= 9; o++ {
		recs = append(recs, copyOf(0, o))
	}
	for o := int64(0); o <= 4; o++ {
		recs = append(recs, copyOf(1, o))
	}
	progress := map[string]mirror.Progress{
		"east/orders/0":             {Next: 10, LastSource: 9, LastTarget: 11, LastTimestamp: now.Add(-time.Minute).UnixMilli()},
		"east/orders/1":             {Next: 7, LastSource: 4, LastTarget: 4, LastTimestamp: now.Add(-2 * time.Minute).UnixMilli()},
		"east/orders/2":             {Next: 3, LastSource: -1, LastTarget: -1, LastTimestamp: -1},
		"east/geomesh.heartbeats/0": {Next: 50, LastSource: 49, LastTarget: 80, LastTimestamp: now.UnixMilli()},
		"south/orders/0":            {Next: 99, LastSource: 98, LastTarget: 500, LastTimestamp: now.Add(time.Hour).UnixMilli()},
	}
	for k, p := range progress {
		recs = append(recs, &kgo.Record{Topic: mirror.ProgressTopic, Key: []byte(k), Value: p.AppendTo(nil)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	commit := kadm.Offsets{}
	commit.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 4, LeaderEpoch: -1})
	commit.Add(kadm.Offset{Topic: "orders", Partition: 1, At: 5, LeaderEpoch: -1})
	commit.Add(kadm.Offset{Topic: "local", Partition: 0, At: 1, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "app", commit); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}

	flow := topology.Flow{Source: "east", Target: "west", Kind: topology.FlowReplicate, Topics: topology.MustSelection([]string{"orders"}, nil), Regions: []string{"east", "west", "south"}}
	tr := NewTranslator(Config{
		Flow: flow, Source: cl, Target: cl, Logger: slog.New(slog.DiscardHandler),
		NewTargetClient: testkit.ClientFactory(kgo.SeedBrokers(target.ListenAddrs()...)),
	})
	tr.Start(ctx)
	defer tr.Close()
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	h, err := tr.Held(hctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if !h.NewestCopy.Equal(now) {
		t.Errorf("NewestCopy = %v, want the east heartbeat's %v", h.NewestCopy, now)
	}
	want := []HeldPartition{
		{Translation: Translation{Topic: "orders", Partition: 0, TargetTopic: "orders", TargetOffset: 4, SourceOffset: 3, OriginOffset: 3, State: Synced},
			CopiedTo: 10, LastCopy: now.Add(-time.Minute), AtMostRepeated: 7},
		{Translation: Translation{Topic: "orders", Partition: 1, TargetTopic: "orders", TargetOffset: 5, SourceOffset: 7, OriginOffset: -1, State: Synced},
			CopiedTo: 7, LastCopy: now.Add(-2 * time.Minute), AtMostRepeated: 0},
		{Translation: Translation{Topic: "orders", Partition: 2, TargetTopic: "orders", TargetOffset: -1, SourceOffset: -1, OriginOffset: -1, State: Unsynced},
			CopiedTo: 3, AtMostRepeated: -1},
	}
	if len(h.Partitions) != len(want) {
		t.Fatalf("Held = %+v, want %d partitions", h.Partitions, len(want))
	}
	for i, w := range want {
		if g := h.Partitions[i]; g.Translation != w.Translation || g.CopiedTo != w.CopiedTo || !g.LastCopy.Equal(w.LastCopy) || g.AtMostRepeated != w.AtMostRepeated {
			t.Errorf("partition %d:\n got %+v\nwant %+v", i, g, w)
		}
	}

	// A group with no offsets on the target: nothing held.
	h, err = tr.Held(hctx, "stranger")
	if err != nil || len(h.Partitions) != 0 {
		t.Errorf("Held of a group without offsets = %+v, %v; want none", h.Partitions, err)
	}
}
