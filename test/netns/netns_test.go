//go:build linux

package netns_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/test/netns"
)

// echoTCP serves a line echo inside s until the test ends.
func echoTCP(t *testing.T, s *netns.NS) string {
	t.Helper()
	l, err := s.Listen("tcp4", s.Host(0))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				go func() { <-t.Context().Done(); c.Close() }()
				_, _ = io.Copy(c, c)
			})
		}
	})
	return l.Addr().String()
}

// roundTrip dials addr from s, sends a line and times the echo. The
// connection setup is not timed.
func roundTrip(ctx context.Context, s *netns.NS, addr string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := s.Dial(ctx, "tcp4", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	begin := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, err
	}
	if line != "ping\n" {
		return 0, errors.New("echo returned " + line)
	}
	return time.Since(begin), nil
}

func TestNamespaces(t *testing.T) {
	n := netns.New(t, netns.Options{})
	a, b := n.Add("us-east"), n.Add("eu-west")
	if a.Addr == b.Addr || !strings.HasPrefix(a.Name, "gmnet") {
		t.Fatalf("namespaces %s %s, %s %s", a.Name, a.Addr, b.Name, b.Addr)
	}
	addr := echoTCP(t, b)
	if _, err := roundTrip(t.Context(), a, addr); err != nil {
		t.Fatalf("us-east → eu-west: %v", err)
	}
	// The test's own namespace has no route into the /24.
	if c, err := net.DialTimeout("tcp4", addr, 300*time.Millisecond); err == nil {
		c.Close()
		t.Fatalf("reached %s from the test's namespace", addr)
	}
	out, err := a.Command(t.Context(), "ip", "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), a.Addr.String()+"/24") {
		t.Fatalf("ip addr in %s: %v: %s", a.Name, err, out)
	}

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	list, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{a.Name, b.Name} {
		if strings.Contains(string(list), name) {
			t.Errorf("namespace %s left after Close:\n%s", name, list)
		}
	}
}

// reachable reports whether a TCP echo at addr answers s.
func reachable(t *testing.T, s *netns.NS, addr string) bool {
	_, err := roundTrip(t.Context(), s, addr)
	return err == nil
}

func TestCuts(t *testing.T) {
	n := netns.New(t, netns.Options{})
	a, b, w := n.Add("us-east"), n.Add("eu-west"), n.Add("witness")
	ea, eb, ew := echoTCP(t, a), echoTCP(t, b), echoTCP(t, w)
	want := func(what string, s *netns.NS, addr string, ok bool) {
		t.Helper()
		if got := reachable(t, s, addr); got != ok {
			t.Errorf("%s: %s reaches %s: %v, want %v", what, s, addr, got, ok)
		}
	}

	// A connection open across the cut stalls too.
	c, err := a.Dial(t.Context(), "tcp4", eb)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := n.Cut(a, b); err != nil {
		t.Fatal(err)
	}
	want("cut", a, eb, false)
	want("cut", b, ea, false)
	want("cut", a, ew, true)
	want("cut", w, eb, true)
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("x\n")); err == nil {
		if _, err := c.Read(make([]byte, 2)); err == nil {
			t.Error("open connection across the cut still echoes")
		}
	}
	if err := n.Heal(a, b); err != nil {
		t.Fatal(err)
	}
	want("healed", a, eb, true)
	want("healed", b, ea, true)

	if err := n.Isolate(w); err != nil {
		t.Fatal(err)
	}
	want("witness cut off", a, ew, false)
	want("witness cut off", w, eb, false)
	want("witness cut off", a, eb, true)
	if err := n.HealAll(); err != nil {
		t.Fatal(err)
	}
	want("all healed", a, ew, true)
	want("all healed", w, eb, true)
}

// udpEcho answers every datagram inside s to its sender.
func udpEcho(t *testing.T, s *netns.NS, port int) {
	t.Helper()
	pc, err := s.ListenPacket("udp4", s.Host(port))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	})
}

// udpRoundTrips sends count datagrams from a socket bound in s, one at a
// time, and returns the round trip of each answered one.
func udpRoundTrips(t *testing.T, s *netns.NS, to string, count int) []time.Duration {
	t.Helper()
	pc, err := s.ListenPacket("udp4", s.Host(0))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dst, err := net.ResolveUDPAddr("udp4", to)
	if err != nil {
		t.Fatal(err)
	}
	var rtts []time.Duration
	buf := make([]byte, 64)
	for range count {
		begin := time.Now()
		if _, err := pc.WriteTo([]byte("ping"), dst); err != nil {
			t.Fatal(err)
		}
		_ = pc.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			continue
		}
		if string(buf[:n]) != "ping" || from.String() != to {
			t.Fatalf("reply %q from %s, want ping from %s", buf[:n], from, to)
		}
		rtts = append(rtts, time.Since(begin))
	}
	return rtts
}

