package kafkatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// node is one Kafka process in combined broker+controller mode. Its
// directory, ports and properties outlive the process so StopBroker and
// StartBroker can restart it as the same node.
type node struct {
	id             int
	host           string // Options.Host
	dir            string
	brokerPort     int
	controllerPort int
	// mtlsPort and internalPort are used by secured clusters only: the
	// client listener that takes certificates, and the inter-broker one.
	mtlsPort     int
	internalPort int
	krbPort      int // with Security.Kerberos only
	oauthPort    int // with Security.OAuth only
	saslPort     int // with Options.Authorizer only

	// proc is nil while the node is stopped.
	proc *process
}

func (n *node) addr() string { return net.JoinHostPort(n.host, strconv.Itoa(n.brokerPort)) }

func (n *node) logPath() string { return filepath.Join(n.dir, "server.log") }

func (n *node) dataDir() string { return filepath.Join(n.dir, "data") }

func (n *node) propsPath() string { return filepath.Join(n.dir, "server.properties") }

// writeConfig writes server.properties for n in a cluster of nodes,
// sorted by key so a person can read it.
func (n *node) writeConfig(nodes []*node, props map[string]string, sec *Security, pk *pki, az *Authorizer) error {
	voters := make([]string, len(nodes))
	for i, o := range nodes {
		voters[i] = fmt.Sprintf("%d@%s:%d", o.id, o.host, o.controllerPort)
	}
	p := maps.Clone(props)
	p["node.id"] = strconv.Itoa(n.id)
	p["process.roles"] = "broker,controller"
	p["listeners"] = fmt.Sprintf("PLAINTEXT://%s,CONTROLLER://%s", n.addr(), net.JoinHostPort(n.host, strconv.Itoa(n.controllerPort)))
	p["advertised.listeners"] = "PLAINTEXT://" + n.addr()
	p["listener.security.protocol.map"] = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
	p["controller.listener.names"] = "CONTROLLER"
	p["inter.broker.listener.name"] = "PLAINTEXT"
	p["controller.quorum.voters"] = strings.Join(voters, ",")
	p["log.dirs"] = n.dataDir()
	if pk != nil {
		maps.Copy(p, pk.listenerProperties(n, sec))
	}
	if az != nil {
		maps.Copy(p, az.properties(n))
	}

	var b bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(p)) {
		fmt.Fprintf(&b, "%s=%s\n", k, p[k])
	}
	if err := os.WriteFile(n.propsPath(), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("kafkatest: write config of broker %d: %w", n.id, err)
	}
	return nil
}

// process is a running JVM in its own process group.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait returned
	err  error         // cmd.Wait's result, set before done is closed
}

// startJava runs java with args in dir, after prefix if there is one
// (Options.CommandPrefix), appending stdout and stderr to logPath. The JVM gets its own process group, so signals reach it and
// not the test binary, and dies with the test binary's thread if that is
// killed before cleanup runs (for example by a -timeout panic).
func startJava(prefix []string, java, dir, logPath string, args []string) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	// The child holds its own copy of the descriptor; ours can go once
	// it has started.
	defer log.Close()
	argv := append(slices.Clone(prefix), java)
	cmd := exec.Command(argv[0], append(argv[1:], args...)...)
	cmd.Dir = dir
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	if err := raiseOpenFiles(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// brokerOpenFiles is the seed's `ulimit -n 100000`. A broker holds a
// descriptor per log segment, and a deleted log's until
// file.delete.delay.ms has passed: a benchmark that deletes 10,000
// partitions and creates as many passes the 20,000 a shell often has.
const brokerOpenFiles = 100_000

// raiseOpenFiles lifts the open-files limit of process pid to
// brokerOpenFiles, or, when the caller may not raise the hard limit, the
// soft limit to the hard one. The JVM may already run; the limit applies
// to its next open.
func raiseOpenFiles(pid int) error {
	var cur unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &cur); err != nil {
		return fmt.Errorf("open-files limit of pid %d: %w", pid, err)
	}
	if cur.Cur >= brokerOpenFiles {
		return nil
	}
	want := unix.Rlimit{Cur: brokerOpenFiles, Max: max(cur.Max, brokerOpenFiles)}
	err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &want, nil)
	if errors.Is(err, unix.EPERM) {
		want = unix.Rlimit{Cur: cur.Max, Max: cur.Max}
		err = unix.Prlimit(pid, unix.RLIMIT_NOFILE, &want, nil)
	}
	if err != nil {
		return fmt.Errorf("raise open-files limit of pid %d to %d: %w", pid, want.Cur, err)
	}
	return nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, waits up to grace, then sends
// SIGKILL. A zero grace kills at once, like a crash. It returns only once
// the process is gone, or with an error if even SIGKILL did not end it.
func (p *process) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	pgid := -p.cmd.Process.Pid
	if grace > 0 {
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-p.done:
			return nil
		case <-time.After(grace):
		}
	}
	_ = syscall.Kill(pgid, syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("kafkatest: pid %d survived SIGKILL for 10s", p.cmd.Process.Pid)
	}
}

// runJava runs java to completion, for one-shot tools such as the
// storage formatter, appending its output to logPath.
func runJava(ctx context.Context, prefix []string, java, dir, logPath string, args []string) error {
	p, err := startJava(prefix, java, dir, logPath, args)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return errors.Join(ctx.Err(), p.stop(0))
	}
}

// tail returns the last n lines of the file at path. It reads at most the
// last 1 MiB, which holds far more than the few hundred lines anyone
// prints.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	const maxRead = 1 << 20
	if st, err := f.Stat(); err == nil && st.Size() > maxRead {
		if _, err := f.Seek(-maxRead, io.SeekEnd); err != nil {
			return fmt.Sprintf("(cannot read %s: %v)", path, err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePorts returns n distinct loopback ports that were free a moment
// ago. All listeners stay open until every port is chosen, so the kernel
// cannot hand out one port twice; another process may still take one
// before Kafka binds it, which Start handles by retrying.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("kafkatest: pick a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
