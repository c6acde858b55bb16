package agent_test

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/statedir"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/local"
	"github.com/geomesh/geomesh/topology"
)

// TestStateSurvivesRestart runs the active-passive example (two data
// regions and a witness) with a state directory of the test's, fails it
// over to the standby and lets the old primary rejoin, stops every agent
// and starts them all again: each finds the mesh state it had, with its
// epoch, roles and last decision, and each agent's node kept its data in
// <state dir>/<agent id>.
func TestStateSurvivesRestart(t *testing.T) {
	m, err := topology.Load("../configs/examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mesh, err := local.Start(t.Context(), m, local.Options{Ephemeral: true, Logger: testkit.Logger(t, slog.LevelWarn),
		Agent: agent.Config{ControlDir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mesh.Close(); err != nil {
			t.Error(err)
		}
	})
	if mesh.StateDir() != dir {
		t.Errorf("mesh state in %s, want the one given, %s", mesh.StateDir(), dir)
	}

	started := time.Now()
	waitState(t, mesh, 1, "us-east")
	t.Logf("epoch 1 on every agent %s after the start", time.Since(started).Round(time.Millisecond))
	res, err := mesh.Agent("witness").Command(t.Context(), machine.Command{Kind: machine.CommandFailover, To: "eu-west", Force: true})
	if err != nil || res.Code != http.StatusOK || res.State == nil || res.State.Epoch != 2 {
		t.Fatalf("forced failover: %+v, %v; want 200 at epoch 2", res, err)
	}
	// The old primary, fenced by the failover, settles its stranded
	// records (none) and rejoins as a standby: epoch 3.
	before := waitState(t, mesh, 3, "eu-west")
	if d := before.Decision; d != api.DecisionRejoin && d != api.DecisionFailover {
		t.Fatalf("state after the failover: %s, decided by %s", before, d)
	}

	restarted := time.Now()
	if err := mesh.RestartAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	after := waitState(t, mesh, 2, "eu-west")
	t.Logf("%s on every agent %s after they all restarted", after, time.Since(restarted).Round(time.Millisecond))
	if after.Epoch != before.Epoch || !maps.Equal(after.Regions, before.Regions) {
		t.Errorf("after the restart %s, before %s", after, before)
	}
	if got, want := after.Event(), before.Event(); got.Kind != want.Kind || !got.Time.Equal(want.Time) ||
		got.Epoch != want.Epoch || got.From != want.From || got.To != want.To || got.Reason != want.Reason {
		t.Errorf("decision after the restart %+v, before %+v; want it unchanged", got, want)
	}
	for _, a := range mesh.Agents() {
		node := filepath.Join(dir, a.ID())
		for _, f := range []string{statedir.LockFile, "jetstream"} {
			if _, err := os.Stat(filepath.Join(node, f)); err != nil {
				t.Errorf("agent %s: %v", a.ID(), err)
			}
		}
	}
}

// waitState waits until every agent of mesh reads one mesh state, of
// epoch minEpoch or later, with primary as the primary and no region
// fenced, and returns it.
func waitState(t *testing.T, mesh *local.Mesh, minEpoch uint64, primary string) api.State {
	t.Helper()
	var last api.State
	poll.Until(t, 30*time.Second, func() error {
		var epoch uint64
		for _, a := range mesh.Agents() {
			fs := a.Failover()
			switch {
			case fs.ControlPlane != api.ControlReachable || fs.State == nil:
				return fmt.Errorf("agent %s: control plane %s", a.ID(), fs.ControlPlane)
			case fs.State.Epoch < minEpoch || fs.State.Role(primary) != api.RolePrimary || slices.ContainsFunc(slices.Collect(maps.Values(fs.State.Regions)),
				func(r api.RegionState) bool { return r.Role == api.RoleFenced }):
				return fmt.Errorf("agent %s reads %s, want epoch %d or later with %s primary and none fenced", a.ID(), fs.State, minEpoch, primary)
			case epoch != 0 && fs.State.Epoch != epoch:
				return fmt.Errorf("agent %s reads epoch %d, another %d", a.ID(), fs.State.Epoch, epoch)
			}
			epoch, last = fs.State.Epoch, *fs.State
		}
		return nil
	})
	return last
}

// TestStateDirInUse: an agent whose node directory another agent holds
// fails at Start, at once and before it listens, with an error naming
// the directory and the holder's pid; the topology's state_dir applies
// when the config names none; an embedded control plane without either
// is refused by New.
func TestStateDirInUse(t *testing.T) {
	m := lockMesh(t)
	if _, err := agent.New(agent.Config{Mesh: m, Region: "us-east"}); err == nil || !strings.Contains(err.Error(), "no control-plane state directory") {
		t.Errorf("New without a state directory: %v", err)
	}

	m.ControlPlane.StateDir = t.TempDir()
	first, err := agent.New(agent.Config{Mesh: m, Region: "us-east", Logger: testkit.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Close() })
	node := filepath.Join(m.ControlPlane.StateDir, "us-east-1")
	if _, err := os.Stat(filepath.Join(node, statedir.LockFile)); err != nil {
		t.Errorf("the topology's state_dir is not the agent's: %v", err)
	}

	// The same agent again, as a second mesh of the same name on the
	// host would run it: other API and gossip ports, the same directory.
	second, err := agent.New(agent.Config{Mesh: m, Region: "us-east", APIAddr: "127.0.0.1:0", GossipAddr: testkit.FreeAddr(t),
		ControlDir: m.ControlPlane.StateDir, Logger: testkit.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = second.Start(t.Context())
	took := time.Since(start)
	_ = second.Close()
	var inUse *statedir.InUseError
	want := fmt.Sprintf("agent us-east-1: state dir %s is in use by another agent (pid %d)", node, os.Getpid())
	if !errors.As(err, &inUse) || err.Error() != want {
		t.Fatalf("second agent in one state dir: %v; want %q", err, want)
	}
	if took > time.Second || second.APIAddr() != "" {
		t.Errorf("the second agent took %s to fail, API on %q; want at once, before listening", took, second.APIAddr())
	}
	t.Logf("refused in %s: %v", took.Round(time.Microsecond), err)

	// Once the first stops, the directory is free.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := agent.New(agent.Config{Mesh: m, Region: "us-east", Logger: testkit.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	if err := third.Start(t.Context()); err != nil {
		t.Errorf("start after the holder stopped: %v", err)
	}
	if err := third.Close(); err != nil {
		t.Error(err)
	}
}

// lockMesh is a two-region mesh with an embedded control plane whose
// clusters refuse connections: an agent of it starts, and copies nothing.
func lockMesh(t *testing.T) *topology.Mesh {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "mesh: lock\ntopology: {kind: active-passive, primary: us-east, standby: [eu-west]}\nregions:\n")
	for _, r := range []string{"us-east", "eu-west"} {
		fmt.Fprintf(&b, "  - name: %s\n    kafka: {bootstrap: [%s]}\n    agents:\n      - {id: %s-1, gossip: %s, api: %s, control: %s}\n",
			r, testkit.RefusedAddr(t), r, testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t))
	}
	m, err := topology.Load(testkit.TempFile(t, "lock.yaml", b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
