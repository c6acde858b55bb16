package loop

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Every test runs in a synctest bubble: its clock is fake and moves only
// when every goroutine of the bubble waits, so the counts and times below
// are exact, not bounds, and no test waits in real time.

// passes records when each pass began, relative to the bubble's start.
type passes struct {
	start time.Time
	mu    sync.Mutex
	at    []time.Duration
}

func newPasses() *passes { return &passes{start: time.Now()} }

func (p *passes) record(context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.at = append(p.at, time.Since(p.start))
}

func (p *passes) times() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.at)
}

// start runs Every in a goroutine; stop cancels its context and waits
// for it to return.
func start(t *testing.T, interval time.Duration, pass func(context.Context), opts ...Option) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Every(ctx, interval, pass, opts...)
	}()
	return func() { cancel(); <-done }
}

func want(t *testing.T, p *passes, at ...time.Duration) {
	t.Helper()
	if got := p.times(); !slices.Equal(got, at) {
		t.Errorf("passes at %v, want %v", got, at)
	}
}

func TestFirstPassAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPasses()
		stop := start(t, time.Hour, p.record)
		synctest.Wait()
		want(t, p, 0)
		stop()
	})
}

func TestEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPasses()
		stop := start(t, time.Second, p.record)
		time.Sleep(3500 * time.Millisecond)
		want(t, p, 0, time.Second, 2*time.Second, 3*time.Second)
		stop()
	})
}

// TestSlowPass: a pass longer than the interval is followed at once by
// the next; the ticks it missed are not made up for.
func TestSlowPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPasses()
		stop := start(t, time.Second, func(ctx context.Context) {
			p.record(ctx)
			if len(p.times()) == 1 {
				time.Sleep(2500 * time.Millisecond)
			}
		})
		time.Sleep(3500 * time.Millisecond)
		want(t, p, 0, 2500*time.Millisecond, 3*time.Second)
		stop()
	})
}

func TestStopsWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPasses()
		stop := start(t, time.Second, p.record)
		time.Sleep(1500 * time.Millisecond)
		stop() // returns once Every has
		time.Sleep(5 * time.Second)
		want(t, p, 0, time.Second)
	})
}

func TestNoPassOnEndedContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		p := newPasses()
		Every(ctx, time.Second, p.record)
		want(t, p)
	})
}

// TestNoPassAfterContextEnds: a context that ends while a pass runs,
// with a tick and a wake-up ready by the time the pass returns, gets no
// further pass. Without the check after the wait, select would pick the
// tick or the wake-up two times in three.
func TestNoPassAfterContextEnds(t *testing.T) {
	for range 30 {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			wake := make(chan struct{}, 1)
			n := 0
			Every(ctx, time.Second, func(context.Context) {
				n++
				cancel()
				wake <- struct{}{}
				time.Sleep(2 * time.Second) // a tick is due too
			}, Wake(wake))
			if n != 1 {
				t.Fatalf("%d passes, want 1: a pass ran after the context ended", n)
			}
		})
	}
}

func TestWake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPasses()
		wake := make(chan struct{}, 1)
		stop := start(t, 10*time.Second, p.record, Wake(wake))
		time.Sleep(4 * time.Second)
		wake <- struct{}{}
		time.Sleep(7 * time.Second)
		// The wake-up does not move the ticks: the next is still at 10 s.
		want(t, p, 0, 4*time.Second, 10*time.Second)
		stop()
	})
}

// TestWakePendingAtStart: a wake-up sent before Every starts is served
// by the first pass, not by a second one right after it.
func TestWakePendingAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPasses()
		wake := make(chan struct{}, 1)
		wake <- struct{}{}
		stop := start(t, 10*time.Second, p.record, Wake(wake))
		time.Sleep(5 * time.Second)
		want(t, p, 0)
		stop()
	})
}

// TestWakeDuringPass: a wake-up sent while a pass runs, which may have
// read the state before the change, runs one more pass after it.
func TestWakeDuringPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPasses()
		wake := make(chan struct{}, 1)
		stop := start(t, 10*time.Second, func(ctx context.Context) {
			p.record(ctx)
			if len(p.times()) == 1 {
				time.Sleep(time.Second)
			}
		}, Wake(wake))
		time.Sleep(500 * time.Millisecond)
		wake <- struct{}{}
		time.Sleep(5 * time.Second)
		want(t, p, 0, time.Second)
		stop()
	})
}

// TestWakeClosed: a wake channel closed before Every starts, or while
// it runs, neither spins the loop nor stops it; passes go on at the
// interval.
func TestWakeClosed(t *testing.T) {
	for _, early := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			p := newPasses()
			wake := make(chan struct{}, 1)
			if early {
				close(wake)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Every(ctx, time.Second, func(ctx context.Context) {
					p.record(ctx)
					if len(p.times()) > 100 {
						cancel() // spinning: end it, the assertion below fails
					}
				}, Wake(wake))
			}()
			time.Sleep(500 * time.Millisecond)
			if !early {
				close(wake)
			}
			time.Sleep(2 * time.Second)
			cancel()
			<-done
			want(t, p, 0, time.Second, 2*time.Second)
		})
	}
}
