package machine

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
)

const (
	ap = topology.KindActivePassive
	aa = topology.KindActiveActive
	hs = topology.KindHubSpoke
)

// st builds a state from "region=role" pairs; a role "evacuated>b" moves
// the region's clients to b.
func st(epoch uint64, roles ...string) *api.State {
	s := &api.State{Epoch: epoch, Regions: map[string]api.RegionState{}}
	for _, r := range roles {
		name, role, _ := strings.Cut(r, "=")
		role, to, _ := strings.Cut(role, ">")
		s.Regions[name] = api.RegionState{Role: api.Role(role), ClientsTo: to}
	}
	return s
}

func TestWriters(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind topology.Kind
		s    *api.State
		want []string
	}{
		{"active-passive: the primary", ap, st(1, "a=primary", "b=standby", "w=witness"), []string{"a"}},
		{"active-passive: a fenced old primary is none", ap, st(2, "a=fenced", "b=primary", "w=witness"), []string{"b"}},
		{"active-passive: none while nobody is primary", ap, st(3, "a=standby", "b=fenced"), nil},
		{"hub-spoke: the hub, not the spokes", hs, st(1, "h=hub", "s=standby-hub", "x=spoke", "y=spoke"), []string{"h"}},
		{"hub-spoke: the promoted standby hub", hs, st(2, "h=fenced", "s=hub", "x=spoke"), []string{"s"}},
		{"active-active: every active region", aa, st(1, "c=active", "a=active", "b=active"), []string{"a", "b", "c"}},
		{"active-active: not an evacuated one", aa, st(2, "a=evacuated>b", "b=active", "c=active"), []string{"b", "c"}},
		// Roles of another kind are no writers: a state is read in its
		// mesh's terms.
		{"active-active: a primary is no active region", aa, st(1, "a=primary", "b=active"), []string{"b"}},
		{"unknown kind: nobody", topology.Kind("ring"), st(1, "a=primary"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Writers(tc.kind); !slices.Equal(got, tc.want) {
				t.Errorf("Writers(%s) of %s = %v, want %v", tc.kind, tc.s, got, tc.want)
			}
		})
	}
}

func TestReplaceable(t *testing.T) {
	for _, tc := range []struct {
		kind   topology.Kind
		s      *api.State
		region string
		want   bool
	}{
		{ap, st(1, "a=primary", "b=standby", "w=witness"), "a", true},
		{ap, st(1, "a=primary", "b=fenced", "w=witness"), "a", false},
		{ap, st(1, "a=primary", "b=standby", "w=witness"), "b", false},
		{ap, st(1, "a=primary", "b=standby", "w=witness"), "w", false},
		{hs, st(1, "h=hub", "s=standby-hub", "x=spoke"), "h", true},
		{hs, st(1, "h=hub", "x=spoke", "y=spoke"), "h", false},
		{hs, st(1, "h=hub", "s=standby-hub", "x=spoke"), "x", false},
		{hs, st(1, "h=hub", "s=standby-hub", "x=spoke"), "s", false},
		{aa, st(1, "a=active", "b=active", "c=active"), "a", true},
		{aa, st(2, "a=evacuated>b", "b=active", "c=evacuated>b"), "b", false},
		{aa, st(2, "a=evacuated>b", "b=active", "c=active"), "a", false},
	} {
		if got := tc.s.Replaceable(tc.kind, tc.region); got != tc.want {
			t.Errorf("%s %s: Replaceable(%s) = %v, want %v", tc.kind, tc.s, tc.region, got, tc.want)
		}
	}
}

// see is a sighting: the agent of region acts on s.
func see(region string, s *api.State) Sighting { return Sighting{Region: region, State: s} }

func fenced(region string, s *api.State) Sighting {
	return Sighting{Region: region, State: s, Fenced: true}
}

