package machine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
)

// Who may take writes, and what split brain is, per topology kind.
//
// "No two regions take writes at once" means something different in
// each kind:
//
//	active-passive  one writer: the primary.
//	hub-spoke       one hub. Spokes take writes too, but each only into
//	                its own feed, which no other region ever takes over;
//	                the role a quorum hands from region to region, and
//	                that two regions must never hold at once, is the hub.
//	active-active   the quorum's writer set: the active regions of the
//	                decided state. Several writers are the point; split
//	                brain is a region taking writes that the quorum's
//	                state does not list as a writer (a failed region
//	                still writing after it was evacuated), or two
//	                different writer sets at one epoch.
//
// The agent hands the state's writers to ACL sync and settles stranded
// records towards the single writer; the demo and the chaos checkers
// judge what agents report with [SplitBrain].

// Sighting is one agent's account, at one moment, of how its region acts.
type Sighting struct {
	Region string
	// State is the mesh state the agent acts on; nil before its first
	// read.
	State *api.State
	// Fenced: the region suspended its writer role (see "Fencing" in the
	// package doc).
	Fenced bool
}

// Writing reports whether the sighted region takes writes in a mesh of
// kind k: it holds the kind's writer role in the state it acts on, is not
// fenced, and its own clients' producers are not paused by a planned
// switch away from it (the state they follow tells them to wait).
func (g Sighting) Writing(k topology.Kind) bool {
	if g.State == nil || g.Fenced || g.State.Role(g.Region) != api.WriterRole(k) {
		return false
	}
	sw := g.State.Switch
	return sw == nil || sw.From != g.Region || sw.Clients != g.Region
}

// SplitBrain judges what the agents of a mesh report for split brain:
//
//   - a decided state with more writers than the kind allows (two
//     primaries, two hubs);
//   - two different writer sets at one epoch;
//   - a region taking writes (Sighting.Writing) that the newest state
//     decided before the sighting does not list as a writer;
//   - in a single-writer kind, two regions taking writes at one moment.
//
// Feed it rounds of sightings in time order, each round taken at one
// moment (every agent that runs, one after another); it keeps what it
// found. A state counts as decided once a sighting in an earlier round
// carried it, so an agent that applies a state a moment after another
// one is no finding. SplitBrain does no I/O; the caller samples the
// agents. It is not safe for concurrent use.
type SplitBrain struct {
	kind     topology.Kind
	sets     map[uint64]string // the writer set per epoch, as first seen
	newest   *api.State        // the newest state sighted before this round
	found    map[string]bool
	findings []string
	rounds   int
}

// NewSplitBrain returns a judge for a mesh of kind k.
func NewSplitBrain(k topology.Kind) *SplitBrain {
	return &SplitBrain{kind: k, sets: map[uint64]string{}, found: map[string]bool{}}
}

// Observe judges one round of sightings.
func (j *SplitBrain) Observe(round []Sighting) {
	j.rounds++
	newest := j.newest
	var writing []Sighting
	for _, g := range round {
		if g.State == nil {
			continue
		}
		s := g.State
		ws := s.Writers(j.kind)
		set := strings.Join(ws, ",")
		if api.SingleWriter(j.kind) && len(ws) > 1 {
			j.find("epoch %d: %d regions are %s (%s); %s allows one", s.Epoch, len(ws), api.WriterRole(j.kind), set, j.kind)
		}
		if prev, ok := j.sets[s.Epoch]; !ok {
			j.sets[s.Epoch] = set
		} else if prev != set {
			j.find("epoch %d: two writer sets, [%s] and [%s]", s.Epoch, prev, set)
		}
		if newest == nil || s.Epoch > newest.Epoch {
			newest = s
		}
		if !g.Writing(j.kind) {
			continue
		}
		if !slices.ContainsFunc(writing, func(w Sighting) bool { return w.Region == g.Region }) {
			writing = append(writing, g)
		}
		if d := j.newest; d != nil && d.Epoch > s.Epoch && !slices.Contains(d.Writers(j.kind), g.Region) {
			j.find("region %s takes writes as %s of epoch %d after the quorum decided epoch %d, whose writers are [%s]",
				g.Region, api.WriterRole(j.kind), s.Epoch, d.Epoch, strings.Join(d.Writers(j.kind), ","))
		}
	}
	if api.SingleWriter(j.kind) && len(writing) > 1 {
		var who []string
		for _, w := range writing {
			who = append(who, fmt.Sprintf("%s (epoch %d)", w.Region, w.State.Epoch))
		}
		slices.Sort(who)
		j.find("%s take writes at once as %s; %s allows one", strings.Join(who, " and "), api.WriterRole(j.kind), j.kind)
	}
	if newest != j.newest {
		c := newest.Clone()
		j.newest = &c
	}
}

func (j *SplitBrain) find(format string, args ...any) {
	f := fmt.Sprintf(format, args...)
	if !j.found[f] {
		j.found[f] = true
		j.findings = append(j.findings, f)
	}
}

// Findings returns what the judge found, each once, in the order found;
// none means no split brain in what it was shown.
func (j *SplitBrain) Findings() []string { return slices.Clone(j.findings) }

// Rounds returns how many rounds the judge was shown.
func (j *SplitBrain) Rounds() int { return j.rounds }

// Newest returns the newest state sighted so far, nil if none.
func (j *SplitBrain) Newest() *api.State {
	if j.newest == nil {
		return nil
	}
	c := j.newest.Clone()
	return &c
}
