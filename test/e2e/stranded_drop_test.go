//go:build linux

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
)

// TestFailoverStrandedDrop: the standby's agent stops, the primary takes 37
// records it cannot replicate, then dies; the standby is promoted and takes
// records of its own. When the old primary returns with failover.stranded:
// drop it reports the 37 (status, metric, the rejoin decision, its log)
// and copies them nowhere: the new primary holds no copy of them, in its
// live topic or any other, and no <topic>.stranded topic. Nothing else is
// lost: the old primary receives the new primary's records, and after the
// failback home the resumed flow copies what the primary takes next and
// not the dropped records; the new primary's live topic holds every other
// record of the old primary exactly once.
func TestFailoverStrandedDrop(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	r := strandedScenario(t, ctx, "e2e-sd", topology.StrandedDrop, clusters[1])
	r.checkSettled(t)
	if want := fmt.Sprintf("records=%d", strandedN); !hasLine(r.logs.String(), `msg="stranded records settled"`, "policy=drop", want) {
		t.Errorf("no log line of %s saying that %d stranded records were dropped", r.eastName, strandedN)
	}

	// Copied nowhere: no topic of the new primary holds a copy of them.
	checkNoCopies := func(when string) {
		t.Helper()
		topics, err := kadm.NewClient(client(t, r.west)).ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if topics.Has("ledger.stranded") {
			t.Errorf("%s: %s holds a topic ledger.stranded under the drop policy", when, r.westName)
		}
		for _, name := range topics.Names() {
			if strings.HasPrefix(name, "__") {
				continue
			}
			for p := range topics[name].Partitions {
				for _, rec := range readPartition(t, r.west, name, p) {
					if o, _ := testkit.Header(rec, mirror.HeaderOriginRegion); o == r.eastName && seq(rec) >= 100 && seq(rec) < 100+strandedN {
						t.Errorf("%s: %s/%d offset %d on %s is a copy of dropped record %s", when, name, p, rec.Offset, r.westName, rec.Value)
					}
				}
			}
		}
	}
	checkNoCopies("after the settlement")

	r.failback(t, ctx)
	checkNoCopies("after the failback")
	t.Logf("%d stranded records dropped and reported; %s holds each of the other 110 records of %s once, and none of the dropped", strandedN, r.westName, r.eastName)
}

// hasLine reports whether one line of logs holds every part.
func hasLine(logs string, parts ...string) bool {
	for line := range strings.Lines(logs) {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}