// TestSplitBrain feeds the judge rounds of sightings: healthy histories
// of every kind give no finding, and a double writer planted in each kind
// is caught, with what it is.
func TestSplitBrain(t *testing.T) {
	apInit := st(1, "a=primary", "b=standby", "w=witness")
	apFailover := st(2, "a=fenced", "b=primary", "w=witness")
	apSwitching := st(2, "a=primary", "b=standby", "w=witness")
	apSwitching.Switch = &api.Switch{From: "a", To: "b", Clients: "a"}
	apSwitched := st(3, "a=standby", "b=primary", "w=witness")

	hsInit := st(1, "h=hub", "s=standby-hub", "x=spoke", "y=spoke")
	hsFailover := st(2, "h=fenced", "s=hub", "x=spoke", "y=spoke")

	aaInit := st(1, "a=active", "b=active", "c=active")
	aaEvacuated := st(2, "a=evacuated>b", "b=active", "c=active")
	aaOther := st(2, "a=active", "b=evacuated>c", "c=active")

	for _, tc := range []struct {
		name   string
		kind   topology.Kind
		rounds [][]Sighting
		want   []string
	}{
		{
			name: "active-passive failover: the old primary fenced, then stopped",
			kind: ap,
			rounds: [][]Sighting{
				{see("a", apInit), see("b", apInit), see("w", apInit)},
				{fenced("a", apInit), see("b", apInit), see("w", apInit)},
				{fenced("a", apInit), see("b", apFailover), see("w", apInit)},
				{see("b", apFailover), see("w", apFailover)},
			},
		},
		{
			// The agents apply a new state one after another: the one
			// sighted first may still act on the old state.
			name: "active-passive planned switch, applied one agent after another",
			kind: ap,
			rounds: [][]Sighting{
				{see("a", apInit), see("b", apInit)},
				{see("a", apInit), see("b", apSwitching)},
				{see("a", apSwitching), see("b", apSwitched)},
				{see("a", apSwitched), see("b", apSwitched)},
			},
		},
		{
			name: "active-passive: a failed primary that still takes writes",
			kind: ap,
			rounds: [][]Sighting{
				{see("a", apInit), see("b", apInit)},
				{see("b", apFailover)},
				{see("a", apInit), see("b", apFailover)},
			},
			want: []string{
				"region a takes writes as primary of epoch 1 after the quorum decided epoch 2, whose writers are [b]",
				"a (epoch 1) and b (epoch 2) take writes at once as primary; active-passive allows one",
			},
		},
		{
			// Two writers for one round only, before anyone sighted the
			// newer state: still two at once.
			name: "active-passive: two primaries at one moment",
			kind: ap,
			rounds: [][]Sighting{
				{see("a", apInit), see("b", apFailover)},
			},
			want: []string{"a (epoch 1) and b (epoch 2) take writes at once as primary; active-passive allows one"},
		},
		{
			name: "active-passive: a state with two primaries",
			kind: ap,
			rounds: [][]Sighting{
				{see("a", st(4, "a=primary", "b=primary", "w=witness"))},
			},
			want: []string{"epoch 4: 2 regions are primary (a,b); active-passive allows one"},
		},
		{
			name: "active-passive: two states at one epoch",
			kind: ap,
			rounds: [][]Sighting{
				{fenced("a", apFailover), see("w", st(2, "a=primary", "b=fenced", "w=witness"))},
			},
			want: []string{"epoch 2: two writer sets, [b] and [a]"},
		},
		{
			name: "active-passive: producers paused by a switch are not writing",
			kind: ap,
			rounds: [][]Sighting{
				{see("b", apSwitched)},
				{see("a", apSwitching), see("b", apSwitched)},
			},
		},
		{
			name: "hub-spoke hub failover: spokes keep writing their feeds",
			kind: hs,
			rounds: [][]Sighting{
				{see("h", hsInit), see("s", hsInit), see("x", hsInit), see("y", hsInit)},
				{see("s", hsFailover), see("x", hsInit), see("y", hsInit)},
				{see("s", hsFailover), see("x", hsFailover), see("y", hsFailover)},
			},
		},
		{
			name: "hub-spoke: a failed hub that still takes writes",
			kind: hs,
			rounds: [][]Sighting{
				{see("h", hsInit), see("s", hsInit), see("x", hsInit)},
				{see("s", hsFailover), see("x", hsFailover)},
				{see("h", hsInit), see("s", hsFailover), see("x", hsFailover)},
			},
			want: []string{
				"region h takes writes as hub of epoch 1 after the quorum decided epoch 2, whose writers are [s]",
				"h (epoch 1) and s (epoch 2) take writes at once as hub; hub-spoke allows one",
			},
		},
		{
			name: "hub-spoke: a state with two hubs",
			kind: hs,
			rounds: [][]Sighting{
				{see("x", st(3, "h=hub", "s=hub", "x=spoke"))},
			},
			want: []string{"epoch 3: 2 regions are hub (h,s); hub-spoke allows one"},
		},
		{
			name: "active-active evacuation: several writers, and a lagging survivor still listed",
			kind: aa,
			rounds: [][]Sighting{
				{see("a", aaInit), see("b", aaInit), see("c", aaInit)},
				{see("b", aaEvacuated), see("c", aaInit)},
				{see("b", aaEvacuated), see("c", aaInit)},
				{see("b", aaEvacuated), see("c", aaEvacuated)},
			},
		},
		{
			name: "active-active: an evacuated region that still takes writes",
			kind: aa,
			rounds: [][]Sighting{
				{see("a", aaInit), see("b", aaInit), see("c", aaInit)},
				{see("b", aaEvacuated), see("c", aaEvacuated)},
				{see("a", aaInit), see("b", aaEvacuated), see("c", aaEvacuated)},
			},
			want: []string{"region a takes writes as active of epoch 1 after the quorum decided epoch 2, whose writers are [b,c]"},
		},
		{
			name: "active-active: an evacuated region fenced is no writer",
			kind: aa,
			rounds: [][]Sighting{
				{see("b", aaEvacuated), see("c", aaEvacuated)},
				{fenced("a", aaInit), see("b", aaEvacuated)},
			},
		},
		{
			name: "active-active: two writer sets at one epoch",
			kind: aa,
			rounds: [][]Sighting{
				{see("a", aaInit), see("b", aaInit), see("c", aaInit)},
				{see("b", aaEvacuated), see("c", aaOther)},
			},
			want: []string{"epoch 2: two writer sets, [b,c] and [a,c]"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := NewSplitBrain(tc.kind)
			for _, r := range tc.rounds {
				j.Observe(r)
			}
			if got := j.Findings(); !slices.Equal(got, tc.want) {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if j.Rounds() != len(tc.rounds) {
				t.Errorf("rounds %d, want %d", j.Rounds(), len(tc.rounds))
			}
		})
	}
}

func TestSightingWriting(t *testing.T) {
	switching := func(s *api.State, from, to, clients string) *api.State {
		s.Switch = &api.Switch{From: from, To: to, Clients: clients}
		return s
	}
	for _, tc := range []struct {
		name string
		kind topology.Kind
		g    Sighting
		want bool
	}{
		{"primary", ap, see("a", st(1, "a=primary", "b=standby")), true},
		{"standby", ap, see("b", st(1, "a=primary", "b=standby")), false},
		{"fenced primary", ap, fenced("a", st(1, "a=primary", "b=standby")), false},
		{"no state read", ap, Sighting{Region: "a"}, false},
		{"primary switching away", ap, see("a", switching(st(2, "a=primary", "b=standby"), "a", "b", "a")), false},
		{"primary switching in", ap, see("b", switching(st(2, "a=primary", "b=standby"), "a", "b", "a")), false},
		{"hub", hs, see("h", st(1, "h=hub", "x=spoke")), true},
		{"spoke", hs, see("x", st(1, "h=hub", "x=spoke")), false},
		{"active", aa, see("a", st(1, "a=active", "b=active")), true},
		{"evacuated", aa, see("a", st(2, "a=evacuated>b", "b=active")), false},
		{"active switching its own clients away", aa, see("a", switching(st(2, "a=active", "b=active"), "a", "b", "a")), false},
		// A failback moves the clients coming home; the region that
		// served them keeps its own and stays a writer.
		{"active serving a failback", aa, see("a", switching(st(2, "a=active", "b=evacuated>a"), "a", "b", "b")), true},
		{"primary in an active-active mesh", aa, see("a", st(1, "a=primary")), false},
	} {
		if got := tc.g.Writing(tc.kind); got != tc.want {
			t.Errorf("%s (%s): Writing = %v, want %v", tc.name, tc.kind, got, tc.want)
		}
	}
}

// TestSplitBrainNewest: the judge keeps its own copy of the newest state.
func TestSplitBrainNewest(t *testing.T) {
	j := NewSplitBrain(ap)
	if j.Newest() != nil {
		t.Fatal("newest state before any sighting")
	}
	s := st(2, "a=fenced", "b=primary")
	j.Observe([]Sighting{see("b", st(1, "a=primary", "b=standby")), see("a", s)})
	s.Regions["a"] = api.RegionState{Role: api.RolePrimary}
	if n := j.Newest(); n == nil || n.Epoch != 2 || !slices.Equal(n.Writers(ap), []string{"b"}) {
		t.Fatalf("newest %v, want epoch 2 with writer b", n)
	}
}

// TestScenariosHaveNoSplitBrain replays every scenario script and judges
// what every machine acts on after every command: the machine's own
// decisions, cut-off regions, restarts and operator commands included,
// never give two writers.
func TestScenariosHaveNoSplitBrain(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			_, blocks := parseScript(t, f)
			h := &harness{t: t, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), machines: map[string]*Machine{}, cut: map[string]bool{}}
			var j *SplitBrain
			rounds := 0
			for _, b := range blocks {
				h.run(b.cmd)
				if strings.HasPrefix(b.cmd, "mesh ") {
					j = NewSplitBrain(h.mesh.Kind)
				}
				var round []Sighting
				for _, r := range h.order {
					s := h.machines[r].Status()
					round = append(round, Sighting{Region: r, State: s.State, Fenced: s.Fenced})
				}
				j.Observe(round)
				rounds++
				for _, f := range j.Findings() {
					t.Errorf("after %q (line %d): %s", b.cmd, b.line, f)
				}
				if len(j.Findings()) > 0 {
					return
				}
			}
			if rounds == 0 {
				t.Fatal("no command judged")
			}
		})
	}
}
