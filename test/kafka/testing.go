package kafkatest

import (
	"net"
	"sync"
	"testing"
)

// failureLogLines is how much of each node's log a failed test prints:
// enough to show the last few seconds of a busy broker.
const failureLogLines = 200

// Start starts a cluster for one test, or stops the test with an error
// naming what failed. Cleanup closes the cluster; if the test failed, it
// first logs the last 200 lines of each node's log.
func Start(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	c, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			// A failed Start has torn down and reported its logs already;
			// LogPath is empty then.
			for i := range c.opts.Brokers {
				if p := c.LogPath(i); p != "" {
					tb.Logf("kafkatest: broker %d log %s, last %d lines:\n%s",
						i, p, failureLogLines, c.LogTail(i, failureLogLines))
				}
			}
		}
		if err := c.Close(); err != nil {
			tb.Error(err)
		}
	})
	if err := c.Start(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	return c
}

// handedOut holds every port FreeAddr gave in this process. A listener
// closed right after it was opened frees its port for the kernel to pick
// again, so two calls can get the same port, and a topology with one
// address used twice is refused by validation.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreeAddr returns a loopback host:port that nobody listened on a moment
// ago and that FreeAddr has not returned before in this process.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("kafkatest: pick a free port: %v", err)
		}
		addr := l.Addr().(*net.TCPAddr)
		_ = l.Close()
		if !handedOut.ports[addr.Port] {
			handedOut.ports[addr.Port] = true
			return addr.String()
		}
	}
	tb.Fatal("kafkatest: no new free port in 100 tries")
	return ""
}
