package agent

import (
	"maps"
	"slices"
	"testing"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/topology"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// writableDecisions is region's decision plane in the example mesh file
// (naming overridden when set), with a runner for every flow into region.
func writableDecisions(t *testing.T, file, region string, naming topology.Naming) *decisions {
	t.Helper()
	m, err := topology.Load("../configs/examples/" + file)
	if err != nil {
		t.Fatal(err)
	}
	if naming != "" {
		m.Naming = naming
	}
	d := strandedDecisions(t, "../configs/examples/"+file, region)
	d.a.cfg.Mesh = m
	if d.a.met, err = newMetrics(prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, cl := range d.a.clients {
			cl.Close()
		}
	})
	for _, f := range topology.Plan(m) {
		if f.Target != region {
			continue
		}
		fr, err := d.a.newFlowRunner(f)
		if err != nil {
			t.Fatal(err)
		}
		d.a.runners = append(d.a.runners, fr)
	}
	if len(d.a.runners) == 0 {
		t.Fatalf("%s: no flow into %s", file, region)
	}
	return d
}

// writable returns the sources of the flows whose copies take writes.
func writable(d *decisions) []string {
	out := map[string]bool{}
	for _, fr := range d.a.runners {
		if fr.acls.Status().Writable {
			out[fr.flow.Source] = true
		}
	}
	return slices.Sorted(maps.Keys(out))
}

// TestGrantWrites: copies take the applications' writes only in a region
// of the state's writer set, which in an active-active mesh is every
// active region and not just one of them.
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
		naming             topology.Naming
		st                 machine.Status
		want               []string
	}{
		// Every active region writes its identity copies, whichever
		// region map iteration would have named first.
		{"active-active identity, all active", "active-active.yaml", "eu-west", topology.NamingIdentity,
			machine.Status{State: &aaActive}, []string{"ap-south", "us-east"}},
		{"active-active identity, in another active region", "active-active.yaml", "us-east", topology.NamingIdentity,
			machine.Status{State: &aaEvacuated}, []string{"ap-south", "eu-west"}},
		{"active-active identity, evacuated", "active-active.yaml", "eu-west", topology.NamingIdentity,
			machine.Status{State: &aaEvacuated}, nil},
		{"active-active identity, fenced", "active-active.yaml", "eu-west", topology.NamingIdentity,
			machine.Status{State: &aaActive, Fenced: true}, nil},
		{"active-active prefixed copies never", "active-active.yaml", "eu-west", "",
			machine.Status{State: &aaActive}, nil},
		{"active-passive standby", "active-passive.yaml", "eu-west", "",
			machine.Status{State: &apInit}, nil},
		{"active-passive promoted standby", "active-passive.yaml", "eu-west", "",
			machine.Status{State: &apFailover}, []string{"us-east"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := writableDecisions(t, tc.file, tc.region, tc.naming)
			d.grantWrites(tc.st)
			if got := writable(d); !slices.Equal(got, tc.want) {
				t.Errorf("writable copies in %s from %v, want %v", tc.region, got, tc.want)
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
// yet the evacuated region's copies stop taking writes and its role
// metric says evacuated; they take writes again when it returns.
func TestEvacuationGrantsWrites(t *testing.T) {
	d := writableDecisions(t, "active-active.yaml", "eu-west", topology.NamingIdentity)
	states := []api.State{
		{Epoch: 1, Regions: map[string]api.RegionState{
			"us-east": {Role: api.RoleActive}, "eu-west": {Role: api.RoleActive}, "ap-south": {Role: api.RoleActive}}},
		{Epoch: 2, Decision: api.DecisionEvacuate, Regions: map[string]api.RegionState{
			"us-east": {Role: api.RoleActive}, "eu-west": {Role: api.RoleEvacuated, ClientsTo: "ap-south"}, "ap-south": {Role: api.RoleActive}}},
		{Epoch: 3, Regions: map[string]api.RegionState{
			"us-east": {Role: api.RoleActive}, "eu-west": {Role: api.RoleActive}, "ap-south": {Role: api.RoleActive}}},
	}
	for i, want := range [][]string{{"ap-south", "us-east"}, nil, {"ap-south", "us-east"}} {
		st := states[i]
		// The decision loop's step without the flows, which need a
		// running agent.
		queue := d.m.Step(machine.StateChanged{State: &st})
		for len(queue) > 0 {
			act := queue[0]
			queue = append(queue[1:], d.do(t.Context(), act)...)
		}
		d.settleRole()
		if got := writable(d); !slices.Equal(got, want) {
			t.Errorf("epoch %d: writable copies in eu-west from %v, want %v", st.Epoch, got, want)
		}
		role := string(st.Role("eu-west"))
		if v := gaugeValue(t, d.a.fmet.role.WithLabelValues("eu-west", role)); v != 1 {
			t.Errorf("epoch %d: geomesh_failover_role{role=%q} = %v, want 1", st.Epoch, role, v)
		}
		if v := gaugeValue(t, d.a.fmet.epoch); v != float64(st.Epoch) {
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
