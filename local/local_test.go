package local

import (
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"testing"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
)

// TestEphemeral starts the active-passive example on free ports and
// checks what the demo and meshtest rely on: the running topology names
// the clusters' and agents' addresses in use, not the file's; every
// region's agent runs, an embedded region has its cluster; Restart puts
// a new running agent in the old one's place; Close stops the agents and
// removes the run's control-plane data, and may be called again.
func TestEphemeral(t *testing.T) {
	file, err := topology.Load("../configs/examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mesh, err := Start(t.Context(), file, Options{Logger: log, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mesh.Close() })

	m := mesh.Topology()
	for i, r := range m.Regions {
		fr := file.Regions[i]
		if r.Agents[0].API == fr.Agents[0].API || r.Agents[0].Gossip == fr.Agents[0].Gossip {
			t.Errorf("region %s: agent on the file's addresses %s, %s", r.Name, r.Agents[0].API, r.Agents[0].Gossip)
		}
		a := mesh.Agent(r.Name)
		if a == nil || !a.Running() || a.APIAddr() != r.Agents[0].API {
			t.Fatalf("region %s: agent %v not running on %s", r.Name, a, r.Agents[0].API)
		}
		c := mesh.Cluster(r.Name)
		switch {
		case r.Kafka == nil && c != nil:
			t.Errorf("region %s has no Kafka, yet a cluster", r.Name)
		case r.Kafka != nil && c == nil:
			t.Errorf("region %s: no embedded cluster", r.Name)
		case r.Kafka != nil && (slices.Equal(r.Kafka.Bootstrap, fr.Kafka.Bootstrap) || !slices.Equal(r.Kafka.Bootstrap, c.Addrs())):
			t.Errorf("region %s: topology names %v, the file %v, the cluster listens on %v", r.Name, r.Kafka.Bootstrap, fr.Kafka.Bootstrap, c.Addrs())
		}
	}
	if len(mesh.Agents()) != len(m.Regions) || len(mesh.Clusters()) != 2 {
		t.Errorf("%d agents and %d clusters for %d regions, 2 of them embedded", len(mesh.Agents()), len(mesh.Clusters()), len(m.Regions))
	}
	if mesh.Agent("nowhere") != nil || mesh.Cluster("witness") != nil {
		t.Error("an agent of a region not in the mesh, or a cluster of the witness")
	}

	old := mesh.Agent("eu-west")
	back, err := mesh.Restart(t.Context(), "eu-west")
	if err != nil {
		t.Fatal(err)
	}
	if old.Running() || !back.Running() || mesh.Agent("eu-west") != back {
		t.Errorf("after Restart: old agent running %v, new one running %v, in the mesh %v", old.Running(), back.Running(), mesh.Agent("eu-west") == back)
	}
	if _, err := mesh.Restart(t.Context(), "nowhere"); err == nil {
		t.Error("Restart of a region not in the mesh did not fail")
	}

	if mesh.controlDir == "" {
		t.Fatal("an ephemeral mesh without a control-plane directory of its own")
	}
	if err := mesh.Close(); err != nil {
		t.Fatal(err)
	}
	for _, a := range mesh.Agents() {
		if a.Running() {
			t.Errorf("agent %s still running after Close", a.ID())
		}
	}
	if _, err := os.Stat(mesh.controlDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("control-plane data %s after Close: %v", mesh.controlDir, err)
	}
	if err := mesh.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestStateDir: the control-plane state directory of a local mesh is
// the one Options names; else, with Ephemeral, one of the run's own;
// else the file's state_dir; else $XDG_STATE_HOME/geomesh/<mesh>. An
// external control plane has none.
func TestStateDir(t *testing.T) {
	m, err := topology.Load("../configs/examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_STATE_HOME", "/srv/state")
	withDir := *m
	withDir.ControlPlane.StateDir = "/srv/shop"
	external := *m
	external.ControlPlane = topology.ControlPlane{URLs: []string{"nats://" + testkit.RefusedAddr(t)}}
	for _, c := range []struct {
		name      string
		mesh      *topology.Mesh
		opts      Options
		want      string
		temporary bool
	}{
		{"given", &withDir, Options{Ephemeral: true, Agent: agent.Config{ControlDir: "/given"}}, "/given", false},
		{"ephemeral", &withDir, Options{Ephemeral: true}, "", true},
		{"file", &withDir, Options{}, "/srv/shop", false},
		{"default", m, Options{}, "/srv/state/geomesh/shop", false},
		{"external", &external, Options{Agent: agent.Config{ControlDir: "/given"}}, "", false},
	} {
		dir, temp, err := pickStateDir(c.mesh, c.opts)
		if temp != "" {
			t.Cleanup(func() { _ = os.RemoveAll(temp) })
		}
		switch {
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.temporary && (temp == "" || dir != temp):
			t.Errorf("%s: %q, %q; want a directory of the run's own", c.name, dir, temp)
		case !c.temporary && (dir != c.want || temp != ""):
			t.Errorf("%s: %q, %q; want %q", c.name, dir, temp, c.want)
		}
	}
}
