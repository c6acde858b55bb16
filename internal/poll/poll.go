// Package poll is how the module's tests wait for a state: they ask for
// it again and again until it holds, never sleep for a time they hope is
// long enough.
package poll

import (
	"testing"
	"time"
)

const (
	// firstWait is short so that a state that holds almost at once ends
	// the wait almost at once.
	firstWait = 10 * time.Millisecond
	// maxWait bounds the backoff: conditions that cost something (a
	// cluster read, a run of the CLI) are not asked for more than five
	// times a second, and none waits much longer than it must.
	maxWait = 200 * time.Millisecond
)

// Until calls fn until it returns nil and returns how long that took. It
// fails the test with fn's last error once timeout has passed, or when
// the test's context ends. Call it from the test's goroutine: it stops
// the test with t.Fatalf.
func Until(t testing.TB, timeout time.Duration, fn func() error) time.Duration {
	t.Helper()
	began := time.Now()
	wait := firstWait
	for {
		err := fn()
		if err == nil {
			return time.Since(began)
		}
		if time.Since(began) > timeout {
			t.Fatalf("after %v: %v", timeout, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting: %v", err)
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
	}
}
