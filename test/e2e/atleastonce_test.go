//go:build linux

package e2e

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/geomesh/geomesh/mirror"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestAtLeastOnceSIGKILL runs the standby's agent in at-least-once mode as
// a process and kills it with SIGKILL at random moments while a stream
// writes plain records and committed and aborted transactions into the
// primary, restarting it after each kill. Once the stream has stopped and
// the last life has caught up, both topics are read to their end: every
// committed source record is on the target, in its partition, duplicates
// allowed; nothing else is (no aborted record, no phantom); and in each
// partition the first copies come in source order.
func TestAtLeastOnceSIGKILL(t *testing.T) {
	const (
		topic      = "alo-orders"
		partitions = 6
		minKills   = 12
		minRecords = 10000
	)
	rng := rand.New(rand.NewPCG(seed(t), 5))
	srcC, dstC := clusters[2], clusters[3]
	path := meshFile(t, "e2e-alo", []region{{"alo-east", srcC, 1}, {"alo-west", dstC, 1}}, `
topology: {kind: active-passive, primary: alo-east, standby: [alo-west]}
topics: {include: ["`+topic+`"]}
replication: {mode: at-least-once}
`)
	createTopic(t, srcC, topic, partitions, nil)
	st := startStream(t, srcC, "alo-east", topic, partitions, rng.Uint64(), 60*time.Millisecond)

	ag := newAgentProc(t, path, "alo-west", "alo-west-1")
	ag.start()
	start := time.Now()
	kills, copying := 0, 0
	for kills < minKills || st.written() < minRecords {
		// Mostly in the middle of copying, one kill in four while the
		// agent starts.
		up := 500*time.Millisecond + time.Duration(rng.Int64N(int64(2500*time.Millisecond)))
		if rng.IntN(4) == 0 {
			up = 20*time.Millisecond + time.Duration(rng.Int64N(int64(400*time.Millisecond)))
		}
		time.Sleep(up)
		if s, err := ag.status(t.Context()); err == nil {
			var records int64
			for _, sh := range s.shards() {
				records += sh.Records
			}
			if records > 0 {
				copying++
			}
		}
		ag.kill()
		kills++
		if err := st.failed(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(500 * time.Millisecond))))
		ag.start()
	}
	st.stop(t)
	t.Logf("%d SIGKILLs in %s, %d of them after the life had copied records; source: %s", kills, time.Since(start).Round(time.Millisecond), copying, st)
	if copying == 0 {
		t.Errorf("no life of the agent copied a record before its kill: the kills did not hit copying")
	}

	var parts []mirror.Partition
	for p := range int32(partitions) {
		parts = append(parts, mirror.Partition{Topic: topic, Partition: p})
	}
	waitCopied(t, srcC, dstC, flowOf(t, path, "alo-east", "alo-west"), parts)

	var records, copies, duplicates int
	for p := range int32(partitions) {
		src := readPartition(t, srcC, topic, p)
		bySource := map[int64]*kgo.Record{}
		for _, r := range src {
			if st.aborted[st.seq(t, r)] {
				t.Fatalf("source %s/%d offset %d: read_committed returned aborted record %s", topic, p, r.Offset, r.Value)
			}
			bySource[r.Offset] = r
		}
		seen := map[int64]int{}
		last := int64(-1) // origin of the last first copy
		for _, r := range readPartition(t, dstC, topic, p) {
			origin, ok := provenance(r, "alo-east", topic, p)
			if !ok {
				t.Fatalf("target %s/%d offset %d is not a copy of %s/%d", topic, p, r.Offset, topic, p)
			}
			if r.Attrs.IsTransactional() {
				t.Fatalf("target %s/%d offset %d was written in a transaction: the agent does not run in at-least-once mode", topic, p, r.Offset)
			}
			s, ok := bySource[origin]
			if !ok {
				t.Fatalf("target %s/%d offset %d is a copy of offset %d, which is no committed source record", topic, p, r.Offset, origin)
			}
			if err := sameRecord(s, r); err != nil {
				t.Fatalf("target %s/%d offset %d: %v", topic, p, r.Offset, err)
			}
			seen[origin]++
			copies++
			if seen[origin] > 1 {
				duplicates++
				continue
			}
			if origin <= last {
				t.Fatalf("target %s/%d offset %d: first copy of source offset %d after the first copy of %d", topic, p, r.Offset, origin, last)
			}
			last = origin
		}
		for _, r := range src {
			if seen[r.Offset] == 0 {
				t.Errorf("source %s/%d offset %d (%s) was never copied", topic, p, r.Offset, r.Value)
			}
		}
		records += len(src)
	}
	if records != st.committed {
		t.Fatalf("source holds %d committed records, the stream committed %d", records, st.committed)
	}
	t.Logf("%d committed records after %d SIGKILLs in at-least-once mode: %d copies, %d duplicates, 0 lost, first copies in source order in every partition",
		records, kills, copies, duplicates)
}
