package acls

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/geomesh/geomesh/broker"
)

// The write gate: the region's own write fence is lifted only after the
// other data regions' clusters are fenced.
//
// Each region's agent fences its own cluster when it learns that the
// region is no longer the unfenced primary. But a promoted region's agent
// can learn of its promotion before the old primary's agent learns of its
// demotion (a planned switch flips both at once; a forced failover leaves
// a live old primary), and an old primary whose agent is dead, frozen or
// slow does not fence its cluster at all: a region whose broker survived
// its agent, or came back before it, accepts writes while the new
// primary does. So the agent of a newly unfenced primary fences the other
// data regions' clusters itself, with their Kafka settings from the
// topology, as their own agents would (same mesh markers, same rules, see
// package mirror/acls):
//
//   - it first runs one pass on every other data region's cluster, all at
//     once, and lifts its own fence when each has confirmed that it
//     refuses the writes, or could not be reached within
//     remoteFenceWait: a cluster the new primary cannot reach is one the
//     majority saw down, and its primary, if alive, has fenced itself
//     already (machine.Config.FenceAfter is below the time the majority
//     takes to promote);
//   - a cluster it could not confirm it tries again every
//     GateBackoff, until one pass confirms it, so a cluster that
//     comes back (a restarted broker, a healed cut) is fenced within
//     about that of serving, before its own agent has read the mesh
//     state; but not a cluster that answered that no pass from here can
//     fence it (no authorizer, or no permission for this agent), which
//     is left to its own agent and the operator.
//
// Once confirmed, a cluster is its own agent's again: passing over it for
// as long as this region stays primary would race that agent when its
// region is promoted in turn, since this agent learns of its demotion a
// moment late, and a DENY created after the new primary's pass deleted
// its marker would stay, taken for the operator's. A demotion or
// self-fence refuses writes in the own cluster at once and ends the
// passes.

const (
	// remoteFenceWait bounds how long a promoted region waits for the
	// other clusters to confirm their fence before it lifts its own. A
	// reachable cluster answers in a few round trips (about 0.5s at 80ms);
	// an unreachable one would hold the promotion until the dial timed
	// out.
	remoteFenceWait = 2 * time.Second
	// GatePassTimeout bounds a later pass over a cluster not yet
	// confirmed.
	GatePassTimeout = 10 * time.Second
	// GateBackoff is how soon a cluster whose fence a pass could
	// not confirm is tried again (and how long kgo waits between the
	// retries of a request within a pass): a broker that refuses
	// connections fails a pass at once, and one that restarts is fenced
	// within about this of serving again.
	GateBackoff = 100 * time.Millisecond
)

// Gate drives the region's own fencer and the passes over the other
// regions' clusters. NewGate does no I/O; Run passes until its context
// ends; Set never blocks.
type Gate struct {
	log    *slog.Logger
	own    *Fencer
	others []*Fencer     // one per other data region with a cluster
	wait   time.Duration // remoteFenceWait
	kick   chan struct{}

	mu     sync.Mutex // guards the fields below; SetFenced never blocks
	known  bool
	accept bool   // the region may accept writes: the unfenced primary
	gen    uint64 // counts changes of accept
	lifted bool   // own fence lifted for the current accept
	// done is, per other cluster and for the current accept, whether
	// passes over it are over: one confirmed its fence, or showed that
	// no pass from here can (no authorizer, no permission).
	done []bool
}

func NewGate(log *slog.Logger, own *Fencer, others []*Fencer) *Gate {
	return &Gate{log: log, own: own, others: others, wait: remoteFenceWait, kick: make(chan struct{}, 1),
		done: make([]bool, len(others))}
}

