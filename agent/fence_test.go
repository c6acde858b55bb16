package agent

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/mirror/acls"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestDeniesWrites(t *testing.T) {
	state := func(role api.Role) *api.State {
		return &api.State{Epoch: 3, Regions: map[string]api.RegionState{"east": {Role: role}, "west": {Role: api.RolePrimary}}}
	}
	for _, tc := range []struct {
		name          string
		st            machine.Status
		fenced, known bool
	}{
		{"no state read yet: leave the cluster as it is", machine.Status{}, false, false},
		{"primary", machine.Status{State: state(api.RolePrimary)}, false, true},
		{"primary that fenced itself", machine.Status{State: state(api.RolePrimary), Fenced: true}, true, true},
		{"standby", machine.Status{State: state(api.RoleStandby)}, true, true},
		{"demoted old primary", machine.Status{State: state(api.RoleFenced)}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fenced, known := deniesWrites(tc.st, "east")
			if fenced != tc.fenced || known != tc.known {
				t.Errorf("deniesWrites = %v, %v; want %v, %v", fenced, known, tc.fenced, tc.known)
			}
		})
	}
}

func TestFenceMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newFenceMetrics(reg, "east")
	if err != nil {
		t.Fatal(err)
	}
	denied := fmt.Errorf("region east: User:geomesh may not ALTER the CLUSTER: %w", kerr.ClusterAuthorizationFailed)
	for _, r := range []acls.FenceReport{
		{Held: 2},
		{Held: 2, Err: denied},
		{Held: 2, Err: denied},
		{Held: 1, Err: errors.New("region east: acls: i/o timeout")},
		{Held: 0, Err: fmt.Errorf("region east: %w", acls.ErrNoAuthorizer)},
	} {
		m.ObserveFence(r)
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range mt.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			got[key] = mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"geomesh_acl_fence_denies region=east":                           0,
		"geomesh_acl_fence_errors_total class=authorization region=east": 2,
		"geomesh_acl_fence_errors_total class=other region=east":         1,
	}
	if !maps.Equal(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
}
