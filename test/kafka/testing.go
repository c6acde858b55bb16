package kafkatest

import "testing"

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
