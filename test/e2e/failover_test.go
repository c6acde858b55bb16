package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/health"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/topology"
)

// witnessMesh writes an active-passive topology of mesh-east (primary,
// on east) and mesh-west (standby, on west) with a witness mesh-witness,
// one agent each with an embedded control-plane node on free ports, and
// returns its path and text. body holds the other sections (topics,
// groups, failover) as top-level YAML. A region's bootstrap lists every
// broker of its cluster.
func witnessMesh(t testing.TB, mesh string, east, west *kafkatest.Cluster, body string) (path, text string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "mesh: %s\ntopology: {kind: active-passive, primary: %[1]s-east, standby: [%[1]s-west]}\n%s\ncontrol_plane: {embedded: true}\nregions:\n",
		mesh, strings.TrimSpace(body))
	for _, r := range []struct {
		name string
		c    *kafkatest.Cluster
	}{{mesh + "-east", east}, {mesh + "-west", west}, {mesh + "-witness", nil}} {
		fmt.Fprintf(&b, "  - name: %s\n", r.name)
		if r.c != nil {
			fmt.Fprintf(&b, "    kafka: {bootstrap: [%s]}\n", strings.Join(r.c.Bootstrap(), ", "))
		} else {
			b.WriteString("    witness: true\n")
		}
		fmt.Fprintf(&b, "    agents:\n      - {id: %s-1, gossip: %s, api: %s, control: %s}\n", r.name, testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t))
	}
	return testkit.TempFile(t, mesh+".yaml", b.String()), b.String()
}

// failoverMesh writes an active-passive topology with a witness, an
// embedded control plane on free ports, automatic failover with the
// detection settings of a 5 s target and an exec hook that appends each
// event to hookFile.
func failoverMesh(t *testing.T, mesh string, primary, standby *kafkatest.Cluster, hookFile string) string {
	t.Helper()
	path, _ := witnessMesh(t, mesh, primary, standby, fmt.Sprintf(`
topics: {include: ["orders"]}
failover:
  mode: automatic
  detection: {probe_interval: 500ms, probe_timeout: 250ms, suspicion_mult: 3, kafka_probe_interval: 1s, down_after: 3s}
  hooks:
    - exec: [sh, -c, "cat >> %s; echo >> %s"]
      timeout: 5s
`, hookFile, hookFile))
	return path
}

// meshAgents starts and stops agents of one mesh with a control-plane
// directory of the test's own, so that a restarted agent finds its node's
// data again and no earlier run's state leaks in.
type meshAgents struct {
	t    *testing.T
	mesh *topology.Mesh
	dir  string
	log  *slog.Logger
	// partitionLag turns on the agents' per-partition lag and RPO metrics.
	partitionLag bool
}

func newMeshAgents(t *testing.T, path string) *meshAgents {
	m, err := topology.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return &meshAgents{t: t, mesh: m, dir: t.TempDir(),
		log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("test", t.Name())}
}

func (ma *meshAgents) start(region string) *agent.Agent {
	ma.t.Helper()
	a, err := agent.New(agent.Config{Mesh: ma.mesh, Region: region, ControlDir: ma.dir, Logger: ma.log, PartitionLagMetrics: ma.partitionLag})
	if err != nil {
		ma.t.Fatal(err)
	}
	if err := a.Start(ma.t.Context()); err != nil {
		ma.t.Fatal(err)
	}
	ma.t.Cleanup(func() { _ = a.Close() })
	return a
}

// startActivePassive starts the agents of mesh's east, west and witness
// regions and waits until east is the primary and west its standby at
// epoch 1.
func (ma *meshAgents) startActivePassive(mesh string) (east, west, witness *agent.Agent) {
	ma.t.Helper()
	east, west, witness = ma.start(mesh+"-east"), ma.start(mesh+"-west"), ma.start(mesh+"-witness")
	poll.Until(ma.t, 30*time.Second, func() error {
		if err := roleAt(east, "primary", 1); err != nil {
			return err
		}
		return roleAt(west, "standby", 1)
	})
	return east, west, witness
}

func roleAt(a *agent.Agent, role string, epoch uint64) error {
	st := a.Status()
	if string(st.Role) != role || st.Epoch != epoch {
		return fmt.Errorf("%s: role %q epoch %d, want %q at %d (control plane %s)", a.Region(), st.Role, st.Epoch, role, epoch, a.Failover().ControlPlane)
	}
	return nil
}

