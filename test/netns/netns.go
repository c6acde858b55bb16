//go:build linux

package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// namePrefix starts the name of every namespace this package creates;
// the creating process's pid follows, so that a later run can remove what
// a killed run left behind.
const namePrefix = "gmnet"

// subnet is the /24 the namespaces share. It exists only on the bridge
// inside the hub namespace, which has no other link, so no packet of it
// leaves the machine, and parallel runs, each with a hub of its own, do
// not meet.
var subnet = netip.MustParsePrefix("10.213.0.0/24")

// maxSpaces is how many namespaces fit in subnet: .1 to .254.
const maxSpaces = 254

// Options configures a Net. The zero value is ready to use.
type Options struct {
	// RelayUDPPorts are the UDP ports (gossip) whose datagrams between
	// namespaces pass through the delaying UDP relay of the sending
	// namespace once SetLink gives that pair a link. Traffic to other UDP
	// ports goes direct. Default none.
	RelayUDPPorts []int
}

// Net is a set of network namespaces, one per region, joined by a bridge
// in a hub namespace of their own. Its methods may be called from several
// goroutines.
type Net struct {
	tb   testing.TB
	opts Options
	name string // namePrefix, pid, random suffix
	hub  string // the hub namespace

	mu     sync.Mutex // guards everything below
	spaces []*NS
	egress map[*NS]*egress
	closed bool
}

// NS is one network namespace with one address in the shared /24.
type NS struct {
	// Name is the namespace's name for ip netns.
	Name string
	// Region is the name the test gave it.
	Region string
	// Addr is its address on the bridge.
	Addr netip.Addr

	fd *os.File // /run/netns/Name, for setns

	mu   sync.Mutex              // guards cuts
	cuts map[netip.Addr]struct{} // addresses s drops packets to
}

// New creates the hub namespace and its bridge, and registers Cleanup
// that tears down every namespace, rule and relay of the Net, even after
// a failed test. It first removes namespaces that earlier runs, since
// killed, left behind. It stops the test if the host cannot create
// namespaces.
func New(tb testing.TB, opts Options) *Net {
	tb.Helper()
	sweep(tb)
	var b [3]byte
	_, _ = rand.Read(b[:])
	n := &Net{
		tb:     tb,
		opts:   opts,
		name:   fmt.Sprintf("%s%dx%s", namePrefix, os.Getpid(), hex.EncodeToString(b[:])),
		egress: map[*NS]*egress{},
	}
	n.hub = n.name + "-hub"
	tb.Cleanup(func() {
		if err := n.Close(); err != nil {
			tb.Error(err)
		}
	})
	for _, args := range [][]string{
		{"netns", "add", n.hub},
		{"-n", n.hub, "link", "add", "br0", "type", "bridge"},
		{"-n", n.hub, "link", "set", "br0", "up"},
	} {
		if err := ip(args...); err != nil {
			tb.Fatalf("netns: create hub: %v", err)
		}
	}
	return n
}

// Add creates the namespace of region, links it to the bridge and gives
// it the next address in the /24, with loopback up and an empty nft
// table for cuts. It stops the test on failure.
func (n *Net) Add(region string) *NS {
	n.tb.Helper()
	s, err := n.add(region)
	if err != nil {
		n.tb.Fatalf("netns: region %s: %v", region, err)
	}
	return s
}

func (n *Net) add(region string) (*NS, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, errors.New("net closed")
	}
	i := len(n.spaces) + 1
	if i > maxSpaces {
		return nil, fmt.Errorf("more than %d namespaces", maxSpaces)
	}
	for _, s := range n.spaces {
		if s.Region == region {
			return nil, errors.New("added twice")
		}
	}
	a := subnet.Addr().As4()
	a[3] = byte(i)
	s := &NS{Name: n.name + "-" + region, Region: region, Addr: netip.AddrFrom4(a)}
	if err := ip("netns", "add", s.Name); err != nil {
		return nil, err
	}
	// Listed before it is set up, so Close removes a half-made one.
	n.spaces = append(n.spaces, s)
	peer := "p" + strconv.Itoa(i)
	for _, args := range [][]string{
		{"-n", n.hub, "link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", s.Name},
		{"-n", n.hub, "link", "set", peer, "master", "br0", "up"},
		{"-n", s.Name, "addr", "add", fmt.Sprintf("%s/%d", s.Addr, subnet.Bits()), "dev", "eth0"},
		{"-n", s.Name, "link", "set", "eth0", "up"},
		{"-n", s.Name, "link", "set", "lo", "up"},
	} {
		if err := ip(args...); err != nil {
			return nil, err
		}
	}
	if err := s.nft(baseRules); err != nil {
		return nil, err
	}
	fd, err := os.Open("/run/netns/" + s.Name)
	if err != nil {
		return nil, fmt.Errorf("open namespace: %w", err)
	}
	s.fd = fd
	return s, nil
}

