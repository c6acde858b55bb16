package plane

import (
	"slices"
	"testing"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/topology"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestGrantWrites: the host hears the state's writer set, which in an
// active-active mesh is every active region and not just one of them,
// and never this region while it is fenced.
func TestGrantWrites(t *testing.T) {
	aaActive := api.State{Epoch: 1, Regions: map[string]api.RegionState{
		"us-east": {Role: api.RoleActive}, "eu-west": {Role: api.RoleActive}, "ap-south": {Role: api.RoleActive}}}
	aaEvacuated := api.State{Epoch: 2, Regions: map[string]api.RegionState{
		"us-east": {Role: api.RoleActive}, "eu-west": {Role: api.RoleEvacuated, ClientsTo: "ap-south"}, "ap-south": {Role: api.RoleActive}}}
	apInit := api.State{Epoch: 1, Regions: map[string]api.RegionState{
		"us-east": {Role: api.RolePrimary}, "eu-west": {Role: api.RoleStandby}, "witness": {Role: api.RoleWitness}}}
	apFailover := api.State{Epoch: 2, Regions: map[string]api.RegionState{
		"us-east": {Role: api.RoleFenced}, "eu-west": {Role: api.RolePrimary}, "witness": {Role: api.RoleWitness}}}
	for _, tc := range []struct {
		name, file, region string
		st                 machine.Status
		want               []string
	}{
		{"active-active, all active", "active-active.yaml", "eu-west",
			machine.Status{State: &aaActive}, []string{"ap-south", "eu-west", "us-east"}},
		{"active-active, another region evacuated", "active-active.yaml", "us-east",
			machine.Status{State: &aaEvacuated}, []string{"ap-south", "us-east"}},
		{"active-active, fenced", "active-active.yaml", "eu-west",
			machine.Status{State: &aaActive, Fenced: true}, []string{"ap-south", "us-east"}},
		{"active-passive standby", "active-passive.yaml", "eu-west",
			machine.Status{State: &apInit}, []string{"us-east"}},
		{"active-passive promoted standby", "active-passive.yaml", "eu-west",
			machine.Status{State: &apFailover}, []string{"eu-west"}},
		{"active-passive promoted and fenced", "active-passive.yaml", "eu-west",
			machine.Status{State: &apFailover, Fenced: true}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, h := testPlane(t, "../../configs/examples/"+tc.file, tc.region)
			p.grantWrites(tc.st)
			if got, _ := h.lastWriters(); !slices.Equal(got, tc.want) {
				t.Errorf("writers granted in %s: %v, want %v", tc.region, got, tc.want)
			}
		})
	}
}

// TestSoleWriter: the stranded records of a fenced region go to the one
// writer of an active-passive or hub-spoke mesh; active-active has none.
func TestSoleWriter(t *testing.T) {
	hsFailover := &api.State{Epoch: 2, Regions: map[string]api.RegionState{
		"central": {Role: api.RoleFenced}, "central-2": {Role: api.RoleHub}, "store-a": {Role: api.RoleSpoke}}}
	aa := &api.State{Epoch: 1, Regions: map[string]api.RegionState{"a": {Role: api.RoleActive}}}
	none := &api.State{Epoch: 3, Regions: map[string]api.RegionState{"a": {Role: api.RoleFenced}}}
	for _, tc := range []struct {
		kind topology.Kind
		s    *api.State
		want string
	}{
		{topology.KindHubSpoke, hsFailover, "central-2"},
		{topology.KindActiveActive, aa, ""},
		{topology.KindActivePassive, none, ""},
	} {
		if got := tc.s.SoleWriter(tc.kind); got != tc.want {
			t.Errorf("SoleWriter(%s) of %s = %q, want %q", tc.kind, tc.s, got, tc.want)
		}
	}
}

// TestEvacuationGrantsWrites: an evacuation is no promotion or demotion,
// yet the host hears the evacuated region leave the writers and its role
// metric says evacuated; it is a writer again when it returns.
func TestEvacuationGrantsWrites(t *testing.T) {
	d, h := testPlane(t, "../../configs/examples/active-active.yaml", "eu-west")
	states := []api.State{
		{Epoch: 1, Regions: map[string]api.RegionState{
			"us-east": {Role: api.RoleActive}, "eu-west": {Role: api.RoleActive}, "ap-south": {Role: api.RoleActive}}},
		{Epoch: 2, Decision: api.DecisionEvacuate, Regions: map[string]api.RegionState{
			"us-east": {Role: api.RoleActive}, "eu-west": {Role: api.RoleEvacuated, ClientsTo: "ap-south"}, "ap-south": {Role: api.RoleActive}}},
		{Epoch: 3, Regions: map[string]api.RegionState{
			"us-east": {Role: api.RoleActive}, "eu-west": {Role: api.RoleActive}, "ap-south": {Role: api.RoleActive}}},
	}
	for i, want := range [][]string{{"ap-south", "eu-west", "us-east"}, {"ap-south", "us-east"}, {"ap-south", "eu-west", "us-east"}} {
		st := states[i]
		// The decision loop's step without the flows, which need a
		// running agent.
		queue := d.m.Step(machine.StateChanged{State: &st})
		for len(queue) > 0 {
			act := queue[0]
			queue = append(queue[1:], d.do(t.Context(), act)...)
		}
		d.settleRole()
		if got, _ := h.lastWriters(); !slices.Equal(got, want) {
			t.Errorf("epoch %d: writers granted %v, want %v", st.Epoch, got, want)
		}
		role := string(st.Role("eu-west"))
		if v := gaugeValue(t, d.met.role.WithLabelValues("eu-west", role)); v != 1 {
			t.Errorf("epoch %d: geomesh_failover_role{role=%q} = %v, want 1", st.Epoch, role, v)
		}
		if v := gaugeValue(t, d.met.epoch); v != float64(st.Epoch) {
			t.Errorf("epoch gauge %v, want %d", v, st.Epoch)
		}
	}
}

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
