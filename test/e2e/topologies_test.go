package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestActivePassive copies plain, committed and aborted transactional
// records from the primary to the standby: every committed record exactly
// once, in order, with its provenance; nothing of the aborted transaction.
func TestActivePassive(t *testing.T) {
	t.Parallel()
	path := meshFile(t, "e2e-ap", []region{{"ap-east", clusters[0], 1}, {"ap-west", clusters[1], 1}}, `
topology: {kind: active-passive, primary: ap-east, standby: [ap-west]}
topics: {include: ["ap-orders"]}
`)
	src, tgt := clusters[0], clusters[1]
	createTopic(t, src, "ap-orders", 3, nil)
	produce(t, src, "ap-east", "ap-orders", 0, 300)
	produceTxn(t, src, "ap-east", "ap-orders", 300, 50, true)
	produceTxn(t, src, "ap-east", "ap-orders", 350, 50, false)
	startAgents(t, path, "ap-west")
	produce(t, src, "ap-east", "ap-orders", 400, 100)

	srcRecs := readTopic(t, src, "ap-orders", 450, 30*time.Second)
	if len(srcRecs) != 450 {
		t.Fatalf("source holds %d committed records, want 450", len(srcRecs))
	}
	tgtRecs := readTopic(t, tgt, "ap-orders", 450, 30*time.Second)
	checkCopies(t, "ap-east", srcRecs, tgtRecs, "ap-east,ap-west")
	if len(tgtRecs) != 450 {
		t.Fatalf("target holds %d records, want exactly the 450 committed", len(tgtRecs))
	}
	for _, r := range tgtRecs {
		var seq int
		if _, err := fmt.Sscanf(string(r.Value), "ap-east/ap-orders/%d", &seq); err != nil || (seq >= 350 && seq < 400) {
			t.Fatalf("unexpected record on the target: %s", r.Value)
		}
	}
}

// TestActiveActiveIdentityNoLoop runs three regions writing the same topic
// name: every region ends with its own records and exactly one copy of
// every other region's, and nothing more arrives in the following minute.
func TestActiveActiveIdentityNoLoop(t *testing.T) {
	t.Parallel()
	names := []string{"aa-one", "aa-two", "aa-three"}
	path := meshFile(t, "e2e-aa", []region{{names[0], clusters[0], 1}, {names[1], clusters[1], 1}, {names[2], clusters[2], 1}}, `
topology: {kind: active-active}
naming: identity
topics: {include: ["aa-events"]}
`)
	for i := range names {
		createTopic(t, clusters[i], "aa-events", 2, nil)
		produce(t, clusters[i], names[i], "aa-events", 0, 200)
	}
	startAgents(t, path, names...)
	local := map[string][]*kgo.Record{}
	for i, n := range names {
		local[n] = readOrigin(readTopic(t, clusters[i], "aa-events", 200, 10*time.Second), n)
	}
	for i, n := range names {
		recs := readTopic(t, clusters[i], "aa-events", 600, 60*time.Second)
		for _, other := range names {
			if other != n {
				checkCopies(t, other, local[other], recs, other+","+n)
			}
		}
		if len(recs) != 600 {
			t.Fatalf("region %s holds %d records, want 600", n, len(recs))
		}
	}
	// A minute in which nothing may happen, not a wait for a state: a
	// replication loop would keep copying copies back and forth.
	time.Sleep(60 * time.Second)
	for i, n := range names {
		recs := readTopic(t, clusters[i], "aa-events", 600, 30*time.Second)
		if len(recs) != 600 {
			t.Fatalf("region %s holds %d records a minute later, want still 600: a loop", n, len(recs))
		}
	}
}

// readOrigin keeps the records produced in region (no provenance headers).
func readOrigin(recs []*kgo.Record, region string) []*kgo.Record {
	var out []*kgo.Record
	for _, r := range recs {
		if strings.HasPrefix(string(r.Value), region+"/") {
			if _, copied := testkit.Header(r, "geomesh-origin-region"); !copied {
				out = append(out, r)
			}
		}
	}
	return out
}

// TestHubSpoke aggregates two spokes into the hub under prefixed names,
// broadcasts the hub's price list back to the spokes and keeps a full copy
// of the hub, aggregated topics included, on the standby hub.
func TestHubSpoke(t *testing.T) {
	t.Parallel()
	path := meshFile(t, "e2e-hs", []region{{"hs-hub", clusters[0], 1}, {"hs-standby", clusters[1], 1}, {"hs-a", clusters[2], 1}, {"hs-b", clusters[3], 1}}, `
topology:
  kind: hub-spoke
  hub: hs-hub
  standby_hub: hs-standby
  spokes: [hs-a, hs-b]
  broadcast: {include: ["hs-prices"]}
topics: {include: ["hs-sales"]}
`)
	hub, a, b := clusters[0], clusters[2], clusters[3]
	createTopic(t, a, "hs-sales", 2, nil)
	createTopic(t, b, "hs-sales", 2, nil)
	createTopic(t, hub, "hs-prices", 1, nil)
	produce(t, a, "hs-a", "hs-sales", 0, 150)
	produce(t, b, "hs-b", "hs-sales", 0, 150)
	produce(t, hub, "hs-hub", "hs-prices", 0, 100)
	startAgents(t, path, "hs-hub", "hs-standby", "hs-a", "hs-b")

	salesA := readTopic(t, a, "hs-sales", 150, 10*time.Second)
	salesB := readTopic(t, b, "hs-sales", 150, 10*time.Second)
	prices := readTopic(t, hub, "hs-prices", 100, 10*time.Second)
	cases := []struct {
		name    string
		at      int
		topic   string
		origin  string
		src     []*kgo.Record
		visited string
	}{
		{"aggregate a", 0, "hs-a.hs-sales", "hs-a", salesA, "hs-a,hs-hub"},
		{"aggregate b", 0, "hs-b.hs-sales", "hs-b", salesB, "hs-b,hs-hub"},
		{"broadcast a", 2, "hs-prices", "hs-hub", prices, "hs-hub,hs-a"},
		{"broadcast b", 3, "hs-prices", "hs-hub", prices, "hs-hub,hs-b"},
		{"standby prices", 1, "hs-prices", "hs-hub", prices, "hs-hub,hs-standby"},
		{"standby a", 1, "hs-a.hs-sales", "hs-a", salesA, "hs-a,hs-hub,hs-standby"},
		{"standby b", 1, "hs-b.hs-sales", "hs-b", salesB, "hs-b,hs-hub,hs-standby"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := readTopic(t, clusters[c.at], c.topic, len(c.src), 45*time.Second)
			checkCopies(t, c.origin, c.src, got, c.visited)
			if len(got) != len(c.src) {
				t.Fatalf("%s holds %d records, want %d", c.topic, len(got), len(c.src))
			}
		})
	}
	// Spokes never receive each other's sales, nor their own back.
	for i, n := range []string{"hs-a", "hs-b"} {
		for _, other := range []string{"hs-a", "hs-b"} {
			topic := fmt.Sprintf("%s.hs-sales", other)
			if got := readTopic(t, clusters[2+i], topic, 1, 2*time.Second); len(got) > 0 {
				t.Errorf("spoke %s received %d records of %s", n, len(got), topic)
			}
		}
	}
}