// Spaces returns the namespaces added so far, in the order of Add.
func (n *Net) Spaces() []*NS {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*NS(nil), n.spaces...)
}

// Close stops every relay and deletes every namespace of the Net, hub
// last. Processes still running inside a namespace keep it alive until
// they exit; their owners stop them. Close is idempotent.
func (n *Net) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	spaces, egress := n.spaces, n.egress
	n.mu.Unlock()

	var errs []error
	for _, e := range egress {
		errs = append(errs, e.close())
	}
	for _, s := range spaces {
		if s.fd != nil {
			s.fd.Close()
		}
		if err := ip("netns", "del", s.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := ip("netns", "del", n.hub); err != nil && !strings.Contains(err.Error(), "No such file") {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// sweep deletes namespaces this package created in processes that no
// longer run: a test binary killed by a -timeout panic or SIGKILL runs no
// Cleanup.
func sweep(tb testing.TB) {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), namePrefix)
		if !ok {
			continue
		}
		digits, _, ok := strings.Cut(rest, "x")
		pid, err := strconv.Atoi(digits)
		if !ok || err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			if err := ip("netns", "del", e.Name()); err != nil {
				tb.Logf("netns: remove leftover namespace: %v", err)
			}
		}
	}
}

// Prefix is the command line that runs a program inside s; append the
// program and its arguments. kafkatest.Options.CommandPrefix takes it.
func (s *NS) Prefix() []string { return []string{"ip", "netns", "exec", s.Name} }

// Command returns a command that runs name with args inside s. ip netns
// exec execs the program in place, so the process's pid and signals are
// the program's own. The caller owns the process.
func (s *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	argv := append(s.Prefix(), name)
	return exec.CommandContext(ctx, argv[0], append(argv[1:], args...)...)
}

// Host returns host:port of s's address.
func (s *NS) Host(port int) string { return netip.AddrPortFrom(s.Addr, uint16(port)).String() }

func (s *NS) String() string { return s.Region + " (" + s.Addr.String() + ")" }

// Dial connects from inside s. It fits kgo.Dialer and
// http.Transport.DialContext, so the test process, which stays in its own
// namespace, can reach processes in s, and reach other namespaces as s
// would: cuts and links of s apply.
func (s *NS) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	return s.dial(ctx, network, address, 0)
}

// dial dials from s; a mark other than 0 tags the socket so that s's
// egress rules let it pass unredirected.
func (s *NS) dial(ctx context.Context, network, address string, mark int) (net.Conn, error) {
	var c net.Conn
	err := s.do(func() error {
		d := net.Dialer{}
		if mark != 0 {
			d.Control = markControl(mark)
		}
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", s.Region, err)
	}
	return c, nil
}

// Listen listens inside s.
func (s *NS) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := s.do(func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", s.Region, err)
	}
	return l, nil
}

// ListenPacket opens a packet socket inside s.
func (s *NS) ListenPacket(network, address string) (net.PacketConn, error) {
	return s.listenPacket(network, address, 0)
}

func (s *NS) listenPacket(network, address string, mark int) (net.PacketConn, error) {
	var pc net.PacketConn
	err := s.do(func() error {
		lc := net.ListenConfig{}
		if mark != 0 {
			lc.Control = markControl(mark)
		}
		var err error
		pc, err = lc.ListenPacket(context.Background(), network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", s.Region, err)
	}
	return pc, nil
}

func markControl(mark int) func(string, string, syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_MARK, mark)
		}); err != nil {
			return err
		}
		return serr
	}
}

// do runs fn on an OS thread that has entered s. A socket belongs to the
// namespace it was created in for its whole life, so what fn opens stays
// in s after the thread has gone back.
func (s *NS) do(fn func() error) error {
	if s.fd == nil {
		return errors.New("namespace not set up")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer self.Close()
		if err := setns(s.fd); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = fn()
		// A thread that cannot go back is left locked, so the runtime
		// ends it with this goroutine instead of reusing it.
		if setns(self) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

func setns(f *os.File) error {
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns: %w", err)
	}
	return nil
}

// ip runs the ip command and returns its output in the error.
func ip(args ...string) error {
	return run(nil, "ip", args...)
}

// run runs a short setup command, bounded so that a hung one fails the
// test instead of stalling it.
func run(stdin []byte, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
