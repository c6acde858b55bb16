package machine

import (
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
)

// Initial returns the state at epoch 1: the roles the topology file gives.
func Initial(m *topology.Mesh, now time.Time) api.State {
	s := api.State{Epoch: 1, Regions: map[string]api.RegionState{}, Decision: api.DecisionInit,
		Reason: "roles from the topology file", Time: now}
	set := func(r string, role api.Role) { s.Regions[r] = api.RegionState{Role: role} }
	for _, r := range m.Regions {
		if r.Witness {
			set(r.Name, api.RoleWitness)
		}
	}
	switch m.Kind {
	case topology.KindActivePassive:
		set(m.Roles.Primary, api.RolePrimary)
		for _, r := range m.Roles.Standby {
			set(r, api.RoleStandby)
		}
	case topology.KindActiveActive:
		for _, r := range m.DataRegions() {
			set(r, api.RoleActive)
		}
	case topology.KindHubSpoke:
		set(m.Roles.Hub, api.RoleHub)
		if m.Roles.StandbyHub != "" {
			set(m.Roles.StandbyHub, api.RoleStandbyHub)
		}
		for _, r := range m.Roles.Spokes {
			set(r, api.RoleSpoke)
		}
	}
	return s
}
