package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTranslateAsksAgent: the consumer sends the api read token, asks
// again while a partition is "behind", keeps only its own topics, and
// gives up at once when the agent has no flow from the old region.
func TestTranslateAsksAgent(t *testing.T) {
	t.Setenv("GM_READ_TOKEN", "s3cret")
	var calls atomic.Int32
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"a valid read bearer token is required"}`)
			return
		}
		if r.URL.Query().Get("from") != "east" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"no flow from region \"nowhere\" into west"}`)
			return
		}
		state := "behind"
		if calls.Add(1) > 2 {
			state = "copied"
		}
		fmt.Fprintf(w, `{"group":"g","from":"east","to":"west","partitions":[
			{"topic":"orders","partition":0,"source_offset":7,"target_topic":"orders","target_offset":9,"state":"end"},
			{"topic":"orders","partition":1,"source_offset":5,"target_topic":"orders","target_offset":6,"state":%q},
			{"topic":"other","partition":0,"source_offset":1,"target_topic":"other","target_offset":1,"state":"behind"}]}`, state)
	}))
	defer agent.Close()
	// Only west's agent answers; the other addresses refuse connections.
	nowhere := func() string { return testkit.RefusedAddr(t) }
	m, err := topology.Parse("t.yaml", fmt.Appendf(nil, `
mesh: t
topology: {kind: active-passive, primary: east, standby: [west]}
api: {read_token: "env:GM_READ_TOKEN", admin_token: "env:GM_ADMIN_TOKEN"}
regions:
  - {name: east, kafka: {bootstrap: [%s]}, agents: [{id: east-1, gossip: %s, api: %s}]}
  - {name: west, kafka: {bootstrap: [%s]}, agents: [{id: west-1, gossip: %s, api: %q}]}
control_plane: {urls: ["nats://%s"]}
`, nowhere(), nowhere(), nowhere(), nowhere(), nowhere(), strings.TrimPrefix(agent.URL, "http://"), nowhere()))
	if err != nil {
		t.Fatal(err)
	}
	c := &Consumer{mesh: m, group: "g", cfg: defaults()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := c.translate(ctx, "east", "west", map[string]bool{"orders": true})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "map[orders:map[0:9 1:6]]" || calls.Load() != 3 {
		t.Fatalf("translated %v after %d calls", got, calls.Load())
	}
	if _, err := c.translate(ctx, "nowhere", "west", map[string]bool{"orders": true}); !errors.Is(err, errNoFlow) {
		t.Fatalf("no flow: %v", err)
	}
}

// TestResumeHint: a partition whose last record consumed is a copy of a
// record of the region the consumer moves to resumes right after the
// original, whatever the agent says; the others keep the agent's answer,
// and so does a partition another member read further.
func TestResumeHint(t *testing.T) {
	copyOf := func(offset int64, region string, originOffset int) *kgo.Record {
		r := &kgo.Record{Topic: "orders", Partition: int32(offset % 3), Offset: offset}
		if region != "" {
			r.Headers = []kgo.RecordHeader{
				{Key: HeaderOriginRegion, Value: []byte(region)}, {Key: HeaderOriginTopic, Value: []byte("orders")},
				{Key: HeaderOriginPartition, Value: []byte(fmt.Sprint(offset % 3))}, {Key: HeaderOriginOffset, Value: []byte(fmt.Sprint(originOffset))},
			}
		}
		return r
	}
	// Parsed only: nothing of it is reached.
	nowhere := func() string { return testkit.RefusedAddr(t) }
	m, err := topology.Parse("t.yaml", fmt.Appendf(nil, `
mesh: t
topology: {kind: active-passive, primary: east, standby: [west]}
regions:
  - {name: east, kafka: {bootstrap: [%s]}, agents: [{id: east-1, gossip: %s, api: %s}]}
  - {name: west, kafka: {bootstrap: [%s]}, agents: [{id: west-1, gossip: %s, api: %s}]}
control_plane: {urls: ["nats://%s"]}
`, nowhere(), nowhere(), nowhere(), nowhere(), nowhere(), nowhere(), nowhere()))
	if err != nil {
		t.Fatal(err)
	}
	c := &Consumer{mesh: m, flows: topology.Plan(m), origin: "east", group: "g", cfg: defaults()}
	c.cfg.topics = []string{"orders"}
	c.last.note(copyOf(30, "east", 70)) // partition 0: a copy of east's 70
	c.last.note(copyOf(31, "", 0))      // partition 1: produced in west
	c.last.note(copyOf(32, "east", 12)) // partition 2: a copy, but another member read on to 40
	res := &api.TranslateResponse{Partitions: []api.Translation{
		{Topic: "orders", Partition: 0, SourceOffset: 31, TargetTopic: "orders", TargetOffset: 55, State: "behind"},
		{Topic: "orders", Partition: 1, SourceOffset: 32, TargetTopic: "orders", TargetOffset: 90, State: "copied"},
		{Topic: "orders", Partition: 2, SourceOffset: 40, TargetTopic: "orders", TargetOffset: 20, State: "end"},
	}}
	got, ends, err := translated(res, map[string]bool{"orders": true}, c.resumeHint("east"))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "map[orders:map[0:71 1:90 2:20]]" || len(ends) != 1 || ends[0].Partition != 2 {
		t.Fatalf("translated %v", got)
	}
	// Moving elsewhere, the copies of east's records say nothing.
	if _, _, err := translated(res, map[string]bool{"orders": true}, c.resumeHint("west")); err == nil || !strings.Contains(err.Error(), "partition 0 at 31: behind") {
		t.Fatalf("without a hint: %v", err)
	}
}

