package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
)

// TestBootstrapFor: GET /v1/bootstrap names the cluster that takes the
// writes under the state, or says why none does.
func TestBootstrapFor(t *testing.T) {
	load := func(file string) *topology.Mesh {
		m, err := topology.Load("../configs/examples/" + file)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ap, aa, hs := load("active-passive.yaml"), load("active-active.yaml"), load("hub-spoke.yaml")
	state := func(epoch uint64, roles ...string) *api.State {
		s := &api.State{Epoch: epoch, Regions: map[string]api.RegionState{}}
		for _, w := range roles {
			name, role, _ := strings.Cut(w, "=")
			r, to, _ := strings.Cut(role, ">")
			s.Regions[name] = api.RegionState{Role: api.Role(r), ClientsTo: to}
		}
		return s
	}
	bootstrap := func(m *topology.Mesh, region string) []string {
		r, _ := m.Region(region)
		return r.Kafka.Bootstrap
	}
	for _, tc := range []struct {
		name   string
		m      *topology.Mesh
		st     *api.State
		home   string
		code   int
		region string
		err    string
	}{
		{"no state", ap, nil, "", http.StatusServiceUnavailable, "", "no mesh state"},
		{"primary", ap, state(1, "us-east=primary", "eu-west=standby", "witness=witness"), "", 200, "us-east", ""},
		{"after a failover", ap, state(2, "us-east=fenced", "eu-west=primary", "witness=witness"), "", 200, "eu-west", ""},
		{"hub after its failover", hs, state(2, "central=fenced", "central-2=hub", "store-a=spoke"), "", 200, "central-2", ""},
		{"lost hub without heir", hs, state(2, "central=fenced", "store-a=spoke"), "", http.StatusConflict, "", "no region takes writes at epoch 2"},
		{"active-active needs home", aa, state(1, "us-east=active", "eu-west=active"), "", http.StatusBadRequest, "", "?home="},
		{"active-active home", aa, state(1, "us-east=active", "eu-west=active"), "eu-west", 200, "eu-west", ""},
		{"active-active evacuated home", aa, state(2, "us-east=evacuated>eu-west", "eu-west=active"), "us-east", 200, "eu-west", ""},
		{"active-active unknown home", aa, state(1, "us-east=active"), "mars", http.StatusNotFound, "", `no region "mars"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, code, err := api.BootstrapFor(tc.m, tc.st, tc.home)
			if code != tc.code {
				t.Fatalf("code %d, want %d (err %v)", code, tc.code, err)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil || res.Region != tc.region || !slices.Equal(res.Bootstrap, bootstrap(tc.m, tc.region)) || res.Epoch != tc.st.Epoch {
				t.Errorf("%+v, %v; want region %s with its bootstrap at epoch %d", res, err, tc.region, tc.st.Epoch)
			}
		})
	}
}
