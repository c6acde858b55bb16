package poll

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// recorder is a testing.TB that records Fatalf instead of failing the
// test, so that Until's failures can be judged. Its Fatalf ends the
// goroutine, as the real one does, and its context is ctx.
type recorder struct {
	testing.TB
	ctx   context.Context
	fatal string
}

func (r *recorder) Helper()                  {}
func (r *recorder) Context() context.Context { return r.ctx }

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls Until on a goroutine of its own, which Fatalf ends, and
// returns what Until returned.
func run(r *recorder, timeout time.Duration, fn func() error) time.Duration {
	var took time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		took = Until(r, timeout, fn)
	}()
	<-done
	return took
}

func TestUntilReturnsOnceTrue(t *testing.T) {
	r := &recorder{TB: t, ctx: t.Context()}
	calls := 0
	took := run(r, 5*time.Second, func() error {
		calls++
		if calls < 4 {
			return errors.New("not yet")
		}
		return nil
	})
	if r.fatal != "" {
		t.Fatalf("failed: %s", r.fatal)
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
	r := &recorder{TB: t, ctx: t.Context()}
	n := 0
	run(r, 100*time.Millisecond, func() error {
		n++
		return fmt.Errorf("attempt %d", n)
	})
	if want := fmt.Sprintf("after 100ms: attempt %d", n); r.fatal != want {
		t.Errorf("fatal %q, want %q", r.fatal, want)
	}
	if n < 2 {
		t.Errorf("fn called %d times before the timeout, want several", n)
	}
}

func TestUntilStopsWhenTheTestEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	r := &recorder{TB: t, ctx: ctx}
	n := 0
	run(r, time.Hour, func() error {
		n++
		if n == 3 {
			cancel()
		}
		return errors.New("never true")
	})
	if want := "test ended while waiting: never true"; r.fatal != want {
		t.Errorf("fatal %q, want %q", r.fatal, want)
	}
	if n != 3 {
		t.Errorf("fn called %d times, want 3 (none after the end)", n)
	}
}
