package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// smallTarget starts a cluster whose brokers refuse records over 100 kB,
// standing in for a target region configured stricter than its source.
func smallTarget(t *testing.T) *kafkatest.Cluster {
	return kafkatest.Start(t, kafkatest.Options{ServerProperties: map[string]string{"message.max.bytes": "100000"}})
}

// meshOn is meshFile for a two-region mesh named after mesh.
func meshOn(t *testing.T, mesh string, src, tgt *kafkatest.Cluster, body string) string {
	t.Helper()
	return meshFile(t, mesh, []region{{mesh + "-src", src, 1}, {mesh + "-tgt", tgt, 1}}, body)
}

func getJSON(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", url, err)
	}
}

func metric(t testing.TB, apiAddr, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + apiAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			return line[strings.LastIndexByte(line, ' ')+1:]
		}
	}
	return ""
}

// TestOversizedRecordPauses sends a record larger than the target accepts:
// only its partition stops, /v1/status and a metric say so, the other
// partitions keep copying, and after the operator raises the target
// topic's limit the record and everything after it arrive exactly once.
func TestOversizedRecordPauses(t *testing.T) {
	tgt := smallTarget(t)
	path := meshOn(t, "e2e-big", clusters[0], tgt, `
topology: {kind: active-passive, primary: e2e-big-src, standby: [e2e-big-tgt]}
topics: {include: ["big-orders"]}
replication: {on_error: pause}
`)
	src := clusters[0]
	createTopic(t, src, "big-orders", 3, nil)
	agents := startAgents(t, path, "e2e-big-tgt")
	api := agents[0].APIAddr()

	// One large record on partition 0 between small ones; small records on
	// every partition after it.
	cl := client(t, src, kgo.DefaultProduceTopic("big-orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var rs []*kgo.Record
	for i := range 30 {
		rs = append(rs, &kgo.Record{Partition: int32(i % 3), Value: []byte(fmt.Sprintf("small-%d", i))})
	}
	rs = append(rs, &kgo.Record{Partition: 0, Value: []byte("big-" + strings.Repeat("x", 200_000))})
	for i := 30; i < 60; i++ {
		rs = append(rs, &kgo.Record{Partition: int32(i % 3), Value: []byte(fmt.Sprintf("small-%d", i))})
	}
	if err := cl.ProduceSync(t.Context(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Partitions 1 and 2 copy everything (20 records each); partition 0
	// stops at the big record after its first 10.
	poll.Until(t, 30*time.Second, func() error {
		var st agent.Status
		getJSON(t, "http://"+api+"/v1/status", &st)
		if len(st.Flows) != 1 || st.Flows[0].Paused != 1 {
			return fmt.Errorf("status shows no paused partition: %+v", st.Flows)
		}
		for _, sh := range st.Flows[0].Shards {
			for _, p := range sh.Partitions {
				if p.Topic == "big-orders" && p.Paused && (p.Partition != 0 || !strings.Contains(p.Error, "max.message.bytes") && !strings.Contains(p.Error, "large")) {
					return fmt.Errorf("unexpected paused partition %+v", p)
				}
			}
		}
		if v := metric(t, api, "geomesh_mirror_paused_partitions"); v != "1" {
			return fmt.Errorf("geomesh_mirror_paused_partitions = %q, want 1", v)
		}
		return nil
	})
	got := readTopic(t, tgt, "big-orders", 50, 20*time.Second)
	if len(got) != 50 {
		t.Fatalf("target holds %d records while partition 0 is paused, want 50 (10 + 20 + 20)", len(got))
	}

	// The operator raises the target topic's limit; the paused partition
	// resumes by itself.
	adm := kadm.NewClient(client(t, tgt))
	if _, err := adm.AlterTopicConfigs(t.Context(), []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr("1048576")}}, "big-orders"); err != nil {
		t.Fatal(err)
	}
	srcRecs := readTopic(t, src, "big-orders", 61, 10*time.Second)
	got = readTopic(t, tgt, "big-orders", 61, 30*time.Second)
	checkCopies(t, "e2e-big-src", srcRecs, got, "")
	poll.Until(t, 15*time.Second, func() error {
		if v := metric(t, api, "geomesh_mirror_paused_partitions"); v != "0" {
			return fmt.Errorf("geomesh_mirror_paused_partitions = %q after resume, want 0", v)
		}
		return nil
	})
}

// TestOversizedRecordDeadLetter sends the same record under the
// dead-letter policy: it lands in the dead-letter topic with headers naming
// its origin and the error, and the partition never stops.
func TestOversizedRecordDeadLetter(t *testing.T) {
	tgt := smallTarget(t)
	path := meshOn(t, "e2e-dlq", clusters[0], tgt, `
topology: {kind: active-passive, primary: e2e-dlq-src, standby: [e2e-dlq-tgt]}
topics: {include: ["dlq-orders"]}
replication: {on_error: dead-letter, dead_letter_topic: "geomesh.dead-letter"}
`)
	src := clusters[0]
	createTopic(t, src, "dlq-orders", 1, nil)
	agents := startAgents(t, path, "e2e-dlq-tgt")
	cl := client(t, src, kgo.DefaultProduceTopic("dlq-orders"))
	big := &kgo.Record{Key: []byte("big"), Value: []byte(strings.Repeat("y", 200_000)), Headers: []kgo.RecordHeader{{Key: "app", Value: []byte("1")}}}
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: []byte("before")}, big, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := readTopic(t, tgt, "dlq-orders", 2, 30*time.Second)
	if len(got) != 2 || string(got[0].Value) != "before" || string(got[1].Value) != "after" {
		t.Fatalf("data topic holds %d records, want before and after", len(got))
	}
	dlq := readTopic(t, tgt, "geomesh.dead-letter", 1, 30*time.Second)
	if len(dlq) != 1 || string(dlq[0].Key) != "big" || len(dlq[0].Value) != 200_000 {
		t.Fatalf("dead-letter topic holds %d records, want the big one", len(dlq))
	}
	if v, _ := testkit.Header(dlq[0], "app"); v != "1" {
		t.Error("dead-letter record lost the original header")
	}
	for k, want := range map[string]string{mirror.HeaderDeadLetterTopic: "dlq-orders", mirror.HeaderDeadLetterPartition: "0", mirror.HeaderDeadLetterOffset: "1"} {
		if v, _ := testkit.Header(dlq[0], k); v != want {
			t.Errorf("dead-letter header %s = %q, want %q", k, v, want)
		}
	}
	if v, _ := testkit.Header(dlq[0], mirror.HeaderDeadLetterError); !strings.Contains(v, "max.message.bytes") {
		t.Errorf("dead-letter error header %q does not name the limit", v)
	}
	if v := metric(t, agents[0].APIAddr(), "geomesh_mirror_dead_letter_records_total"); v != "1" {
		t.Errorf("geomesh_mirror_dead_letter_records_total = %q, want 1", v)
	}
}
