package client

import (
	"testing"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
)

// decideCase is one case of testdata/decide.json, the follow decision's
// table that the Java and Python libraries run too.
type decideCase struct {
	Name   string        `json:"name"`
	Kind   topology.Kind `json:"kind"`
	Client struct {
		Producer bool   `json:"producer"`
		Home     string `json:"home"`
		Writer   bool   `json:"writer"`
		Region   string `json:"region"`
		Paused   bool   `json:"paused"`
	} `json:"client"`
	Old     *api.State `json:"old"`
	Current *api.State `json:"current"`
	Want    struct {
		Pause    bool   `json:"pause"`
		SwitchTo string `json:"switch_to"`
		Resume   bool   `json:"resume"`
	} `json:"want"`
}

// TestDecide runs the shared table. Unknown keys fail the test, so a key
// added for one language cannot be ignored by another unnoticed.
func TestDecide(t *testing.T) {
	var table struct {
		Doc   string       `json:"doc"`
		Cases []decideCase `json:"cases"`
	}
	testkit.ReadStrict(t, "testdata/decide.json", &table)
	if len(table.Cases) < 30 {
		t.Fatalf("%d cases, want at least 30", len(table.Cases))
	}
	kinds := map[topology.Kind]int{}
	for _, tc := range table.Cases {
		kinds[tc.Kind]++
		t.Run(tc.Name, func(t *testing.T) {
			c := followed{producer: tc.Client.Producer, home: tc.Client.Home, writer: tc.Client.Writer, region: tc.Client.Region, paused: tc.Client.Paused}
			want := move{Pause: tc.Want.Pause, SwitchTo: tc.Want.SwitchTo, Resume: tc.Want.Resume}
			if got := decide(tc.Kind, c, tc.Old, tc.Current); got != want {
				t.Errorf("decide = %+v, want %+v", got, want)
			}
		})
	}
	for _, k := range []topology.Kind{topology.KindActivePassive, topology.KindActiveActive, topology.KindHubSpoke} {
		if kinds[k] < 5 {
			t.Errorf("%d cases of %s, want at least 5", kinds[k], k)
		}
	}
}
