package api

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/geomesh/geomesh/topology"
)

// Role is what a region does in the mesh at an epoch.
type Role string

const (
	// RolePrimary takes the writes of an active-passive mesh.
	RolePrimary Role = "primary"
	// RoleStandby receives the primary's topics and can be promoted.
	RoleStandby Role = "standby"
	// RoleFenced is a former primary or hub that lost its role in an
	// unplanned failover. It takes no writes and receives nothing until it
	// has settled its stranded records and rejoined as a standby.
	RoleFenced Role = "fenced"
	// RoleActive takes writes in an active-active mesh.
	RoleActive Role = "active"
	// RoleEvacuated is an active-active region whose clients were moved to
	// RegionState.ClientsTo.
	RoleEvacuated Role = "evacuated"
	// RoleHub is the region every spoke feeds.
	RoleHub Role = "hub"
	// RoleStandbyHub holds a full copy of the hub, ready to be promoted.
	RoleStandbyHub Role = "standby-hub"
	// RoleSpoke feeds the hub.
	RoleSpoke Role = "spoke"
	// RoleWitness only votes; it has no Kafka cluster.
	RoleWitness Role = "witness"
)

// Writer reports whether a region in this role takes application writes
// that a quorum may hand to another region; such a region fences itself
// when it cannot reach the quorum.
func (r Role) Writer() bool {
	return r == RolePrimary || r == RoleActive || r == RoleHub
}

// RegionState is one region's entry in the mesh state.
type RegionState struct {
	Role Role `json:"role"`
	// ClientsTo is, for an evacuated region, the region that serves its
	// clients meanwhile.
	ClientsTo string `json:"clients_to,omitempty"`
}

// Switch is a planned move of writes from one region to another, in
// progress: the producers of Clients (the clients whose home is that
// region) that write to From are paused until replication From → To has
// drained, then the epoch flips and they write to To.
type Switch struct {
	From    string    `json:"from"`
	To      string    `json:"to"`
	Clients string    `json:"clients"`
	Started time.Time `json:"started"`
}

// Decision names the kind of a state change.
type Decision string

const (
	// DecisionInit: the first state, from the topology file.
	DecisionInit Decision = "init"
	// DecisionFailover: an unplanned promotion of a standby (or standby
	// hub) after its primary (hub) was judged down; the old one is fenced.
	DecisionFailover Decision = "failover"
	// DecisionEvacuate: an active-active region's clients were moved to a
	// survivor.
	DecisionEvacuate Decision = "evacuate"
	// DecisionSwitchStart: a planned switch began; From's producers pause.
	DecisionSwitchStart Decision = "switchover-started"
	// DecisionSwitchover: a planned switch completed with nothing lost.
	DecisionSwitchover Decision = "switchover"
	// DecisionSwitchAbort: a planned switch gave up (drain too slow, or a
	// region failed meanwhile); From's producers resume.
	DecisionSwitchAbort Decision = "switchover-aborted"
	// DecisionRejoin: a fenced region settled its stranded records and is a
	// standby again.
	DecisionRejoin Decision = "rejoin"
)

// State is the mesh state kept in the control plane: one value, changed
// only by compare-and-set, each change one epoch higher.
type State struct {
	// Epoch increases by one with every decision. Every agent, client and
	// copy task compares epochs; whoever holds an older one is stale.
	Epoch   uint64                 `json:"epoch"`
	Regions map[string]RegionState `json:"regions"`
	// Switch is set while a planned switch drains.
	Switch *Switch `json:"switch,omitempty"`
	// The decision that produced this state.
	Decision Decision  `json:"decision"`
	From     string    `json:"from,omitempty"`
	To       string    `json:"to,omitempty"`
	Reason   string    `json:"reason"`
	Time     time.Time `json:"time"`
}