// upByMajority is nil once a majority of the agents, one per voting
// region, sees each of regions up, as a planned switch or a failback
// needs before it starts.
func upByMajority(agents []*agent.Agent, regions ...string) error {
	majority := len(agents)/2 + 1
	for _, r := range regions {
		var seen []string
		for _, a := range agents {
			for _, v := range a.Failover().Views {
				if v.Region == r && v.Verdict == health.Up {
					seen = append(seen, a.Region())
				}
			}
		}
		if len(seen) < majority {
			return fmt.Errorf("%s is up for %v only, want %d of %d regions", r, seen, majority, len(agents))
		}
	}
	return nil
}

// plannedSwitch runs `geomesh ARGS --topology path --wait 60s`, a
// failover --to or a failback, once a majority of agents sees both
// regions up, and returns its output and when the run that was taken
// started. The deciding agent learns the others' views over the control
// plane a moment after they have them, and a verdict may still turn while
// regions come up, so a run rejected because the regions are not up by a
// majority (the rejection says to retry) is run again; any other error
// fails the test.
func plannedSwitch(t *testing.T, ctx context.Context, path string, agents []*agent.Agent, regions []string, args ...string) (string, time.Time) {
	t.Helper()
	var out []byte
	var start time.Time
	poll.Until(t, 60*time.Second, func() error {
		if err := upByMajority(agents, regions...); err != nil {
			return err
		}
		start = time.Now()
		var err error
		out, err = exec.CommandContext(ctx, testkit.BuildGeomesh(t), append(args, "--topology", path, "--wait", "60s")...).CombinedOutput()
		switch {
		case err == nil:
			return nil
		case strings.Contains(string(out), "by a majority of voters; retry"), strings.Contains(string(out), "is not up by a majority of voters"):
			return fmt.Errorf("geomesh %s: %v: %s", strings.Join(args, " "), err, out)
		}
		t.Fatalf("geomesh %s: %v\n%s", strings.Join(args, " "), err, out)
		return nil
	})
	return strings.TrimSpace(string(out)), start
}

