package topology

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// largeMesh is an active-active file of n regions, each with its cluster
// and one agent, as an operator would write it.
func largeMesh(n int) []byte {
	var b strings.Builder
	b.WriteString("mesh: big\ntopology:\n  kind: active-active\nregions:\n")
	for i := range n {
		host := fmt.Sprintf("10.%d.%d.10", i/250, i%250)
		fmt.Fprintf(&b, "  - name: region-%d\n    kafka: {bootstrap: [kafka-1.region-%d.example.com:9093, kafka-2.region-%d.example.com:9093]}\n", i, i, i)
		fmt.Fprintf(&b, "    agents: [{id: region-%d-1, gossip: %s:7946, api: %s:8080, control: %s:6222}]\n", i, host, host, host)
	}
	b.WriteString("topics: {include: [orders, 'payments.*'], exclude: ['.*\\.internal']}\n")
	b.WriteString("replication: {on_error: dead-letter, dead_letter_topic: dead-letters}\n")
	b.WriteString("failover: {mode: automatic, detection: {down_after: 30s}}\n")
	b.WriteString("allow_insecure: [control-plane-without-tls, api-without-token]\n")
	return []byte(b.String())
}

// TestLargeMeshCost: validating an active-active mesh of 1,000 regions
// (999,000 flows) takes well under 2s and 200 MB, as `geomesh validate`
// does it: parse, check, count the flows.
func TestLargeMeshCost(t *testing.T) {
	data := largeMesh(1000)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	m, err := Parse("big.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	flows := FlowCount(m)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d bytes of YAML, %d flows: %s, %d MB allocated", len(data), flows, took, allocated>>20)
	if flows != 1000*999 {
		t.Errorf("%d flows, want %d", flows, 1000*999)
	}
	if took > 2*time.Second {
		t.Errorf("validation took %s, want under 2s", took)
	}
	// Everything allocated, live or not: a bound on the peak too.
	if allocated > 200<<20 {
		t.Errorf("validation allocated %d MB, want under 200 MB", allocated>>20)
	}
}

// TestFlowCount: FlowCount counts what Plan plans.
func TestFlowCount(t *testing.T) {
	for _, f := range []string{"../configs/examples/active-passive.yaml", "../configs/examples/active-active.yaml",
		"../configs/examples/hub-spoke.yaml", "testdata/valid/full.yaml", "testdata/valid/minimal.yaml"} {
		m := mustLoad(t, f)
		if got, want := FlowCount(m), len(Plan(m)); got != want {
			t.Errorf("%s: FlowCount %d, Plan %d flows", f, got, want)
		}
	}
}