// TestReadBeforeFilter: after a switch away from an unreachable east, the
// copies in west of what this instance read in east are dropped (east's
// own records and the copies east held of west's), everything past them
// and every other partition is kept.
func TestReadBeforeFilter(t *testing.T) {
	rec := func(topic string, p int32, offset int64, region string, originOffset int64) *kgo.Record {
		r := &kgo.Record{Topic: topic, Partition: p, Offset: offset}
		if region != "" {
			r.Headers = []kgo.RecordHeader{
				{Key: HeaderOriginRegion, Value: []byte(region)}, {Key: HeaderOriginTopic, Value: []byte(topic)},
				{Key: HeaderOriginPartition, Value: []byte(fmt.Sprint(p))}, {Key: HeaderOriginOffset, Value: []byte(fmt.Sprint(originOffset))},
			}
		}
		return r
	}
	var last lastRecords
	last.note(rec("orders", 0, 40, "", 0))     // east's own record 40
	last.note(rec("orders", 1, 12, "west", 7)) // a copy of west's orders[1]@7
	before := last.readBefore("east")
	if len(before) != 2 || before[origin{"east", "orders", 0}] != 40 || before[origin{"west", "orders", 1}] != 7 {
		t.Fatalf("readBefore: %v", before)
	}
	for _, tc := range []struct {
		name    string
		in      []*kgo.Record
		kept    string
		dropped int
	}{
		{"copies up to the last read", []*kgo.Record{rec("orders", 0, 100, "east", 39), rec("orders", 0, 101, "east", 40)}, "", 2},
		{"west's own records up to the copy read", []*kgo.Record{rec("orders", 1, 6, "", 0), rec("orders", 1, 7, "", 0)}, "", 2},
		{"past the last read", []*kgo.Record{rec("orders", 0, 102, "east", 41), rec("orders", 1, 8, "", 0)}, "orders/0@102 orders/1@8 ", 0},
		{"forgotten once past", []*kgo.Record{rec("orders", 0, 103, "east", 5)}, "orders/0@103 ", 0},
		{"other partitions", []*kgo.Record{rec("orders", 2, 3, "east", 1), rec("payments", 0, 1, "", 0)}, "orders/2@3 payments/0@1 ", 0},
	} {
		kept, dropped := before.filter("west", tc.in)
		var got strings.Builder
		for _, r := range kept {
			fmt.Fprintf(&got, "%s/%d@%d ", r.Topic, r.Partition, r.Offset)
		}
		if got.String() != tc.kept || dropped != tc.dropped {
			t.Errorf("%s: kept %q dropped %d, want %q and %d", tc.name, got.String(), dropped, tc.kept, tc.dropped)
		}
	}
	if len(before) != 0 {
		t.Errorf("partitions still filtered after records past them: %v", before)
	}
}
