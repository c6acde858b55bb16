package plane

import (
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/machine"
)

// The writer journal: the agent logs one line at the moment it applies a
// change of who may write, with its own clock, so that an operator (and
// the chaos tests, which kill agents) can tell afterwards which region
// took writes when, without having watched:
//
//	msg="role changed"  role, epoch, self_fenced, decision, at
//	msg="write fence"   cluster, writes (accepted or refused), denies, requested, at
//
// "role changed" comes from here, once per change of the region's role,
// the mesh epoch or the agent's self-fence as the decision loop applies
// them. "write fence" comes from the fencers (package mirror/acls), once
// per change of what a cluster does with the applications' writes, as a
// pass confirmed it: the region's own cluster, and while the region is
// primary the other data regions' clusters (the agent's write gate). Times are RFC
// 3339 with nanoseconds. Each line is one write to the log, so a line is
// either there whole or not at all when the agent dies.

// roleEntry is what a "role changed" line records.
type roleEntry struct {
	role   api.Role
	epoch  uint64
	fenced bool
}

// roleJournal remembers the last entry logged; the decision loop alone
// touches it.
type roleJournal struct {
	last  roleEntry
	known bool
}

// roleChange returns the region's entry under st, and whether it is new
// to j: before the first state is read there is none.
func (j roleJournal) roleChange(st machine.Status, region string) (roleEntry, bool) {
	if st.State == nil {
		return roleEntry{}, false
	}
	e := roleEntry{role: st.State.Role(region), epoch: st.State.Epoch, fenced: st.Fenced}
	return e, !j.known || e != j.last
}

// journalRole logs the region's role, epoch and self-fence if they
// changed; the decision loop calls it after every step.
func (p *Plane) journalRole(st machine.Status) {
	e, changed := p.roles.roleChange(st, p.cfg.Region)
	if !changed {
		return
	}
	p.roles.last, p.roles.known = e, true
	p.log.Info("role changed", "role", string(e.role), "epoch", e.epoch, "self_fenced", e.fenced,
		"decision", string(st.State.Decision), "at", time.Now().Format(time.RFC3339Nano))
}
