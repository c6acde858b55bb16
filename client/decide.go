package client

import (
	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
)

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
func decide(kind topology.Kind, c followed, old, cur *api.State) move {
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
func wantRegion(kind topology.Kind, c followed, cur *api.State) string {
	if kind == topology.KindActiveActive {
		switch rs := cur.Regions[c.home]; rs.Role {
		case api.RoleActive:
			return c.home
		case api.RoleEvacuated:
			return rs.ClientsTo
		}
		return ""
	}
	if !c.writer {
		return ""
	}
	// None, or a state no decision makes: stay put.
	return cur.SoleWriter(kind)
}

// wantPaused: a planned switch moves the writes of the client's region.
func wantPaused(kind topology.Kind, c followed, cur *api.State) bool {
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