// Event is the announcement of a decision, published on
// geomesh.<mesh>.events and handed to hooks.
type Event struct {
	Kind   Decision  `json:"kind"`
	Epoch  uint64    `json:"epoch"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// Event returns the announcement of the decision that produced s.
func (s State) Event() Event {
	return Event{Kind: s.Decision, Epoch: s.Epoch, From: s.From, To: s.To, Reason: s.Reason, Time: s.Time}
}

// Role returns the role of region, "" if it is not in the state.
func (s State) Role(region string) Role { return s.Regions[region].Role }

// Clone returns a deep copy, so that a proposed state never aliases the
// current one.
func (s State) Clone() State {
	c := s
	c.Regions = maps.Clone(s.Regions)
	if s.Switch != nil {
		sw := *s.Switch
		c.Switch = &sw
	}
	return c
}

// String is a one-line summary, stable for scenario files.
func (s State) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "epoch=%d", s.Epoch)
	for _, r := range slices.Sorted(maps.Keys(s.Regions)) {
		rs := s.Regions[r]
		fmt.Fprintf(&b, " %s=%s", r, rs.Role)
		if rs.ClientsTo != "" {
			fmt.Fprintf(&b, "(clients→%s)", rs.ClientsTo)
		}
	}
	if s.Switch != nil {
		fmt.Fprintf(&b, " switch=%s→%s", s.Switch.From, s.Switch.To)
	}
	return b.String()
}

// WriterRole is the role that takes the writes a quorum hands between
// the regions of a mesh of kind k.
func WriterRole(k topology.Kind) Role {
	switch k {
	case topology.KindActivePassive:
		return RolePrimary
	case topology.KindHubSpoke:
		return RoleHub
	case topology.KindActiveActive:
		return RoleActive
	}
	return ""
}

// SingleWriter reports whether a mesh of kind k allows one writer at a
// time: active-passive (the primary) and hub-spoke (the hub).
func SingleWriter(k topology.Kind) bool {
	return k == topology.KindActivePassive || k == topology.KindHubSpoke
}

// Writers returns the regions that s lets take writes in a mesh of kind
// k, sorted: those in the kind's writer role.
func (s State) Writers(k topology.Kind) []string {
	w := WriterRole(k)
	var out []string
	for r, rs := range s.Regions {
		if w != "" && rs.Role == w {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

// Replaceable reports whether a quorum hands region's writer role in s to
// another region when region fails: a primary with a standby, a hub with
// a standby hub, an active region with another active one. A failed
// region that is not replaceable (a standby, a spoke, a witness, a hub
// without a standby hub) causes an alert, not a decision.
func (s State) Replaceable(k topology.Kind, region string) bool {
	w := WriterRole(k)
	if w == "" || s.Role(region) != w {
		return false
	}
	heir := map[Role]Role{RolePrimary: RoleStandby, RoleHub: RoleStandbyHub, RoleActive: RoleActive}[w]
	for r, rs := range s.Regions {
		if r != region && rs.Role == heir {
			return true
		}
	}
	return false
}

// Roles gives the roles of s in the topology's terms (for
// topology.PlanFor): the flows they imply are the flows the mesh runs.
func (s State) Roles(m *topology.Mesh) topology.Roles {
	r := topology.Roles{Broadcast: m.Roles.Broadcast}
	for _, reg := range m.Regions {
		switch s.Role(reg.Name) {
		case RolePrimary:
			r.Primary = reg.Name
		case RoleStandby:
			r.Standby = append(r.Standby, reg.Name)
		case RoleHub:
			r.Hub = reg.Name
		case RoleStandbyHub:
			r.StandbyHub = reg.Name
		case RoleSpoke:
			r.Spokes = append(r.Spokes, reg.Name)
		}
	}
	return r
}

// SoleWriter is the region holding the one writer role of an
// active-passive or hub-spoke mesh in s (Writers): the primary or the
// hub; "" if nobody holds it, or in an active-active mesh.
func (s State) SoleWriter(k topology.Kind) string {
	if ws := s.Writers(k); SingleWriter(k) && len(ws) == 1 {
		return ws[0]
	}
	return ""
}
