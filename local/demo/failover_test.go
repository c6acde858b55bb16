package demo

import (
	"slices"
	"strings"
	"testing"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/topology"
)

// plantedAgent is an agent of region whose decision plane reports that
// it acts on st, fenced or not; running unless stopped.
type plantedAgent struct {
	region          string
	st              *api.State
	fenced, stopped bool
}

var _ watched = plantedAgent{}

func (p plantedAgent) Region() string { return p.region }
func (p plantedAgent) Running() bool  { return !p.stopped }
func (p plantedAgent) Failover() api.FailoverStatus {
	return api.FailoverStatus{Region: p.region, State: p.st, Fenced: p.fenced}
}

func planted(region string, st *api.State, fenced, stopped bool) watched {
	return plantedAgent{region: region, st: st, fenced: fenced, stopped: stopped}
}

func roles(epoch uint64, rs ...string) *api.State {
	s := &api.State{Epoch: epoch, Regions: map[string]api.RegionState{}}
	for _, r := range rs {
		name, role, _ := strings.Cut(r, "=")
		s.Regions[name] = api.RegionState{Role: api.Role(role)}
	}
	return s
}

// TestWriterWatch: the demo's watch hands what every running agent acts
// on to the split-brain judge of the mesh's kind, so that a double writer
// planted in agents of each kind is found, and a fenced or stopped agent
// is no writer.
func TestWriterWatch(t *testing.T) {
	apOld := roles(1, "us-east=primary", "eu-west=standby", "witness=witness")
	apNew := roles(2, "us-east=fenced", "eu-west=primary", "witness=witness")
	aaOld := roles(1, "us-east=active", "eu-west=active", "ap-south=active")
	aaNew := roles(2, "us-east=evacuated", "eu-west=active", "ap-south=active")
	hsOld := roles(1, "central=hub", "central-2=standby-hub", "store-a=spoke")
	hsNew := roles(2, "central=fenced", "central-2=hub", "store-a=spoke")
	for _, tc := range []struct {
		name string
		kind topology.Kind
		// The agents of each round, in the order sampled.
		rounds [][]watched
		// The start of the finding wanted; empty for none.
		want string
	}{
		{"active-passive: old primary unfenced", topology.KindActivePassive, [][]watched{
			{planted("us-east", apOld, false, false), planted("eu-west", apNew, false, false)},
		}, "eu-west (epoch 2) and us-east (epoch 1) take writes at once as primary"},
		{"active-passive: old primary fenced", topology.KindActivePassive, [][]watched{
			{planted("us-east", apOld, true, false), planted("eu-west", apNew, false, false)},
		}, ""},
		{"active-passive: old primary stopped", topology.KindActivePassive, [][]watched{
			{planted("us-east", apOld, false, true), planted("eu-west", apNew, false, false)},
		}, ""},
		{"active-active: evacuated region still active", topology.KindActiveActive, [][]watched{
			{planted("eu-west", aaNew, false, false)},
			{planted("us-east", aaOld, false, false), planted("eu-west", aaNew, false, false)},
		}, "region us-east takes writes as active of epoch 1 after the quorum decided epoch 2"},
		{"active-active: survivors at two epochs", topology.KindActiveActive, [][]watched{
			{planted("eu-west", aaNew, false, false)},
			{planted("ap-south", aaOld, false, false), planted("eu-west", aaNew, false, false)},
		}, ""},
		{"hub-spoke: two hubs", topology.KindHubSpoke, [][]watched{
			{planted("central", hsOld, false, false), planted("central-2", hsNew, false, false),
				planted("store-a", hsNew, false, false)},
		}, "central (epoch 1) and central-2 (epoch 2) take writes at once as hub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &writerWatch{judge: machine.NewSplitBrain(tc.kind)}
			for _, r := range tc.rounds {
				w.follow(r)
				w.sample()
			}
			got := w.judge.Findings()
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("findings %v, want none", got)
			case tc.want != "" && !slices.ContainsFunc(got, func(f string) bool { return strings.HasPrefix(f, tc.want) }):
				t.Errorf("findings %v, want one starting %q", got, tc.want)
			}
			if n := w.judge.Newest(); n == nil || n.Epoch != 2 {
				t.Errorf("newest state sighted %v, want epoch 2", n)
			}
		})
	}
}
