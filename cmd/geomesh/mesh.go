package main

import (
	"strings"

	"github.com/geomesh/geomesh/topology"
)

// checkRegion is a not-found error unless the mesh has a region name.
func checkRegion(m *topology.Mesh, name string) error {
	if _, ok := m.Region(name); ok {
		return nil
	}
	var names []string
	for _, r := range m.Regions {
		names = append(names, r.Name)
	}
	return notFoundf("no region %q in mesh %s (regions: %s)", name, m.Name, strings.Join(names, ", "))
}

// checkAgent is a not-found error unless the mesh has the region and,
// if id is set, the region has an agent of that id.
func checkAgent(m *topology.Mesh, region, id string) error {
	if err := checkRegion(m, region); err != nil {
		return err
	}
	r, _ := m.Region(region)
	if id == "" {
		return nil
	}
	var ids []string
	for _, a := range r.Agents {
		if a.ID == id {
			return nil
		}
		ids = append(ids, a.ID)
	}
	return notFoundf("no agent %q in region %s of mesh %s (agents: %s)", id, region, m.Name, strings.Join(ids, ", "))
}
