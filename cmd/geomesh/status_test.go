package main

import (
	"strings"
	"testing"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/topology"
)

// TestPrintStatusStranded: the stranded table appears only when an agent
// settled stranded records, one row per such agent.
func TestPrintStatusStranded(t *testing.T) {
	view := func(agentID string, s *agent.StrandedStatus) agentView {
		return agentView{Region: "us-east", Agent: agentID, Failover: &agent.FailoverStatus{Role: "standby", Epoch: 3, Stranded: s},
			Status: &agent.Status{}, Health: &agent.HealthStatus{}}
	}
	var plain strings.Builder
	if err := printStatus(&plain, []agentView{view("us-east-1", nil)}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "STRANDED") {
		t.Errorf("stranded table without a settlement:\n%s", plain.String())
	}
	var out strings.Builder
	s := &agent.StrandedStatus{Policy: topology.StrandedQuarantine, Source: "us-east", Target: "eu-west", State: "settled", Records: 37, Attempts: 1}
	if err := printStatus(&out, []agentView{view("us-east-1", s)}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	found := false
	for _, l := range lines {
		if f := strings.Fields(l); len(f) == 8 && f[0] == "us-east" && f[2] == "eu-west" && f[3] == "us-east-1" && f[4] == "quarantine" && f[5] == "settled" && f[6] == "37" && f[7] == "1" {
			found = true
		}
	}
	if !found {
		t.Errorf("no stranded row for us-east-1 in:\n%s", out.String())
	}
}
