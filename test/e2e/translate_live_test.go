//go:build linux

package e2e

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/mirror/offsets"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTranslateWhileCopying translates group offsets while an agent copies
// a topic that a stream keeps writing to (plain records, committed and
// aborted transactions): every round asks for offsets all over each
// partition, most of them around where the copier is, reading the
// copier's committed progress just before and just after. When the stream
// has stopped and the copy caught up, both topics are read to their end
// and every answer is judged against them:
//
//   - copied: the target record at the offset is the copy of the first
//     committed source record at or after G;
//   - end: every copy of a record before G lies below the offset, every
//     copy of a record at or after G at or past it, and the copier could
//     have reached G (G ≤ its next offset read after the call);
//   - behind: every copy of a record at or after G lies at or past the
//     offset, and the copier had indeed not reached G (G > its next
//     offset read before the call).
//
// Any other state or an error fails the test.
func TestTranslateWhileCopying(t *testing.T) {
	const (
		topic      = "tlive-orders"
		partitions = 4
		// Rounds go on until the stream has written this many records
		// and at least minDuration has passed.
		minRecords  = 6000
		minDuration = 15 * time.Second
	)
	rng := rand.New(rand.NewPCG(seed(t), 4))
	srcC, dstC := clusters[0], clusters[1]
	path := meshFile(t, "e2e-tlive", []region{{"tlive-east", srcC, 1}, {"tlive-west", dstC, 1}}, `
topology: {kind: active-passive, primary: tlive-east, standby: [tlive-west]}
topics: {include: ["`+topic+`"]}
`)
	flow := flowOf(t, path, "tlive-east", "tlive-west")
	createTopic(t, srcC, topic, partitions, nil)
	var parts []mirror.Partition
	for p := range int32(partitions) {
		parts = append(parts, mirror.Partition{Topic: topic, Partition: p})
	}

	st := startStream(t, srcC, "tlive-east", topic, partitions, rng.Uint64(), 40*time.Millisecond)
	startAgents(t, path, "tlive-west")
	dstFactory := factoryOf(dstC)
	tr := offsets.NewTranslator(offsets.Config{Flow: flow, Source: client(t, srcC), Target: client(t, dstC), NewTargetClient: dstFactory})
	tr.Start(t.Context())
	t.Cleanup(tr.Close)

	srcAdm, dstAdm := kadm.NewClient(client(t, srcC)), kadm.NewClient(client(t, dstC))
	quiet := slog.New(slog.DiscardHandler)
	readNext := func() (map[int32]int64, error) {
		pr, _, err := mirror.ReadProgress(t.Context(), dstFactory, dstAdm, flow.Target, flow.Source, parts, quiet)
		next := map[int32]int64{}
		for p, x := range pr {
			next[p.Partition] = x.Next
		}
		return next, err
	}
	progress := func() map[int32]int64 {
		t.Helper()
		next, err := readNext()
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	// The progress topic is readable once the agent's first copy is
	// committed; the rounds start while it copies the first records.
	poll.Until(t, 60*time.Second, func() error {
		next, err := readNext()
		if err == nil && len(next) == 0 {
			err = fmt.Errorf("no progress in %s yet", mirror.ProgressTopic)
		}
		return err
	})

	type asked struct {
		offsets.Translation
		nextBefore, nextAfter int64
	}
	var answers []asked
	start := time.Now()
	rounds := 0
	for st.written() < minRecords || time.Since(start) < minDuration {
		if err := st.failed(); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > 3*time.Minute {
			t.Fatalf("the stream wrote %d records in %s, want %d", st.written(), time.Since(start), minRecords)
		}
		before := progress()
		ends, err := srcAdm.ListEndOffsets(t.Context(), topic)
		if err != nil {
			t.Fatal(err)
		}
		var reqs []offsets.Request
		for p := range int32(partitions) {
			end := listedOffset(ends, topic, p)
			next := before[p]
			for _, g := range []int64{
				rng.Int64N(end + 1), rng.Int64N(end + 1), rng.Int64N(end + 1),
				next, next - 5 + rng.Int64N(11), next - 5 + rng.Int64N(11), next - 2 + rng.Int64N(5),
				end, end - 20 + rng.Int64N(41), end + rng.Int64N(5),
			} {
				reqs = append(reqs, offsets.Request{Topic: topic, Partition: p, Offset: max(g, 0)})
			}
		}
		got, err := tr.Translate(t.Context(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		after := progress()
		for _, g := range got {
			answers = append(answers, asked{Translation: g, nextBefore: before[g.Partition], nextAfter: after[g.Partition]})
		}
		rounds++
	}
	st.stop(t)
	t.Logf("%d translations in %d rounds over %s while copying; source: %s", len(answers), rounds, time.Since(start).Round(time.Millisecond), st)
	waitCopied(t, srcC, dstC, flow, parts)

	// Ground truth: both topics read to their end.
	type copyAt struct{ target, origin int64 }
	srcRecs := map[int32][]*kgo.Record{}
	dstRecs := map[int32]map[int64]*kgo.Record{}
	copies := map[int32][]copyAt{} // in target order
	copyOf := map[int32]map[int64]int64{}
	for p := range int32(partitions) {
		srcRecs[p] = readPartition(t, srcC, topic, p)
		dstRecs[p], copyOf[p] = map[int64]*kgo.Record{}, map[int64]int64{}
		for _, r := range readPartition(t, dstC, topic, p) {
			dstRecs[p][r.Offset] = r
			origin, ok := provenance(r, flow.Source, topic, p)
			if !ok {
				t.Fatalf("target %s/%d offset %d is not a copy of %s/%d", topic, p, r.Offset, topic, p)
			}
			if at, dup := copyOf[p][origin]; dup {
				t.Fatalf("source %s/%d offset %d copied twice, to %d and %d", topic, p, origin, at, r.Offset)
			}
			copyOf[p][origin] = r.Offset
			copies[p] = append(copies[p], copyAt{r.Offset, origin})
		}
		if len(copies[p]) != len(srcRecs[p]) {
			t.Fatalf("%s/%d: %d committed source records, %d copies", topic, p, len(srcRecs[p]), len(copies[p]))
		}
	}

	states := map[offsets.State]int{}
	for _, a := range answers {
		p, g, e := a.Partition, a.SourceOffset, a.TargetOffset
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%s/%d at %d (copier's next offset %d before the call, %d after): %+v: %s", topic, p, g, a.nextBefore, a.nextAfter, a.Translation, fmt.Sprintf(format, args...))
		}
		if a.Error != "" {
			fail("no answer")
		}
		states[a.State]++
		// Below e only copies of records before g, at or after it only
		// copies of records at or after g: what a group committed at e
		// reads.
		for _, c := range copies[p] {
			if c.target < e && c.origin >= g {
				fail("the copy of %d at %d lies below the answer: it would be skipped", c.origin, c.target)
			}
			if c.target >= e && c.origin < g && a.State != offsets.Behind {
				fail("the copy of %d at %d lies at or after the answer: it would be read twice", c.origin, c.target)
			}
		}
		switch a.State {
		case offsets.Copied:
			i := slices.IndexFunc(srcRecs[p], func(r *kgo.Record) bool { return r.Offset >= g })
			if i < 0 {
				fail("no committed source record at or after %d", g)
			}
			want := srcRecs[p][i]
			if a.OriginOffset != want.Offset || copyOf[p][want.Offset] != e {
				fail("want the copy of %d, at %d", want.Offset, copyOf[p][want.Offset])
			}
			if err := sameRecord(want, dstRecs[p][e]); err != nil {
				fail("%v", err)
			}
			if want.Offset >= a.nextAfter {
				fail("copied, but the copier had not passed %d after the call", want.Offset)
			}
		case offsets.End:
			if g > a.nextAfter {
				fail("end, but the copier had not reached %d after the call", g)
			}
		case offsets.Behind:
			if g <= a.nextBefore {
				fail("behind, but the copier had reached %d before the call", g)
			}
		default:
			fail("unexpected state")
		}
	}
	t.Logf("%d translations judged against both topics read to their end (%d records copied): %v", len(answers), sumLen(srcRecs), states)
	for _, s := range []offsets.State{offsets.Copied, offsets.End, offsets.Behind} {
		if states[s] < 20 {
			t.Errorf("only %d %s answers: the rounds did not probe around the copier", states[s], s)
		}
	}
}

// flowOf returns the flow from source to target that the topology file
// at path plans.
func flowOf(t *testing.T, path, source, target string) topology.Flow {
	t.Helper()
	m, err := topology.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range topology.Plan(m) {
		if f.Source == source && f.Target == target {
			return f
		}
	}
	t.Fatalf("%s plans no flow %s → %s", path, source, target)
	return topology.Flow{}
}

// factoryOf makes clients of c.
func factoryOf(c *kafkatest.Cluster) mirror.ClientFactory {
	return testkit.ClientFactory(c.ClientOptions()...)
}

func listedOffset(l kadm.ListedOffsets, topic string, p int32) int64 {
	o, _ := l.Lookup(topic, p)
	return o.Offset
}

// provenance returns the source offset a target record is a copy of, if it
// is a copy of partition p of topic in region origin.
func provenance(r *kgo.Record, origin, topic string, p int32) (int64, bool) {
	region, _ := testkit.Header(r, mirror.HeaderOriginRegion)
	tp, _ := testkit.Header(r, mirror.HeaderOriginTopic)
	part, _ := testkit.Header(r, mirror.HeaderOriginPartition)
	off, _ := testkit.Header(r, mirror.HeaderOriginOffset)
	o, err := strconv.ParseInt(off, 10, 64)
	if region != origin || tp != topic || part != strconv.Itoa(int(p)) || err != nil {
		return -1, false
	}
	return o, true
}

func sumLen[K comparable, V any](m map[K][]V) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}
