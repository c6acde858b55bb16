//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
)

// agentProc is a geomesh agent running as a child process. It can be
// killed, stopped, continued and started again; every life appends its
// stdout and stderr to one log file, which the test prints if it fails.
type agentProc struct {
	t        testing.TB
	bin      string
	args     []string
	name     string
	api      string // host:port of the HTTP API
	logPath  string
	log      *os.File
	lives    int
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the current life has been reaped
	exitErr  error         // of the current life, set before exited closes
	stopping bool          // sent SIGSTOP and not SIGCONT yet
}

// newAgentProc prepares the agent id of region from the topology file at
// path; start runs it, every life with the same state directory, one of
// the test's. The process is stopped (SIGTERM, then SIGKILL) when the
// test ends, and its log printed if the test failed.
func newAgentProc(t testing.TB, path, region, id string, extra ...string) *agentProc {
	t.Helper()
	m, err := topology.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := m.Region(region)
	if !ok {
		t.Fatalf("topology %s has no region %s", path, region)
	}
	api := ""
	for _, a := range r.Agents {
		if a.ID == id {
			api = a.API
		}
	}
	if api == "" {
		t.Fatalf("region %s has no agent %s", region, id)
	}
	args := []string{"agent", "--topology", path, "--region", region, "--id", id}
	if m.ControlPlane.Embedded {
		// A node of its own per agent; an external cluster keeps the state.
		args = append(args, "--state-dir", t.TempDir())
	}
	p := &agentProc{
		t:       t,
		bin:     testkit.BuildGeomesh(t),
		args:    append(args, extra...),
		name:    id,
		api:     api,
		logPath: filepath.Join(t.TempDir(), id+".log"),
	}
	p.log, err = os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-in first-out: the process stops, then its log
	// is complete and can be printed.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of agent %s (%d lives, %s):\n%s", p.name, p.lives, p.logPath, tailFile(p.logPath, 96<<10))
		}
		p.log.Close()
	})
	t.Cleanup(func() {
		if err := p.terminate(10 * time.Second); err != nil {
			t.Logf("agent %s: %v", p.name, err)
		}
	})
	return p
}

// start runs a new life of the agent; the previous one must have exited.
func (p *agentProc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.exited:
		default:
			p.t.Fatalf("agent %s: start while running", p.name)
		}
	}
	p.lives++
	fmt.Fprintf(p.log, "=== life %d, started %s ===\n", p.lives, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	// Die with the test binary, whatever kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("agent %s: %v", p.name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.exitErr, p.stopping = cmd, exited, nil, false
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(exited)
	}()
}

// signal sends sig to the current life.
func (p *agentProc) signal(sig syscall.Signal) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		p.t.Fatalf("agent %s: %v before start", p.name, sig)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("agent %s: send %v: %v", p.name, sig, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		p.stopping = true
	case syscall.SIGCONT:
		p.stopping = false
	}
}

// kill sends SIGKILL and waits until the process has been reaped.
func (p *agentProc) kill() {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	if err := p.wait(10 * time.Second); !isSignal(err, syscall.SIGKILL) {
		p.t.Fatalf("agent %s: after SIGKILL: %v", p.name, err)
	}
}

// wait waits for the current life to end and returns its exit error.
func (p *agentProc) wait(timeout time.Duration) error {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	select {
	case <-exited:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.exitErr
	case <-time.After(timeout):
		return fmt.Errorf("still running after %s", timeout)
	}
}

func isSignal(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// terminate stops the current life gracefully (SIGCONT, SIGTERM), or with
// SIGKILL after grace. It returns the exit error of a life that was still
// running; a process killed this way leaves no open transaction behind
// unless the grace ran out.
func (p *agentProc) terminate(grace time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.exitErr
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("did not stop within %s of SIGTERM; killed", grace)
	}
}

// logCount counts the lines of the agent's log, all lives, that contain
// substr.
func (p *agentProc) logCount(substr string) int {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		p.t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// tailFile returns the last limit bytes of a file, from a line start.
func tailFile(path string, limit int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if int64(len(b)) > limit {
		b = b[int64(len(b))-limit:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
		return "…\n" + string(b)
	}
	return string(b)
}

// agentStatus is the part of an agent's /v1/status the tests look at.
type agentStatus struct {
	Agent   string   `json:"agent"`
	Members []string `json:"members"`
	Flows   []struct {
		Source string        `json:"source"`
		Target string        `json:"target"`
		Shards []shardStatus `json:"shards"`
	} `json:"flows"`
}

type shardStatus struct {
	Shard           int       `json:"shard"`
	TransactionalID string    `json:"transactional_id"`
	State           string    `json:"state"`
	Error           string    `json:"error"`
	LastCommit      time.Time `json:"last_commit"`
	Records         int64     `json:"records"`
	Committed       int64     `json:"transactions_committed"`
	Aborted         int64     `json:"transactions_aborted"`
}

// shards returns the agent's shards of all flows by index.
func (s agentStatus) shards() map[int]shardStatus {
	out := map[int]shardStatus{}
	for _, f := range s.Flows {
		for _, sh := range f.Shards {
			out[sh.Shard] = sh
		}
	}
	return out
}

var statusClient = &http.Client{Timeout: time.Second}

// status fetches the agent's /v1/status.
func (p *agentProc) status(ctx context.Context) (agentStatus, error) {
	var st agentStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.api+"/v1/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := statusClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("agent %s: %w", p.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("agent %s: /v1/status: %s", p.name, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("agent %s: /v1/status: %w", p.name, err)
	}
	return st, nil
}
