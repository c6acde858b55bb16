package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/failover/membership"
	"github.com/geomesh/geomesh/internal/syncbuf"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
)

func newKey(t *testing.T) (string, []byte) {
	t.Helper()
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k), k
}

// TestKeysRotation rotates the gossip key of three agents on loopback with
// geomesh keys install, use and remove, and checks that no agent ever
// loses sight of another: every agent sees all three throughout, and no
// membership change is logged.
func TestKeysRotation(t *testing.T) {
	oldB64, oldKey := newKey(t)
	newB64, newKey := newKey(t)
	t.Setenv("GEOMESH_TEST_GOSSIP_OLD", oldB64)
	t.Setenv("GEOMESH_TEST_GOSSIP_NEW", newB64)
	t.Setenv("GEOMESH_TEST_ADMIN_TOKEN", "admin-token-for-keys")
	t.Setenv("GEOMESH_TEST_READ_TOKEN", "read-token-for-keys")
	// The clusters and the control plane refuse connections: key rotation
	// is gossip and API only.
	var b strings.Builder
	fmt.Fprintf(&b, `mesh: keys
topology: {kind: active-passive, primary: a, standby: [b]}
control_plane: {urls: ["nats://%s"]}
api: {read_token: env:GEOMESH_TEST_READ_TOKEN, admin_token: env:GEOMESH_TEST_ADMIN_TOKEN}
gossip: {keys: [env:GEOMESH_TEST_GOSSIP_OLD]}
regions:
  - name: a
    kafka: {bootstrap: [%s]}
    agents:
`, testkit.RefusedAddr(t), testkit.RefusedAddr(t))
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&b, "      - {id: a-%d, gossip: %s, api: %s}\n", i, testkit.FreeAddr(t), testkit.FreeAddr(t))
	}
	// b-1 never runs: its addresses refuse too.
	fmt.Fprintf(&b, "  - name: b\n    kafka: {bootstrap: [%s]}\n    agents: [{id: b-1, gossip: %s, api: %s}]\n",
		testkit.RefusedAddr(t), testkit.RefusedAddr(t), testkit.RefusedAddr(t))
	path := testkit.TempFile(t, "keys.yaml", b.String())
	m, err := topology.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var agents []*agent.Agent
	for i := 1; i <= 3; i++ {
		a, err := agent.New(agent.Config{Mesh: m, Region: "a", AgentID: fmt.Sprintf("a-%d", i), Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		agents = append(agents, a)
	}
	allSeeAll := func() error {
		for _, a := range agents {
			if got := a.Status().Members; len(got) != 3 {
				return fmt.Errorf("agent %s sees %v", a.ID(), got)
			}
		}
		return nil
	}
	deadline := time.Now().Add(20 * time.Second)
	for allSeeAll() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("agents did not find each other: %v", allSeeAll())
		}
		time.Sleep(100 * time.Millisecond)
	}
	joined := strings.Count(logs.String(), "member gone")
	// The windows below are the test, not waits for a state: gossip runs
	// under each keyring until every agent has probed each of the others
	// (one peer per probe interval, round robin), and after the last step
	// for longer than the pool takes to declare a member dead, so that an
	// agent that could no longer read another would have lost it.
	timing := membership.WANFrom(m.Failover.Detection)
	probeRound := time.Duration(len(agents)) * timing.ProbeInterval
	detection := timing.DetectionTime(len(agents))

	// Watch all along: any agent seeing fewer than three is a flap.
	stop := make(chan struct{})
	var watchErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if err := allSeeAll(); err != nil && watchErr == nil {
				watchErr = err
			}
		}
	})

	if _, _, err := run(t, "keys", "install", "--topology", path, "--key", "env:GEOMESH_TEST_GOSSIP_NEW", "--token", "env:GEOMESH_TEST_READ_TOKEN"); err == nil {
		t.Error("keys install with the read token succeeded")
	}
	for _, step := range [][]string{
		{"install", "env:GEOMESH_TEST_GOSSIP_NEW"},
		{"use", "env:GEOMESH_TEST_GOSSIP_NEW"},
		{"remove", "env:GEOMESH_TEST_GOSSIP_OLD"},
	} {
		out, errOut, err := run(t, "keys", step[0], "--topology", path, "--key", step[1])
		t.Logf("keys %s:\n%s%s", step[0], out, errOut)
		// Agent b-1 is not running: the command reports it and fails,
		// after changing the three that are.
		if err == nil || !strings.Contains(out, "b-1") || strings.Count(out, " ok ") != 3 {
			t.Errorf("keys %s: err %v, output:\n%s", step[0], err, out)
		}
		if strings.Contains(out, newB64) || strings.Contains(out, oldB64) {
			t.Errorf("keys %s printed a key", step[0])
		}
		time.Sleep(probeRound)
	}
	time.Sleep(detection + timing.ProbeInterval)
	close(stop)
	wg.Wait()
	if watchErr != nil {
		t.Errorf("an agent lost sight of another during rotation: %v", watchErr)
	}
	if n := strings.Count(logs.String(), "member gone"); n != joined {
		t.Errorf("membership changed during rotation:\n%s", logs.String())
	}
	out, _, _ := run(t, "keys", "list", "--topology", path)
	want := membership.KeyID(newKey)
	if strings.Count(out, want) != 6 || strings.Contains(out, membership.KeyID(oldKey)) {
		t.Errorf("after rotation every agent should hold only %s as primary:\n%s", want, out)
	}
	if strings.Contains(logs.String(), newB64) || strings.Contains(logs.String(), oldB64) {
		t.Error("a gossip key appears in the agents' logs")
	}
}
