package plane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/failover/quorum"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
	"github.com/nats-io/nats-server/v2/server"
)

// runPlane runs region's plane of the example active-passive mesh with
// a fake host and control, until the test ends.
func runPlane(t *testing.T, region string, control quorum.Config) (*Plane, *fakeHost, func() error) {
	t.Helper()
	m, err := topology.Load("../../configs/examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := newFakeHost(region)
	p, err := New(Config{Mesh: m, Region: region, Agent: region + "-1", Control: control,
		ControlPlaneGrace: time.Minute, Logger: testkit.Logger(t, slog.LevelInfo)}, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("Run did not return within 30s of its context's end")
		}
	})
	t.Cleanup(func() { _ = stop() })
	return p, h, stop
}

// TestFollowsTheDecidedState drives a standby's plane on a real
// one-node control plane: it reads the state, starts the flow from the
// primary, is promoted by a forced failover (the flow stops, the host
// hears the new writer and the fence, the metrics move), refuses a
// command the machine rejects, and stops every flow when Run returns.
func TestFollowsTheDecidedState(t *testing.T) {
	control := quorum.Config{Mesh: fmt.Sprintf("plane-%016x", rand.Uint64()), Name: "eu-west-1",
		ClusterAddr: testkit.FreeAddr(t), StoreDir: t.TempDir(), Timeout: 2 * time.Second}
	p, h, stop := runPlane(t, "eu-west", control)
	fromPrimary := topology.Route{Source: "us-east", Target: "eu-west"}

	poll.Until(t, 30*time.Second, func() error {
		st := p.Status()
		if st.ControlPlane != api.ControlReachable || st.Epoch != 1 || st.Role != api.RoleStandby {
			return fmt.Errorf("control plane %s, %s at epoch %d; want reachable, standby at 1", st.ControlPlane, st.Role, st.Epoch)
		}
		if f := h.flow(fromPrimary); f == nil || !f.isRunning() {
			return fmt.Errorf("flow %s not running", fromPrimary)
		}
		return nil
	})
	if got := p.Flows(); len(got) != 1 || got[0] != h.flow(fromPrimary) {
		t.Fatalf("Flows() = %v, want the one flow from the primary", got)
	}
	if w, _ := h.lastWriters(); !slices.Equal(w, []string{"us-east"}) {
		t.Errorf("writers granted %v, want [us-east]", w)
	}

	res, err := p.Command(t.Context(), machine.Command{Kind: machine.CommandFailover, To: "eu-west", Force: true})
	if err != nil || res.Code != http.StatusOK || res.State == nil || res.State.Epoch != 2 {
		t.Fatalf("forced failover: %+v, %v; want 200 at epoch 2", res, err)
	}
	poll.Until(t, 10*time.Second, func() error {
		if st := p.Status(); st.Role != api.RolePrimary || st.Epoch != 2 {
			return fmt.Errorf("%s at epoch %d, want primary at 2", st.Role, st.Epoch)
		}
		if h.flow(fromPrimary).isRunning() {
			return errors.New("the flow from the old primary still runs")
		}
		return nil
	})
	if w, _ := h.lastWriters(); !slices.Equal(w, []string{"eu-west"}) {
		t.Errorf("writers granted after the failover %v, want [eu-west]", w)
	}
	if r := p.Readiness(); r.Waiting != "" || len(r.Failed) != 0 ||
		!slices.Equal(r.Notes, []string{"no flows into eu-west under the mesh state of epoch 2: it is the primary"}) {
		t.Errorf("readiness of the promoted standby %+v, want no flows because it is the primary", r)
	}
	h.mu.Lock()
	last := h.fences[len(h.fences)-1]
	h.mu.Unlock()
	if last.State == nil || last.State.Role("eu-west") != api.RolePrimary || last.Fenced {
		t.Errorf("last fence applied: %+v, want primary and not fenced", last)
	}
	if v := gaugeValue(t, p.met.epoch); v != 2 {
		t.Errorf("geomesh_failover_epoch %v, want 2", v)
	}
	if v := gaugeValue(t, p.met.role.WithLabelValues("eu-west", "primary")); v != 1 {
		t.Errorf("geomesh_failover_role{role=primary} %v, want 1", v)
	}

	res, err = p.Command(t.Context(), machine.Command{Kind: machine.CommandFailover, To: "nowhere"})
	if err != nil || res.Code != http.StatusConflict || res.Error == "" {
		t.Errorf("failover to an unknown region: %+v, %v; want 409 with a reason", res, err)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Command(context.Background(), machine.Command{Kind: machine.CommandFailback}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("command after Run returned: %v, want ErrNotRunning", err)
	}
	if st := p.Status(); st.ControlPlane != api.ControlStopped {
		t.Errorf("control plane %q after Run returned, want stopped", st.ControlPlane)
	}
}

// TestStaticFlowsWhenRefused: an external control plane that refuses
// the connection starts the topology file's flows at once, and decides
// nothing.
func TestStaticFlowsWhenRefused(t *testing.T) {
	control := quorum.Config{Mesh: "refused", Name: "eu-west-1", URLs: []string{"nats://" + testkit.RefusedAddr(t)}}
	p, h, _ := runPlane(t, "eu-west", control)
	if r := p.Readiness(); r.Waiting == "" && len(r.Notes) == 0 {
		t.Errorf("readiness at start %+v: want waiting for the mesh state, or the file's flows started", r)
	}
	fromPrimary := topology.Route{Source: "us-east", Target: "eu-west"}
	poll.Until(t, 10*time.Second, func() error {
		if f := h.flow(fromPrimary); f == nil || !f.isRunning() {
			return fmt.Errorf("flow %s not running", fromPrimary)
		}
		return nil
	})
	if st := p.Status(); st.State != nil || st.Epoch != 0 || st.ControlPlane != api.ControlConnecting {
		t.Errorf("status %+v: want no state, connecting", st)
	}
	if _, ok := h.lastWriters(); ok {
		t.Error("writers granted without a decided state")
	}
	if r := p.Readiness(); r.Waiting != "" || !slices.Equal(r.Notes, []string{"running the topology file's flows: no mesh state read yet"}) {
		t.Errorf("readiness %+v, want the file's flows noted", r)
	}
}

// TestWaitingForTheMeshState: until the grace passes without a mesh
// state, the plane says it waits, and for how long at most.
func TestWaitingForTheMeshState(t *testing.T) {
	// An embedded node whose two peers are down: it starts, and never
	// has a majority to read a state from.
	control := quorum.Config{Mesh: fmt.Sprintf("alone-%016x", rand.Uint64()), Name: "eu-west-1", ClusterAddr: testkit.FreeAddr(t),
		Peers: []string{testkit.RefusedAddr(t), testkit.RefusedAddr(t)}, StoreDir: t.TempDir(), Timeout: time.Second}
	p, h, _ := runPlane(t, "eu-west", control)
	time.Sleep(2 * time.Second) // long enough to have read a state, had there been one
	r := p.Readiness()
	if want := "waiting for the mesh state before starting the flows into eu-west (at most 1m0s, then the topology file's)"; r.Waiting != want {
		t.Errorf("readiness %+v, want waiting: %q", r, want)
	}
	if f := h.flow(topology.Route{Source: "us-east", Target: "eu-west"}); f != nil {
		t.Error("a flow started while the plane waits for the mesh state")
	}
}

// TestControlPlaneErrorsCounted runs a plane on an external NATS server
// and stops the server under it: the failed majority checks are counted
// in geomesh_control_plane_errors_total{op="check"}, every op's series
// exists from the start, and the plane says the control plane is
// unreachable.
func TestControlPlaneErrorsCounted(t *testing.T) {
	srv := testkit.NATSServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir()})
	control := quorum.Config{Mesh: fmt.Sprintf("errors-%016x", rand.Uint64()), Name: "eu-west-1",
		URLs: []string{"nats://" + srv.Addr().String()}, Replicas: 1, Timeout: time.Second}
	p, _, _ := runPlane(t, "eu-west", control)
	poll.Until(t, 30*time.Second, func() error {
		if st := p.Status(); st.ControlPlane != api.ControlReachable || st.Epoch != 1 {
			return fmt.Errorf("control plane %s at epoch %d; want reachable at 1", st.ControlPlane, st.Epoch)
		}
		return nil
	})
	for _, op := range quorum.Ops {
		if v := counterValue(t, p.met.controlErrors.WithLabelValues(string(op))); v != 0 {
			t.Errorf("geomesh_control_plane_errors_total{op=%q} = %v on a working control plane, want 0", op, v)
		}
	}

	srv.Shutdown()
	srv.WaitForShutdown()
	poll.Until(t, 30*time.Second, func() error {
		if v := counterValue(t, p.met.controlErrors.WithLabelValues(string(quorum.OpCheck))); v < 2 {
			return fmt.Errorf("geomesh_control_plane_errors_total{op=check} = %v, want at least 2", v)
		}
		if st := p.Status(); st.ControlPlane != api.ControlUnreachable {
			return fmt.Errorf("control plane %s, want unreachable", st.ControlPlane)
		}
		return nil
	})
}