// TestFailoverPrimaryLoss: the primary's cluster and agent die; the
// standby is promoted at epoch 2 within the detection time, the event is
// published and the hook runs; the old primary's agent, restarted, is
// demoted and rejoins as a standby that the new primary replicates to.
func TestFailoverPrimaryLoss(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	// Start closes the cluster in a cleanup registered before the agents':
	// cleanups run last-in first-out, so the agents stop while it answers.
	east := kafkatest.Start(t, kafkatest.Options{})
	west := clusters[1]
	hookFile := filepath.Join(t.TempDir(), "hooks.jsonl")
	mesh := "e2e-fo"
	path := failoverMesh(t, mesh, east, west, hookFile)
	ma := newMeshAgents(t, path)
	eastName, westName := mesh+"-east", mesh+"-west"

	createTopic(t, east, "orders", 3, nil)
	ea, wa, xa := ma.startActivePassive(mesh)
	produce(t, east, eastName, "orders", 0, 200)
	readTopic(t, west, "orders", 200, 30*time.Second)

	// The primary region dies: its agent, then its cluster.
	if err := ea.Close(); err != nil {
		t.Log(err)
	}
	if err := east.KillBroker(0); err != nil {
		t.Fatal(err)
	}
	failed := time.Now()
	poll.Until(t, 30*time.Second, func() error { return roleAt(wa, "primary", 2) })
	detection := time.Since(failed)
	t.Logf("standby promoted at epoch 2 %.1fs after the primary died", detection.Seconds())
	if detection > 10*time.Second {
		t.Errorf("failover took %s, want within 10s with down_after 3s", detection)
	}

	// The event, as the NATS subject carried it, and the hook.
	poll.Until(t, 10*time.Second, func() error {
		for _, ev := range wa.Failover().Events {
			if ev.Epoch == 2 && ev.Kind == api.DecisionFailover && ev.From == eastName && ev.To == westName {
				return nil
			}
		}
		return fmt.Errorf("no failover event at epoch 2 among %v", wa.Failover().Events)
	})
	poll.Until(t, 10*time.Second, func() error {
		data, err := os.ReadFile(hookFile)
		if err != nil {
			return err
		}
		// The agent that wrote the initial state ran the hooks for it too.
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var ev api.Event
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				return fmt.Errorf("hook output %q: %w", data, err)
			}
			if ev.Epoch == 2 && ev.Kind == api.DecisionFailover {
				return nil
			}
		}
		return fmt.Errorf("no failover at epoch 2 among the hook's events: %s", data)
	})
	var st agent.Status
	getJSON(t, "http://"+wa.APIAddr()+"/v1/status", &st)
	if st.Role != "primary" || st.Epoch != 2 || st.Fenced {
		t.Errorf("/v1/status of %s: role %q epoch %d fenced %v", westName, st.Role, st.Epoch, st.Fenced)
	}
	// The status page follows the decision: the new roles and epoch.
	resp, err := http.Get("http://" + wa.APIAddr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	westPrimary := regexp.MustCompile(regexp.QuoteMeta(westName) + `</text>\s*<text[^>]*>primary</text>`)
	if !strings.Contains(string(page), "those of epoch 2") || !westPrimary.Match(page) {
		t.Errorf("status page of %s does not show epoch 2 with %s as primary", westName, westName)
	}

	// Writes now go to the new primary.
	produce(t, west, westName, "orders", 1000, 50)

	// The old primary comes back: it sees the newer epoch, is demoted,
	// rejoins as a standby, and the new primary's records reach it.
	if err := east.StartBroker(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ea2 := ma.start(eastName)
	poll.Until(t, 60*time.Second, func() error { return roleAt(ea2, "standby", 3) })
	recs := readTopic(t, east, "orders", 250, 60*time.Second)
	from := 0
	for _, r := range recs {
		if o, ok := testkit.Header(r, "geomesh-origin-region"); ok && o == westName {
			from++
		}
	}
	if from != 50 {
		t.Errorf("old primary holds %d copies of the new primary's records, want 50", from)
	}

	// Failback: a planned switch home, with nothing lost.
	out, _ := plannedSwitch(t, ctx, path, []*agent.Agent{ea2, wa, xa}, []string{eastName, westName}, "failback")
	t.Logf("geomesh failback: %s", out)
	poll.Until(t, 10*time.Second, func() error { return roleAt(ea2, "primary", 5) })
	poll.Until(t, 10*time.Second, func() error { return roleAt(wa, "standby", 5) })
}

// TestFailoverPlannedSwitch: `geomesh failover --to` on a healthy mesh is
// a planned switch: every record produced before it is on the new primary,
// once.
func TestFailoverPlannedSwitch(t *testing.T) {
	east, west := clusters[2], clusters[3]
	mesh := "e2e-sw"
	path := failoverMesh(t, mesh, east, west, filepath.Join(t.TempDir(), "hooks.jsonl"))
	ma := newMeshAgents(t, path)
	eastName, westName := mesh+"-east", mesh+"-west"
	createTopic(t, east, "orders", 3, nil)
	ea, wa, xa := ma.startActivePassive(mesh)
	produce(t, east, eastName, "orders", 0, 300)
	out, _ := plannedSwitch(t, t.Context(), path, []*agent.Agent{ea, wa, xa}, []string{eastName, westName}, "failover", "--to", westName)
	t.Logf("geomesh failover: %s", out)
	if err := roleAt(wa, "primary", 3); err != nil {
		poll.Until(t, 10*time.Second, func() error { return roleAt(wa, "primary", 3) })
	}
	poll.Until(t, 10*time.Second, func() error { return roleAt(ea, "standby", 3) })
	src := readTopic(t, east, "orders", 300, 10*time.Second)
	// All of them are on the new primary already: the switch drained.
	tgt := readTopic(t, west, "orders", 300, 2*time.Second)
	checkCopies(t, eastName, src, tgt, eastName+","+westName)

	var fs api.FailoverStatus
	getJSON(t, "http://"+ea.APIAddr()+"/v1/failover", &fs)
	if fs.State == nil || fs.State.Epoch != 3 || fs.State.Role(westName) != api.RolePrimary {
		t.Errorf("GET /v1/failover of %s: %+v", eastName, fs.State)
	}
}
