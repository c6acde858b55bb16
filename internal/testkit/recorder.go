package testkit

import (
	"context"
	"fmt"
	"runtime"
	"testing"
)

// Recorder is a testing.TB for the tests of a helper's failures: Fatal,
// Fatalf and FailNow record their message and end the goroutine, as the
// real ones do, without failing the test. Everything else (Cleanup,
// TempDir, Logf, Errorf) is the test's own, except Context, which is the
// one the Recorder was made with.
type Recorder struct {
	testing.TB
	ctx     context.Context
	failure string
}

// NewRecorder returns a Recorder of tb whose Context is ctx: tb.Context()
// for most tests, one the test cancels to play the test's end.
func NewRecorder(tb testing.TB, ctx context.Context) *Recorder {
	return &Recorder{TB: tb, ctx: ctx}
}

// Run calls fn with r on a goroutine of its own, which a fatal failure
// ends, and returns when fn has returned or failed.
func (r *Recorder) Run(fn func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
}

// Failure is the message of the fatal failure, "" if there was none.
func (r *Recorder) Failure() string { return r.failure }

func (r *Recorder) Helper()                  {}
func (r *Recorder) Context() context.Context { return r.ctx }
func (r *Recorder) Fatal(args ...any)        { r.fail(fmt.Sprint(args...)) }
func (r *Recorder) FailNow()                 { r.fail("FailNow") }

func (r *Recorder) Fatalf(format string, args ...any) {
	r.fail(fmt.Sprintf(format, args...))
}

func (r *Recorder) fail(msg string) {
	r.failure = msg
	runtime.Goexit()
}
