//go:build linux

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
)

// partitionRPOs reads every partition's RPO of the flow into west from
// its /v1/status, /v1/failover and /metrics, and fails unless the three
// agree on which partitions there are.
func partitionRPOs(t *testing.T, west *agent.Agent, topic string, partitions int) (status, failover float64, metric map[int]float64, each map[int]float64) {
	t.Helper()
	st := west.Status()
	if len(st.Flows) != 1 {
		t.Fatalf("west runs %d flows, want 1", len(st.Flows))
	}
	each = map[int]float64{}
	for _, s := range st.Flows[0].Shards {
		for _, p := range s.Partitions {
			if p.Topic == topic {
				each[int(p.Partition)] = p.RPOSeconds
			}
		}
	}
	fs := west.Failover()
	if len(fs.Flows) != 1 {
		t.Fatalf("west's /v1/failover lists %d flows, want 1", len(fs.Flows))
	}
	resp, err := http.Get("http://" + west.APIAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metric = map[int]float64{}
	re := regexp.MustCompile(`geomesh_mirror_partition_rpo_seconds\{[^}]*partition="(\d+)"[^}]*topic="` + regexp.QuoteMeta(topic) + `"[^}]*\} (\S+)`)
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		p, _ := strconv.Atoi(m[1])
		v, _ := strconv.ParseFloat(m[2], 64)
		metric[p] = v
	}
	if len(each) != partitions || len(metric) != partitions {
		t.Fatalf("partitions of %s with an RPO: %d in /v1/status, %d in /metrics, want %d", topic, len(each), len(metric), partitions)
	}
	return st.Flows[0].RPOSeconds, fs.Flows[0].RPOSeconds, metric, each
}

// TestPartitionRPO checks the RPO per partition on real Kafka against
// what happens to the source: small while the copy keeps up, growing
// with the time the source has been unreachable once it stops (the lag
// alone would read 0: the copy no longer learns the partitions' ends),
// with its records listed per partition in /v1/failover while the copy
// is behind, and small again once the source returns.
func TestPartitionRPO(t *testing.T) {
	const mesh, parts = "e2e-rpo", 3
	topic := mesh + "-orders"
	east := kafkatest.Start(t, kafkatest.Options{})
	westKafka := kafkatest.Start(t, kafkatest.Options{})
	_, text := applyMesh(t, mesh, east, westKafka, `"`+topic+`"`)
	// Manual failover: the source's loss must not move the flow.
	path := testkit.TempFile(t, mesh+"-manual.yaml", strings.Replace(text, "mode: automatic", "mode: manual", 1))
	createTopic(t, east, topic, parts, nil)
	ma := newMeshAgents(t, path)
	ma.partitionLag = true
	_, west, _ := ma.startActivePassive(mesh)
	produce(t, east, mesh+"-east", topic, 0, 300)
	readTopic(t, westKafka, topic, 300, 60*time.Second)

	low := func(when string) {
		t.Helper()
		poll.Until(t, 30*time.Second, func() error {
			flow, fo, metric, each := partitionRPOs(t, west, topic, parts)
			for p := range parts {
				if each[p] > 3 || metric[p] > 3 {
					return fmt.Errorf("%s: partition %d RPO %.1fs in /v1/status, %.1fs in /metrics; want at most 3s", when, p, each[p], metric[p])
				}
			}
			if flow > 3 || fo > 3 {
				return fmt.Errorf("%s: flow RPO %.1fs in /v1/status, %.1fs in /v1/failover; want at most 3s", when, flow, fo)
			}
			return nil
		})
	}
	low("copy keeping up")

	if err := east.StopBroker(0); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	time.Sleep(8 * time.Second)
	flow, fo, metric, each := partitionRPOs(t, west, topic, parts)
	down := time.Since(stopped).Seconds()
	for p := range parts {
		if each[p] < down-3 || metric[p] < down-3 {
			t.Errorf("source down %.1fs: partition %d RPO %.1fs in /v1/status, %.1fs in /metrics; want at least %.1fs", down, p, each[p], metric[p], down-3)
		}
	}
	if flow < down-3 || fo < down-3 {
		t.Errorf("source down %.1fs: flow RPO %.1fs in /v1/status, %.1fs in /v1/failover; want at least %.1fs", down, flow, fo, down-3)
	}
	t.Logf("source down %.1fs: partition RPOs %v s, flow %.1fs", down, each, flow)

	if err := east.StartBroker(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	low("source back")

	// The target down: what the source takes meanwhile is behind, and
	// /v1/failover lists it per partition.
	if err := westKafka.StopBroker(0); err != nil {
		t.Fatal(err)
	}
	produce(t, east, mesh+"-east", topic, 300, 200)
	poll.Until(t, 30*time.Second, func() error {
		fs := west.Failover()
		if len(fs.Flows) != 1 {
			return fmt.Errorf("west's /v1/failover lists %d flows", len(fs.Flows))
		}
		var sum int64
		seen := map[int32]bool{}
		for _, b := range fs.Flows[0].Behind {
			if b.Topic == topic && b.Seconds > 0 {
				sum += b.Records
				seen[b.Partition] = true
			}
		}
		if sum != 200 || len(seen) != parts {
			return fmt.Errorf("partitions behind %+v: %d records over %d partitions, want the 200 written over %d", fs.Flows[0].Behind, sum, len(seen), parts)
		}
		return nil
	})
	if err := westKafka.StartBroker(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	low("target back")
	if fs := west.Failover(); len(fs.Flows) != 1 || len(fs.Flows[0].Behind) != 0 {
		t.Fatalf("partitions behind once the target is back: %+v", fs.Flows)
	}
	readTopic(t, westKafka, topic, 500, 60*time.Second)
}
