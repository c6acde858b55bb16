// Package loop runs a worker's periodic pass, the one way every
// background loop of the module does it: the topic, ACL and group offset
// syncers, the write fence and the heartbeat writer. A pass runs at once,
// then every interval, and, for a worker that is told of a change, early
// on a wake-up; no pass starts once the context has ended.
//
// The pass owns everything else: its own timeout, its error handling and
// logging, its state between passes (a closure holds it).
package loop

import (
	"context"
	"time"
)

// Option changes how Every runs its passes.
type Option func(*options)

type options struct {
	wake <-chan struct{}
}

// Wake runs a pass as soon as c yields a value, besides the passes due
// every interval; it does not move the interval's ticks. A value sent
// while a pass runs is served by one more pass right after it, and one
// pending when Every starts by the first pass. Send on c without
// blocking, into a buffer of one, so that wake-ups collapse into one
// pass. A closed c wakes no more. Default: no wake-ups, passes run on the
// interval only.
func Wake(c <-chan struct{}) Option {
	return func(o *options) { o.wake = c }
}

// Every runs pass at once, then every interval, until ctx ends, and
// returns then. It calls pass from the caller's goroutine, one pass at a
// time, with ctx; pass should return soon after ctx ends. No pass starts
// once ctx has ended, not even when a tick or a wake-up was due at the
// same moment. The ticks are a time.Ticker's started with the first pass:
// a pass that runs longer than interval is followed at once by the next,
// and the ticks it missed are dropped, not queued. interval must be
// positive.
func Every(ctx context.Context, interval time.Duration, pass func(context.Context), opts ...Option) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if ctx.Err() != nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	wake := o.wake
	select {
	case _, ok := <-wake: // served by the first pass
		if !ok {
			wake = nil
		}
	default:
	}
	for {
		pass(ctx)
		if !next(ctx, t.C, &wake) {
			return
		}
	}
}

// next waits for a tick or a wake-up and reports whether a pass is due:
// false once ctx has ended, whichever of them was ready first. A closed
// wake channel is set to nil.
func next(ctx context.Context, tick <-chan time.Time, wake *<-chan struct{}) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick:
		case _, ok := <-*wake:
			if !ok {
				*wake = nil
				continue
			}
		}
		// select picks at random among ready cases: ctx may have ended
		// with the tick ready too.
		return ctx.Err() == nil
	}
}
