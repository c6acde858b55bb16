package kafkatest

import (
	"fmt"
	"syscall"

	"github.com/geomesh/geomesh/internal/loopback"
)

// HoldRefusedAddr returns a loopback host:port that refuses every
// connection until release is called: a socket is bound to the port and
// never listens, so a dial there is refused at once and nothing else can
// listen on the port meanwhile. RefusedAddr is the same for a test; a
// program (the benchmarks) calls this and releases the port when done.
func HoldRefusedAddr() (addr string, release func() error, err error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("kafkatest: refused address: socket: %w", err)
	}
	sa, err := bindLoopback(fd)
	if err != nil {
		_ = syscall.Close(fd)
		return "", nil, fmt.Errorf("kafkatest: refused address: %w", err)
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
