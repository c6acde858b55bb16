package kafkatest

import (
	"testing"

	"github.com/geomesh/geomesh/internal/loopback"
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

// FreeAddr returns a loopback host:port that nobody listens on now and
// that this process has not been given before (loopback.Free).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	addr, err := loopback.Free()
	if err != nil {
		tb.Fatalf("kafkatest: %v", err)
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
			tb.Errorf("kafkatest: release %s: %v", addr, err)
		}
	})
	return addr
}
