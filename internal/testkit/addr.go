package testkit

import (
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/geomesh/geomesh/internal/loopback"
)

// FreeAddr returns a 127.0.0.1 host:port that nobody listens on now and
// that this process has not been given before (loopback.Free): for a
// listener the test starts later, or names in a topology file before it
// starts.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	addr, err := loopback.Free()
	if err != nil {
		tb.Fatalf("testkit: free address: %v", err)
	}
	return addr
}

// RefusedAddr returns a loopback host:port that refuses every connection
// until the test ends (HoldRefusedAddr). A test names it where an address
// must not answer: the external control plane of agents that are to
// replicate the topology file's flows and decide nothing, or an agent or
// a cluster that is gone. A fixed port instead (nats://127.0.0.1:4222)
// would reach whatever happens to listen there.
func RefusedAddr(tb testing.TB) string {
	tb.Helper()
	addr, release, err := HoldRefusedAddr()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := release(); err != nil {
			tb.Errorf("testkit: release %s: %v", addr, err)
		}
	})
	return addr
}

// SilentAddr returns a loopback host:port that accepts every connection
// and never answers on it, as a host behind a broken link may: a dial
// there succeeds and a request waits for its own timeout. The listener
// and the connections it took are closed when the test ends.
func SilentAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testkit: silent address: %v", err)
	}
	loopback.Take(ln.Addr().(*net.TCPAddr).Port)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	tb.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// HoldRefusedAddr returns a loopback host:port that refuses every
// connection until release is called: a socket is bound to the port and
// never listens, so a dial there is refused at once and nothing else can
// listen on the port meanwhile. RefusedAddr is the same for a test; a
// program (the benchmarks) calls this and releases the port when done.
func HoldRefusedAddr() (addr string, release func() error, err error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("testkit: refused address: socket: %w", err)
	}
	sa, err := bindLoopback(fd)
	if err != nil {
		_ = syscall.Close(fd)
		return "", nil, fmt.Errorf("testkit: refused address: %w", err)
	}
	loopback.Take(sa.Port)
	return fmt.Sprintf("127.0.0.1:%d", sa.Port), func() error { return syscall.Close(fd) }, nil
}

// bindLoopback binds fd to a port of 127.0.0.1 that the kernel picks.
func bindLoopback(fd int) (*syscall.SockaddrInet4, error) {
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		return nil, fmt.Errorf("getsockname: %T, want an IPv4 address", sa)
	}
	return in4, nil
}
