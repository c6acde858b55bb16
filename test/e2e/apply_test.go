//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
)

// applyMesh writes an active-passive topology with a witness and an
// embedded control plane, copying the topics include selects.
func applyMesh(t *testing.T, mesh string, east, west *kafkatest.Cluster, include string) (path, text string) {
	t.Helper()
	return witnessMesh(t, mesh, east, west, fmt.Sprintf(`
topics: {include: [%s]}
failover:
  mode: automatic
  detection: {probe_interval: 500ms, probe_timeout: 250ms, suspicion_mult: 3, kafka_probe_interval: 1s, down_after: 3s}
`, include))
}

// cliExit runs the geomesh binary bin and returns its stdout, stderr and
// exit status (go run would turn every failure into 1).
func cliExit(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return out.String(), errOut.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("geomesh %v: %v", args, err)
	}
	return out.String(), errOut.String(), 0
}

// TestApplyLive changes a running mesh's topology on real Kafka with
// geomesh diff and apply while a transactional stream flows, and checks
// the outcome in the clusters: a topic the new version selects is copied
// exactly once without any agent restarting, an agent restarted from the
// older file runs the stored version, a rollback stops the copy again,
// an unsafe version is refused and stores nothing, and the stream that
// ran through every step arrives exactly once.
func TestApplyLive(t *testing.T) {
	const mesh = "e2e-apply"
	orders, refunds := mesh+"-orders", mesh+"-refunds"
	east, west := clusters[1], clusters[2]
	oldPath, oldText := applyMesh(t, mesh, east, west, `"`+orders+`"`)
	newText := strings.Replace(oldText, `topics: {include: ["`+orders+`"]}`, `topics: {include: ["`+orders+`", "`+refunds+`"]}`, 1)
	newPath := testkit.TempFile(t, mesh+"-new.yaml", newText)
	bin := testkit.BuildGeomesh(t)
	createTopic(t, east, orders, 3, nil)
	createTopic(t, east, refunds, 3, nil)
	rng := rand.New(rand.NewPCG(seed(t), 19))
	st := startStream(t, east, mesh+"-east", orders, 3, rng.Uint64(), 50*time.Millisecond)

	ma := newMeshAgents(t, oldPath)
	_, westAgent, _ := ma.startActivePassive(mesh)
	produce(t, east, mesh+"-east", refunds, 0, 200)
	readTopic(t, west, orders, 50, 60*time.Second)
	if n := len(testkit.Read(t, refunds, 1, 3*time.Second, clientOpts(west)...)); n != 0 {
		t.Fatalf("west holds %d records of %s before it is selected", n, refunds)
	}

	out, errOut, code := cliExit(t, bin, "apply", "-t", oldPath, oldPath, "--json")
	if code != 0 {
		t.Fatalf("apply of the running file: exit %d\n%s%s", code, out, errOut)
	}
	var res struct {
		api.ApplyResponse
		Converged struct {
			Seconds float64  `json:"seconds"`
			Agents  int      `json:"agents"`
			Behind  []string `json:"behind"`
		} `json:"converged"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Version != 1 || len(res.Changes) != 0 {
		t.Fatalf("apply of the running file answered %s (%v), want version 1 with no changes", out, err)
	}

	out, errOut, code = cliExit(t, bin, "diff", "-t", oldPath, newPath)
	if code != 0 || !strings.Contains(out, "~ topics.include: ["+orders+"] → ["+orders+", "+refunds+"]") {
		t.Fatalf("diff: exit %d, want 0 and the topics.include change\n%s%s", code, out, errOut)
	}
	out, errOut, code = cliExit(t, bin, "apply", "-t", oldPath, newPath, "--json")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	res.Converged.Seconds = 0
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Version != 2 || res.Converged.Agents != 3 || len(res.Converged.Behind) != 0 {
		t.Fatalf("apply answered %s (%v), want version 2 run by all 3 agents", out, err)
	}
	t.Logf("apply to converged (3 agents run version 2): %.2fs", res.Converged.Seconds)
	applied := time.Now()
	poll.Until(t, 60*time.Second, func() error {
		if n := len(testkit.Read(t, refunds, 200, time.Second, clientOpts(west)...)); n < 200 {
			return fmt.Errorf("west holds %d of the 200 records of %s", n, refunds)
		}
		return nil
	})
	t.Logf("apply to the newly selected topic copied (200 records in west): %s", time.Since(applied).Round(10*time.Millisecond))
	got := readTopic(t, west, refunds, 200, 60*time.Second)
	checkCopies(t, mesh+"-east", readTopic(t, east, refunds, 200, 10*time.Second), got, "")
	t.Logf("west holds the 200 records of %s once each after the apply", refunds)

	t.Run("restart from the older file", func(t *testing.T) {
		if err := westAgent.Close(); err != nil {
			t.Fatal(err)
		}
		westAgent = ma.start(mesh + "-west")
		poll.Until(t, 30*time.Second, func() error {
			if tp := westAgent.Status().Topology; tp.Version != 2 || tp.Source != "control-plane" {
				return fmt.Errorf("restarted west runs %+v, want version 2", tp)
			}
			return nil
		})
		produce(t, east, mesh+"-east", refunds, 200, 50)
		readTopic(t, west, refunds, 250, 60*time.Second)
	})

	t.Run("unsafe version refused", func(t *testing.T) {
		renamed := testkit.TempFile(t, "renamed.yaml", strings.Replace(newText, "mesh: "+mesh, "mesh: "+mesh+"-2", 1))
		out, errOut, code := cliExit(t, bin, "apply", "-t", oldPath, renamed)
		if code != 3 || !strings.Contains(out, "REFUSED") {
			t.Fatalf("apply of a renamed mesh: exit %d, want 3 with REFUSED\n%s%s", code, out, errOut)
		}
		if tp := westAgent.Status().Topology; tp.Version != 2 {
			t.Fatalf("west runs version %d after a refused apply, want 2", tp.Version)
		}
	})

	t.Run("rollback", func(t *testing.T) {
		out, errOut, code := cliExit(t, bin, "apply", "--rollback", "-t", oldPath, "--json")
		if code != 0 {
			t.Fatalf("apply --rollback: exit %d\n%s%s", code, out, errOut)
		}
		var rb struct {
			api.ApplyResponse
			Converged struct{ Behind []string } `json:"converged"`
		}
		if err := json.Unmarshal([]byte(out), &rb); err != nil || rb.Version != 3 || len(rb.Converged.Behind) != 0 {
			t.Fatalf("rollback answered %s (%v), want version 3 run by every agent", out, err)
		}
		// Records written after every agent runs version 3: orders still
		// arrive, refunds no longer do.
		produce(t, east, mesh+"-east", refunds, 250, 50)
		before := len(readTopic(t, west, orders, 1, 10*time.Second))
		poll.Until(t, 60*time.Second, func() error {
			if n := len(testkit.Read(t, orders, before+20, 2*time.Second, clientOpts(west)...)); n < before+20 {
				return fmt.Errorf("west holds %d of %s, want %d", n, orders, before+20)
			}
			return nil
		})
		if n := len(readTopic(t, west, refunds, 250, 10*time.Second)); n != 250 {
			t.Fatalf("west holds %d records of %s after the rollback, want 250 (the copy stopped)", n, refunds)
		}
	})

	st.stop(t)
	n := st.verify(t, west, mesh+"-east,"+mesh+"-west", 90*time.Second)
	t.Logf("the stream through every apply: %d committed records in west once each; source: %s", n, st)
	if tp := westAgent.Status().Topology; tp.Version != 3 {
		t.Fatalf("west ends at topology version %d, want 3", tp.Version)
	}
}
