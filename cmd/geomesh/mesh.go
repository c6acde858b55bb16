package main

import (
	"path/filepath"
	"strings"

	"github.com/geomesh/geomesh/topology"
	"github.com/spf13/cobra"
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

// stateDirFlag is the usage of --state-dir; def names the command's
// default.
func stateDirFlag(def string) string {
	return "control-plane state `DIR` of the mesh; each agent keeps <DIR>/<agent id> (default: the topology's control_plane.state_dir, else " + def + ")"
}

// stateDir is the control-plane state directory --state-dir gives, made
// absolute; else the topology file's control_plane.state_dir; else def.
// --state-dir with an external control plane, which keeps no state on
// the agents' hosts, is a usage error.
func stateDir(cmd *cobra.Command, m *topology.Mesh, def string) (string, error) {
	f := cmd.Flags().Lookup("state-dir")
	switch {
	case f == nil || !f.Changed:
	case !m.ControlPlane.Embedded:
		return "", usageErrorf("--state-dir applies to an embedded control plane; mesh %s uses the NATS cluster of control_plane.urls", m.Name)
	case f.Value.String() == "":
		return "", usageErrorf("--state-dir names no directory")
	default:
		return filepath.Abs(f.Value.String())
	}
	if !m.ControlPlane.Embedded {
		return "", nil
	}
	if m.ControlPlane.StateDir != "" {
		return m.ControlPlane.StateDir, nil
	}
	return def, nil
}
