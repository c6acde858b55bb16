package main

import (
	"strings"
	"testing"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/mirror/offsets"
	"github.com/geomesh/geomesh/topology"
)

// TestPrintStatusStranded: the stranded table appears only when an agent
// settled stranded records, one row per such agent.
func TestPrintStatusStranded(t *testing.T) {
	view := func(agentID string, s *api.StrandedStatus) agentView {
		return agentView{Region: "us-east", Agent: agentID, Failover: &api.FailoverStatus{Role: "standby", Epoch: 3, Stranded: s},
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
	s := &api.StrandedStatus{Policy: topology.StrandedQuarantine, Source: "us-east", Target: "eu-west", State: "settled", Records: 37, Attempts: 1}
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

// TestPrintStatusOffsetSync: every flow's group sync is a row, and each
// failing group a row of its own with its class and error.
func TestPrintStatusOffsetSync(t *testing.T) {
	st := &agent.Status{OffsetSync: []offsets.SyncStatus{
		{Source: "us-east", Target: "eu-west", Groups: 2, InStepAge: 200, Committed: 42, Failing: []offsets.GroupSyncError{
			{Group: "billing", Class: offsets.SyncClassAuthorization, Error: "cluster eu-west: commit offsets of group billing: GROUP_AUTHORIZATION_FAILED", For: 199},
		}},
		{Source: "ap-south", Target: "eu-west", Groups: 1, InStepAge: 0.4, Committed: 7, Failing: []offsets.GroupSyncError{}},
	}}
	view := agentView{Region: "eu-west", Agent: "eu-west-1", Failover: &api.FailoverStatus{Role: "standby"}, Status: st, Health: &agent.HealthStatus{}}
	var out strings.Builder
	if err := printStatus(&out, []agentView{view}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"us-east":  {"us-east", "→", "eu-west", "eu-west-1", "2", "3m20s", "ago", "1", "42"},
		"ap-south": {"ap-south", "→", "eu-west", "eu-west-1", "1", "400ms", "ago", "0", "7"},
		"billing":  {"billing", "us-east", "→", "eu-west", "eu-west-1", "authorization", "3m19s", "cluster", "eu-west:", "commit", "offsets", "of", "group", "billing:", "GROUP_AUTHORIZATION_FAILED"},
	}
	for _, l := range strings.Split(out.String(), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && strings.Join(f, " ") == strings.Join(want[f[0]], " ") {
			delete(want, f[0])
		}
	}
	if len(want) > 0 {
		t.Errorf("rows missing %v in:\n%s", want, out.String())
	}
	if !strings.Contains(out.String(), "GROUP NOT SYNCED") {
		t.Errorf("no table of failing groups in:\n%s", out.String())
	}

	st.OffsetSync = st.OffsetSync[1:]
	out.Reset()
	if err := printStatus(&out, []agentView{view}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "GROUP NOT SYNCED") || !strings.Contains(out.String(), "GROUP SYNC") {
		t.Errorf("with no failing group: want the sync table only, got:\n%s", out.String())
	}
}