// Set tells the gate whether the region may accept writes now. Refusing
// takes effect in the own fencer at once; accepting waits for the other
// clusters (run). Called from the decision loop; it never blocks.
func (g *Gate) Set(accept bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.known && g.accept == accept {
		return
	}
	g.known, g.accept, g.lifted = true, accept, false
	g.gen++
	clear(g.done)
	if !accept {
		g.own.SetFenced(true)
		return
	}
	// The other clusters are their own agents' between two promotions
	// of this region: what the last one confirmed is stale.
	for _, f := range g.others {
		f.forget()
	}
	if len(g.others) == 0 {
		g.own.SetFenced(false)
		g.lifted = true
		return
	}
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// Run passes over the other clusters not yet confirmed while the region
// may accept writes, and lifts the own fence after the first round, until
// ctx ends.
func (g *Gate) Run(ctx context.Context) error {
	t := time.NewTimer(GateBackoff)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-g.kick:
		}
		g.mu.Lock()
		accept, gen, lifted := g.accept, g.gen, g.lifted
		var todo []int
		for i, ok := range g.done {
			if !ok {
				todo = append(todo, i)
			}
		}
		g.mu.Unlock()
		if !accept || len(todo) == 0 {
			continue
		}
		timeout := GatePassTimeout
		if !lifted {
			timeout = g.wait
		}
		start := time.Now()
		errs := g.fence(ctx, todo, timeout)
		g.mu.Lock()
		current := g.gen == gen && g.accept
		unconfirmed := map[string]string{}
		var confirmed []string
		retry := false
		for k, i := range todo {
			region := g.others[i].Status().Region
			if errs[k] != nil {
				unconfirmed[region] = remoteOutcome(errs[k])
				if !final(errs[k]) {
					retry = true
					continue
				}
			} else {
				confirmed = append(confirmed, region)
			}
			if current {
				g.done[i] = true
			}
		}
		if current && !lifted {
			g.own.SetFenced(false)
			g.lifted = true
		}
		g.mu.Unlock()
		if retry {
			t.Reset(GateBackoff)
		}
		switch {
		case current && !lifted:
			g.log.Info("lifting the write fence after fencing the other regions", "confirmed", confirmed,
				"unconfirmed", unconfirmed, "took", time.Since(start).Round(time.Millisecond))
		case current && len(confirmed) > 0:
			g.log.Info("fenced another region's cluster", "regions", confirmed, "took", time.Since(start).Round(time.Millisecond))
		}
	}
}

// fence runs one pass on each of the other clusters todo at once and
// returns each one's error, nil where the pass confirmed the fence.
func (g *Gate) fence(ctx context.Context, todo []int, timeout time.Duration) []error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for k, i := range todo {
		f := g.others[i]
		wg.Go(func() {
			errs[k] = f.PassOnce(ctx)
			if errs[k] == nil && f.Status().Writes != WritesRefused {
				errs[k] = errors.New("the pass did not confirm the fence")
			}
		})
	}
	wg.Wait()
	return errs
}

// final reports whether err shows that no later pass from this agent
// can fence the cluster either: it has no authorizer, or refuses this
// agent's principal the ACL requests. Passing again every
// GateBackoff would load the cluster for as long as the region is
// primary and change nothing; the cluster's own agent and the operator
// (the fence error metric, /v1/status) are left to act.
func final(err error) bool {
	return errors.Is(err, ErrNoAuthorizer) || broker.IsAuthorization(err)
}

// remoteOutcome names why a pass over another region's cluster did not
// confirm its fence, for the log: unreachable (the usual reason when the
// majority promoted this region: it saw that cluster down), no-authorizer
// and not-allowed (the cluster cannot be fenced from here, and waiting
// does not change it), or failed.
func remoteOutcome(err error) string {
	switch {
	case err == nil:
		return "confirmed"
	case errors.Is(err, ErrNoAuthorizer):
		return "no-authorizer"
	case broker.IsAuthorization(err):
		return "not-allowed"
	case errors.Is(err, context.DeadlineExceeded):
		return "unreachable"
	default:
		return "failed: " + err.Error()
	}
}