func TestCutOneWayUDP(t *testing.T) {
	const port = 7946
	n := netns.New(t, netns.Options{})
	a, b := n.Add("us-east"), n.Add("eu-west")
	pb, err := b.ListenPacket("udp4", b.Host(port))
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	pa, err := a.ListenPacket("udp4", a.Host(port))
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	if err := n.CutOneWay(a, b); err != nil {
		t.Fatal(err)
	}
	got := func(from, to net.PacketConn) bool {
		if _, err := from.WriteTo([]byte("hi"), to.LocalAddr()); err != nil {
			return false
		}
		_ = to.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, _, err := to.ReadFrom(make([]byte, 8))
		return err == nil
	}
	if got(pa, pb) {
		t.Error("us-east → eu-west delivered across a one-way cut")
	}
	if !got(pb, pa) {
		t.Error("eu-west → us-east lost, but only us-east → eu-west is cut")
	}
	if err := n.Heal(a, b); err != nil {
		t.Fatal(err)
	}
	if !got(pa, pb) {
		t.Error("us-east → eu-west lost after Heal")
	}
}

func TestWANDelay(t *testing.T) {
	const gossip = 7946
	n := netns.New(t, netns.Options{RelayUDPPorts: []int{gossip}})
	a, b := n.Add("us-east"), n.Add("eu-west")
	eb := echoTCP(t, b)
	udpEcho(t, b, gossip)

	base, err := roundTrip(t.Context(), a, eb)
	if err != nil {
		t.Fatal(err)
	}
	const delay = 60 * time.Millisecond
	if err := n.WAN(a, b, netns.Link{Delay: delay}); err != nil {
		t.Fatal(err)
	}
	rtt, err := roundTrip(t.Context(), a, eb)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("TCP echo round trip %s direct, %s with %s each way", base, rtt, delay)
	if rtt < 2*delay || rtt > 2*delay+500*time.Millisecond {
		t.Errorf("TCP round trip %s, want about %s", rtt, 2*delay)
	}
	udp := udpRoundTrips(t, a, b.Host(gossip), 5)
	t.Logf("UDP round trips %v", udp)
	if len(udp) != 5 {
		t.Fatalf("%d of 5 UDP echoes answered without loss", len(udp))
	}
	for _, d := range udp {
		if d < 2*delay || d > 2*delay+500*time.Millisecond {
			t.Errorf("UDP round trip %s, want about %s", d, 2*delay)
		}
	}

	// Total loss: UDP gets nothing through, TCP stalls an RTO each way.
	if err := n.WAN(a, b, netns.Link{Delay: delay, Loss: 1}); err != nil {
		t.Fatal(err)
	}
	if got := udpRoundTrips(t, a, b.Host(gossip), 3); len(got) != 0 {
		t.Errorf("%d UDP echoes answered at loss 1", len(got))
	}
	rtt, err = roundTrip(t.Context(), a, eb)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * (delay + 200*time.Millisecond); rtt < want {
		t.Errorf("TCP round trip %s at loss 1, want at least %s", rtt, want)
	}

	// A cut still holds for redirected traffic.
	if err := n.Cut(a, b); err != nil {
		t.Fatal(err)
	}
	if reachable(t, a, eb) {
		t.Error("us-east reaches eu-west through its relay across a cut")
	}
}

// TestLeftoversRemoved runs a child test binary that creates a namespace
// and is killed before its Cleanup; the next New removes the namespace.
func TestLeftoversRemoved(t *testing.T) {
	if os.Getenv("NETNS_LEFTOVER_CHILD") != "" {
		n := netns.New(t, netns.Options{})
		s := n.Add("orphan")
		os.Stdout.WriteString("NS " + s.Name + "\n")
		p, _ := os.FindProcess(os.Getpid())
		_ = p.Kill()
		select {}
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestLeftoversRemoved$")
	cmd.Env = append(os.Environ(), "NETNS_LEFTOVER_CHILD=1")
	out, _ := cmd.Output()
	name, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "NS ")
	if !ok {
		t.Fatalf("child printed %q", out)
	}
	if _, err := os.Stat("/run/netns/" + name); err != nil {
		t.Fatalf("child's namespace %s: %v", name, err)
	}
	netns.New(t, netns.Options{})
	if _, err := os.Stat("/run/netns/" + name); !os.IsNotExist(err) {
		t.Errorf("namespace %s of a killed run still there after New (%v)", name, err)
	}
}
