package poll

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
)

// run calls Until with r and returns what it returned, or 0 if it
// failed: r.Failure() is then Until's message.
func run(r *testkit.Recorder, timeout time.Duration, fn func() error) time.Duration {
	var took time.Duration
	r.Run(func(tb testing.TB) { took = Until(tb, timeout, fn) })
	return took
}

func TestUntilReturnsOnceTrue(t *testing.T) {
	r := testkit.NewRecorder(t, t.Context())
	calls := 0
	took := run(r, 5*time.Second, func() error {
		calls++
		if calls < 4 {
			return errors.New("not yet")
		}
		return nil
	})
	if r.Failure() != "" {
		t.Fatalf("failed: %s", r.Failure())
	}
	if calls != 4 {
		t.Errorf("fn called %d times, want 4", calls)
	}
	// 10 + 20 + 40ms of backoff come before the fourth call.
	if took < 70*time.Millisecond {
		t.Errorf("took %v, less than the backoff's 70ms", took)
	}
}

func TestUntilFailsWithTheLastError(t *testing.T) {
	r := testkit.NewRecorder(t, t.Context())
	n := 0
	run(r, 100*time.Millisecond, func() error {
		n++
		return fmt.Errorf("attempt %d", n)
	})
	if want := fmt.Sprintf("after 100ms: attempt %d", n); r.Failure() != want {
		t.Errorf("fatal %q, want %q", r.Failure(), want)
	}
	if n < 2 {
		t.Errorf("fn called %d times before the timeout, want several", n)
	}
}

func TestUntilStopsWhenTheTestEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	r := testkit.NewRecorder(t, ctx)
	n := 0
	run(r, time.Hour, func() error {
		n++
		if n == 3 {
			cancel()
		}
		return errors.New("never true")
	})
	if want := "test ended while waiting: never true"; r.Failure() != want {
		t.Errorf("fatal %q, want %q", r.Failure(), want)
	}
	if n != 3 {
		t.Errorf("fn called %d times, want 3 (none after the end)", n)
	}
}
