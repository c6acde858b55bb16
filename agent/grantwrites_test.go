package agent

import (
	"maps"
	"slices"
	"testing"

	"github.com/geomesh/geomesh/topology"
	"github.com/prometheus/client_golang/prometheus"
)

// TestGrantWrites: which copies of a region take the applications'
// writes for a writer set the failover plane hands over.
func TestGrantWrites(t *testing.T) {
	for _, tc := range []struct {
		name, file, region string
		naming             topology.Naming
		writers            []string
		want               []string // sources of the writable copies
	}{
		{"active-active identity, all active", "active-active.yaml", "eu-west", topology.NamingIdentity,
			[]string{"ap-south", "eu-west", "us-east"}, []string{"ap-south", "us-east"}},
		{"active-active identity, evacuated", "active-active.yaml", "eu-west", topology.NamingIdentity,
			[]string{"ap-south", "us-east"}, nil},
		{"active-active prefixed copies never", "active-active.yaml", "eu-west", "",
			[]string{"ap-south", "eu-west", "us-east"}, nil},
		{"active-passive standby", "active-passive.yaml", "eu-west", "", []string{"us-east"}, nil},
		{"active-passive promoted standby", "active-passive.yaml", "eu-west", "", []string{"eu-west"}, []string{"us-east"}},
		{"active-passive no writer", "active-passive.yaml", "eu-west", "", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := topology.Load("../configs/examples/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if tc.naming != "" {
				m.Naming = tc.naming
			}
			a, err := New(Config{Mesh: m, Region: tc.region, ControlDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if a.met, err = newMetrics(prometheus.NewRegistry()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				for _, cl := range a.clients {
					cl.Close()
				}
			})
			var runners []*flowRunner
			for _, f := range topology.Plan(m) {
				if f.Target != tc.region {
					continue
				}
				fr, err := a.newFlowRunner(f)
				if err != nil {
					t.Fatal(err)
				}
				runners = append(runners, fr)
			}
			// Twice: a repeated grant changes nothing.
			grantWrites(m.Kind, runners, tc.writers)
			grantWrites(m.Kind, runners, tc.writers)
			got := map[string]bool{}
			for _, fr := range runners {
				if fr.acls.Status().Writable {
					got[fr.flow.Source] = true
				}
			}
			if g := slices.Sorted(maps.Keys(got)); !slices.Equal(g, tc.want) {
				t.Errorf("writable copies in %s from %v, want %v", tc.region, g, tc.want)
			}
		})
	}
}
