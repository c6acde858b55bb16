package client

import "github.com/geomesh/geomesh/topology"

// meshState is the part of the mesh state (failover/machine.State, served
// by the agents' GET /v1/failover) that a client acts on. It is a wire
// contract: the client may not import the failover packages.
type meshState struct {
	Epoch    uint64                 `json:"epoch"`
	Regions  map[string]regionState `json:"regions"`
	Switch   *plannedSwitch         `json:"switch,omitempty"`
	Decision string                 `json:"decision"`
	From     string                 `json:"from,omitempty"`
	To       string                 `json:"to,omitempty"`
	Reason   string                 `json:"reason"`
}

type regionState struct {
	Role      string `json:"role"`
	ClientsTo string `json:"clients_to,omitempty"`
}

// plannedSwitch is a planned switch in progress: the producers of Clients'
// clients that write to From pause until replication From → To drained.
type plannedSwitch struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Clients string `json:"clients"`
}

// The roles the follower reads (failover/machine.Role).
const (
	rolePrimary   = "primary"
	roleActive    = "active"
	roleEvacuated = "evacuated"
	roleHub       = "hub"
)

func (s *meshState) role(region string) string { return s.Regions[region].Role }

// writer is the region that takes the writes of an active-passive
// (primary) or hub-spoke (hub) mesh, "" if none does.
func (s *meshState) writer(kind topology.Kind) string {
	want := rolePrimary
	if kind == topology.KindHubSpoke {
		want = roleHub
	}
	var out []string
	for r, rs := range s.Regions {
		if rs.Role == want {
			out = append(out, r)
		}
	}
	if len(out) != 1 {
		return "" // none, or a state no decision makes: stay put
	}
	return out[0]
}

// followed is what decide knows of one client.
type followed struct {
	producer bool
	// home is the region the client started in: in an active-active mesh
	// the clients of home move together when it is evacuated.
	home string
	// writer: the client lives on the writer region of an active-passive
	// or hub-spoke mesh (every producer of an active-passive mesh, the
	// others when they started on the file's primary or hub) and follows
	// it. A consumer started in a standby or a spoke stays there.
	writer bool
	region string // where it is now
	paused bool
}

// move is what a client does on a new mesh state: pause first, then
// switch, then resume, so that no record reaches a region the mesh no
// longer writes to.
type move struct {
	Pause    bool
	SwitchTo string
	Resume   bool
}

// decide returns what client c does when the mesh state it follows goes
// from old (nil before the first) to cur. It compares levels, not edges:
// where cur wants the client and whether it wants it paused, so that
// states skipped between two reads (a whole planned switch, say) still
// land the client where it belongs. A state older than old changes
// nothing: an agent that has not seen the latest decision yet.
//
//	planned switch started  producers of the moving clients that write to
//	                        the switch's From pause; consumers keep reading
//	switchover (the flip)   clients of the old writer switch to the new one,
//	                        producers then resume there
//	switchover aborted      producers resume where they are
//	failover                clients of the old writer switch to the new one
//	evacuate (active-active) clients of the evacuated region switch to
//	                        the region that serves them; back home once
//	                        it is active again (failback)
func decide(kind topology.Kind, c followed, old, cur *meshState) move {
	if cur == nil || (old != nil && cur.Epoch < old.Epoch) {
		return move{}
	}
	var m move
	if to := wantRegion(kind, c, cur); to != "" && to != c.region {
		m.SwitchTo = to
	}
	switch pause := wantPaused(kind, c, cur); {
	case pause && !c.paused:
		m.Pause = true
	case !pause && c.paused:
		m.Resume = true
	}
	return m
}

// wantRegion is where cur wants the client, "" to stay.
func wantRegion(kind topology.Kind, c followed, cur *meshState) string {
	if kind == topology.KindActiveActive {
		switch rs := cur.Regions[c.home]; rs.Role {
		case roleActive:
			return c.home
		case roleEvacuated:
			return rs.ClientsTo
		}
		return ""
	}
	if !c.writer {
		return ""
	}
	return cur.writer(kind)
}

// wantPaused: a planned switch moves the writes of the client's region.
func wantPaused(kind topology.Kind, c followed, cur *meshState) bool {
	sw := cur.Switch
	if !c.producer || sw == nil || sw.From != c.region {
		return false
	}
	if kind == topology.KindActiveActive {
		return sw.Clients == c.home
	}
	return c.writer
}

// followsWriter says whether a client that started in home follows the
// writer region of mesh m (see followed.writer).
func followsWriter(m *topology.Mesh, producer bool, home string) bool {
	switch m.Kind {
	case topology.KindActivePassive:
		return producer || home == m.Roles.Primary
	case topology.KindHubSpoke:
		return home == m.Roles.Hub
	}
	return false
}
