package plane

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/quorum"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
)

// TestApplyTopology stores topology versions through a standby's plane
// on a real one-node control plane and checks what the plane runs after
// each: a selection change restarts the flow with the new selection, a
// timing change does not restart it, a listener change waits for a
// restart, and stale, invalid and unsafe versions are refused with
// their reasons while nothing is stored.
func TestApplyTopology(t *testing.T) {
	control := quorum.Config{Mesh: fmt.Sprintf("plane-%016x", rand.Uint64()), Name: "eu-west-1",
		ClusterAddr: testkit.FreeAddr(t), StoreDir: t.TempDir(), Timeout: 2 * time.Second}
	p, h, stop := runPlane(t, "eu-west", control)
	route := topology.Route{Source: "us-east", Target: "eu-west"}
	data, err := os.ReadFile("../../configs/examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := string(data)
	poll.Until(t, 30*time.Second, func() error {
		if f := h.flow(route); f == nil || !f.isRunning() || p.storeNow() == nil {
			return fmt.Errorf("flow %s not running yet, or no store", route)
		}
		return nil
	})
	if st := p.Topology(); st.Version != 0 || st.Source != "file" {
		t.Fatalf("before any apply: %+v, want version 0 from the file", st)
	}
	ctx := context.Background()
	apply := func(t *testing.T, req api.ApplyRequest, wantCode int) api.ApplyResponse {
		t.Helper()
		resp, code, err := p.Apply(ctx, req)
		if code != wantCode {
			t.Fatalf("Apply: code %d (%v), want %d; changes %+v", code, err, wantCode, resp.Changes)
		}
		return resp
	}
	waitVersion := func(t *testing.T, v uint64) api.TopologyStatus {
		t.Helper()
		var st api.TopologyStatus
		poll.Until(t, 10*time.Second, func() error {
			if st = p.Topology(); st.Version != v {
				return fmt.Errorf("running version %d, want %d", st.Version, v)
			}
			return nil
		})
		return st
	}

	moreTopics := strings.Replace(base, `include: ["orders.*", "payments"]`, `include: ["orders.*", "payments", "refunds"]`, 1)
	t.Run("dry run stores nothing", func(t *testing.T) {
		resp := apply(t, api.ApplyRequest{Source: moreTopics, DryRun: true}, http.StatusOK)
		if resp.Version != 0 || len(resp.Changes) != 1 || resp.Changes[0].Path != "topics.include" || !resp.Changes[0].Live {
			t.Fatalf("dry run answered %+v, want version 0 and one live change of topics.include", resp)
		}
		if _, ok, err := p.TopologyVersion(ctx, 0); ok || err != nil {
			t.Fatalf("a version is stored after a dry run (%v)", err)
		}
	})
	t.Run("selection change restarts the flow", func(t *testing.T) {
		resp := apply(t, api.ApplyRequest{Source: moreTopics, Expected: 0, By: "test"}, http.StatusOK)
		if resp.Version != 1 {
			t.Fatalf("stored version %d, want 1", resp.Version)
		}
		st := waitVersion(t, 1)
		if st.Source != "control-plane" || st.SHA256 != api.Digest([]byte(moreTopics)) || len(st.PendingRestart) != 0 {
			t.Fatalf("status %+v", st)
		}
		poll.Until(t, 10*time.Second, func() error {
			if n := h.startedCount(route); n != 2 {
				return fmt.Errorf("flow made %d times, want 2 (restarted with the new selection)", n)
			}
			return nil
		})
		if !p.topo().Topics.Match("refunds") {
			t.Fatal("the running topology does not select refunds")
		}
	})
	t.Run("stale version refused", func(t *testing.T) {
		resp := apply(t, api.ApplyRequest{Source: base, Expected: 0}, http.StatusConflict)
		if resp.From != 1 {
			t.Fatalf("answer from version %d, want 1", resp.From)
		}
	})
	t.Run("timing change keeps the flow", func(t *testing.T) {
		faster := strings.Replace(moreTopics, "down_after: 2s", "down_after: 3s", 1)
		apply(t, api.ApplyRequest{Source: faster, Expected: 1}, http.StatusOK)
		waitVersion(t, 2)
		if n := h.startedCount(route); n != 2 {
			t.Fatalf("flow made %d times after a timing change, want still 2", n)
		}
		if got := p.topo().Failover.Detection.DownAfter; got != 3*time.Second {
			t.Fatalf("running down_after %s, want 3s", got)
		}
	})
	t.Run("listener change waits for a restart", func(t *testing.T) {
		cur, _, _ := p.TopologyVersion(ctx, 0)
		eu, _ := p.topo().Region("eu-west")
		moved := strings.Replace(cur.Source, "api: "+eu.Agents[0].API, "api: "+testkit.FreeAddr(t), 1)
		resp := apply(t, api.ApplyRequest{Source: moved, Expected: 2}, http.StatusOK)
		if len(resp.Changes) != 1 || resp.Changes[0].Live {
			t.Fatalf("changes %+v, want one change that is not live", resp.Changes)
		}
		st := waitVersion(t, 3)
		if !slices.Equal(st.PendingRestart, []string{"regions[eu-west].agents[eu-west-1].api"}) {
			t.Fatalf("pending restart %v", st.PendingRestart)
		}
	})
	t.Run("invalid and unsafe versions refused", func(t *testing.T) {
		resp := apply(t, api.ApplyRequest{Source: strings.Replace(base, "down_after: 2s", "down_after: soon", 1), Expected: 3}, http.StatusBadRequest)
		if len(resp.Errors) == 0 || !strings.Contains(resp.Errors[0], "topology:") {
			t.Fatalf("errors %v, want file:line:col messages", resp.Errors)
		}
		cur, _, _ := p.TopologyVersion(ctx, 0)
		renamed := strings.Replace(cur.Source, "mesh: shop", "mesh: shop-2", 1)
		resp = apply(t, api.ApplyRequest{Source: renamed, Expected: 3}, http.StatusConflict)
		if !slices.ContainsFunc(resp.Changes, func(c api.TopologyChange) bool { return c.Refused != "" }) {
			t.Fatalf("changes %+v, want a refused one", resp.Changes)
		}
		if v, _, _ := p.TopologyVersion(ctx, 0); v.Version != 3 {
			t.Fatalf("newest stored version %d after refusals, want 3", v.Version)
		}
	})
	t.Run("a version the plane cannot run is rejected", func(t *testing.T) {
		// Stored past Apply's checks, as by an older geomesh: a version
		// that adds a region.
		cur, _, _ := p.TopologyVersion(ctx, 0)
		entry := fmt.Sprintf("  - name: ap-south\n    kafka: {bootstrap: [%s]}\n    agents:\n      - {id: ap-south-1, gossip: %s, api: %s, control: %s}\n",
			testkit.RefusedAddr(t), testkit.RefusedAddr(t), testkit.RefusedAddr(t), testkit.RefusedAddr(t))
		added := strings.Replace(cur.Source, "  - name: witness\n", entry+"  - name: witness\n", 1)
		added = strings.Replace(added, "standby: [eu-west]", "standby: [eu-west, ap-south]", 1)
		added = strings.Replace(added, "voters: [us-east, eu-west, witness]", "voters: [us-east, eu-west, ap-south, witness]", 1)
		if _, err := topology.Parse("added", []byte(added)); err != nil {
			t.Fatalf("the edited version does not validate: %v", err)
		}
		if err := p.storeNow().StoreTopology(ctx, api.TopologyVersion{Version: 4, Source: added, SHA256: api.Digest([]byte(added))}); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 10*time.Second, func() error {
			if st := p.Topology(); !strings.Contains(st.Rejected, "version 4: regions[ap-south]: adding region ap-south") || st.Version != 3 {
				return fmt.Errorf("status %+v, want version 3 still and version 4 rejected for adding ap-south", st)
			}
			return nil
		})
		if v := gaugeValue(t, p.met.topologyRejected); v != 1 {
			t.Fatalf("geomesh_topology_rejected = %v, want 1", v)
		}
		if v := gaugeValue(t, p.met.topologyVersion); v != 3 {
			t.Fatalf("geomesh_topology_version = %v, want 3", v)
		}
		if _, ok := p.topo().Region("ap-south"); ok {
			t.Fatal("the plane runs a topology with ap-south")
		}
	})
	t.Run("storing what the agents run lifts the rejection", func(t *testing.T) {
		running, _, _ := p.TopologyVersion(ctx, 3)
		resp := apply(t, api.ApplyRequest{Source: running.Source, Expected: 4}, http.StatusOK)
		if resp.Version != 5 || !slices.ContainsFunc(resp.Changes, func(c api.TopologyChange) bool { return c.Path == "regions[ap-south]" && c.Refused == "" }) {
			t.Fatalf("apply answered %+v, want version 5 with ap-south's removal from version 4 not refused (the plane never ran it)", resp)
		}
		st := waitVersion(t, 5)
		if st.Rejected != "" {
			t.Fatalf("still rejecting after version 5: %s", st.Rejected)
		}
		if v := gaugeValue(t, p.met.topologyRejected); v != 0 {
			t.Fatalf("geomesh_topology_rejected = %v after version 5, want 0", v)
		}
		cur, _, _ := p.TopologyVersion(ctx, 0)
		added, _, _ := p.TopologyVersion(ctx, 4)
		resp = apply(t, api.ApplyRequest{Source: added.Source, Expected: cur.Version}, http.StatusConflict)
		if !slices.ContainsFunc(resp.Changes, func(c api.TopologyChange) bool { return c.Path == "regions[ap-south]" && c.Refused != "" }) {
			t.Fatalf("adding ap-south to the running plane: %+v, want it refused", resp.Changes)
		}
	})
	t.Run("a restart from the older file converges", func(t *testing.T) {
		// The newest version is one it cannot run: it runs the one before.
		added, _, _ := p.TopologyVersion(ctx, 4)
		if err := p.storeNow().StoreTopology(ctx, api.TopologyVersion{Version: 6, Source: added.Source, SHA256: added.SHA256}); err != nil {
			t.Fatal(err)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		p2, h2, _ := runPlane(t, "eu-west", control)
		poll.Until(t, 30*time.Second, func() error {
			if st := p2.Topology(); st.Version != 5 || st.Source != "control-plane" || !strings.Contains(st.Rejected, "version 6") {
				return fmt.Errorf("restarted plane runs %+v, want version 5 from the control plane and version 6 rejected", st)
			}
			if f := h2.flow(route); f == nil || !f.isRunning() {
				return fmt.Errorf("flow %s not running", route)
			}
			return nil
		})
		if n := h2.startedCount(route); n != 1 || !p2.topo().Topics.Match("refunds") {
			t.Fatalf("flow made %d times (want 1: started once, with the stored version's selection); selects refunds: %v", n, p2.topo().Topics.Match("refunds"))
		}
	})
}
