package acls

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// gateCluster is a kfake cluster where the application may write to
// orders, and a fencer of it.
func gateCluster(t *testing.T, region string) (*kfake.Cluster, *Fencer) {
	t.Helper()
	c := testkit.FakeCluster(t)
	f := fencerOf(t, c, region)
	res, err := testkit.Admin(t, kgo.SeedBrokers(c.ListenAddrs()...)).CreateACLs(t.Context(),
		kadm.NewACLs().Topics("orders").Allow("User:app").Operations(kadm.OpWrite))
	if err == nil {
		for _, r := range res {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

// fencerOf is a fencer of c's orders with a client of its own.
func fencerOf(t *testing.T, c *kfake.Cluster, region string) *Fencer {
	t.Helper()
	// Retrying until the pass's deadline, as the agent's clients of other
	// regions do.
	cl := testkit.Client(t, kgo.SeedBrokers(c.ListenAddrs()...), kgo.RequestRetries(math.MaxInt32),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))
	return NewFencer(FencerConfig{Mesh: "shop", Region: region, Cluster: cl,
		Selects: func(topic string) bool { return topic == "orders" }, Interval: 50 * time.Millisecond})
}

// TestWriteGate: a region that may accept writes lifts its own fence only
// after the other region's cluster confirmed its fence, or after the
// wait when that cluster does not answer; refusing takes effect at once.
func TestWriteGate(t *testing.T) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	run := func(t *testing.T, g *Gate) {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{}, 2)
		go func() { _ = g.own.Run(ctx); done <- struct{}{} }()
		go func() { _ = g.Run(ctx); done <- struct{}{} }()
		t.Cleanup(func() { cancel(); <-done; <-done })
	}
	wait := func(t *testing.T, what string, cond func() error) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for err := cond(); err != nil; err = cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	writes := func(f *Fencer, want Writes) func() error {
		return func() error {
			if st := f.Status(); st.Writes != want {
				return fmt.Errorf("%s: writes %q, want %q", st.Region, st.Writes, want)
			}
			return nil
		}
	}

	t.Run("the other cluster is fenced first", func(t *testing.T) {
		_, own := gateCluster(t, "west")
		eastCluster, other := gateCluster(t, "east")
		other.SetFenced(true)
		g := NewGate(discard, own, []*Fencer{other})
		run(t, g)
		g.Set(false)
		wait(t, "standby", writes(own, WritesRefused))
		if other.Status().Writes != WritesUnknown {
			t.Fatalf("the standby's gate passed over the other cluster: %+v", other.Status())
		}
		g.Set(true)
		wait(t, "promoted", writes(own, WritesAccepted))
		o, w := other.Status(), own.Status()
		if o.Writes != WritesRefused || !o.WritesSince.Before(w.WritesSince) {
			t.Errorf("east refused %q since %s, west accepted since %s: want east refused first", o.Writes, o.WritesSince, w.WritesSince)
		}
		// Confirmed once, east is its own agent's again: when that agent
		// lifts the fence (east promoted in turn, before this agent
		// learns of it), the gate does not put it back.
		eastAgent := fencerOf(t, eastCluster, "east")
		eastAgent.SetFenced(false)
		if err := eastAgent.PassOnce(t.Context()); err != nil || eastAgent.Status().Writes != WritesAccepted {
			t.Fatalf("east's agent lifting its fence: %v, %+v", err, eastAgent.Status())
		}
		deleted := eastAgent.Status().Deleted
		time.Sleep(300 * time.Millisecond)
		if err := eastAgent.PassOnce(t.Context()); err != nil || eastAgent.Status().Deleted != deleted {
			t.Errorf("east lifted its fence, and its next pass found DENYs to delete again: %v, %+v; want it left alone", err, eastAgent.Status())
		}
		g.Set(false)
		if st := own.Status(); !st.Fenced {
			t.Errorf("demoted: own fencer not told at once: %+v", st)
		}
		wait(t, "demoted", writes(own, WritesRefused))

		// Promoted again, after east's agent lifted its fence: the gate
		// fences east again, and reports it as a change of its own, with
		// this promotion's times (the agent's "write fence" line).
		created := other.Status().Created
		again := time.Now()
		g.Set(true)
		wait(t, "promoted again", writes(own, WritesAccepted))
		if o := other.Status(); o.Writes != WritesRefused || o.Created <= created || !o.WritesSince.After(again) {
			t.Errorf("east after the second promotion (at %s): %+v; want fenced again, refusing since then", again, o)
		}
	})

	t.Run("a cluster that refuses connections does not hold the lift", func(t *testing.T) {
		_, own := gateCluster(t, "west")
		dead, other := gateCluster(t, "east")
		other.SetFenced(true)
		g := NewGate(discard, own, []*Fencer{other})
		g.wait = 5 * time.Second
		run(t, g)
		g.Set(false)
		wait(t, "standby", writes(own, WritesRefused))
		dead.Close()
		start := time.Now()
		g.Set(true)
		wait(t, "promoted", writes(own, WritesAccepted))
		if took := time.Since(start); took >= g.wait {
			t.Errorf("lifted %s after the promotion: a dead broker held it for the whole wait", took)
		}
	})

	t.Run("a cluster that does not answer holds the lift for the wait only", func(t *testing.T) {
		_, own := gateCluster(t, "west")
		cl := testkit.Client(t, kgo.SeedBrokers(testkit.SilentAddr(t)))
		other := NewFencer(FencerConfig{Mesh: "shop", Region: "east", Cluster: cl, Selects: func(string) bool { return true }})
		other.SetFenced(true)
		g := NewGate(discard, own, []*Fencer{other})
		g.wait = 300 * time.Millisecond
		run(t, g)
		g.Set(false)
		wait(t, "standby", writes(own, WritesRefused))
		start := time.Now()
		g.Set(true)
		wait(t, "promoted", writes(own, WritesAccepted))
		if took := time.Since(start); took < g.wait || took > g.wait+2*time.Second {
			t.Errorf("lifted %s after the promotion, want the wait of %s and a pass", took, g.wait)
		}
	})
}

// noAuthorizer answers every request as a cluster without an authorizer
// does, and counts them.
type noAuthorizer struct{ requests atomic.Int64 }

func (n *noAuthorizer) Request(context.Context, kmsg.Request) (kmsg.Response, error) {
	n.requests.Add(1)
	return nil, kerr.SecurityDisabled
}

// TestWriteGateNoAuthorizer: a cluster that keeps no ACLs cannot be
// fenced by any later pass either, so the gate lifts the own fence and
// leaves it, instead of asking it again every backoff while primary.
func TestWriteGateNoAuthorizer(t *testing.T) {
	_, own := gateCluster(t, "west")
	east := &noAuthorizer{}
	other := NewFencer(FencerConfig{Mesh: "shop", Region: "east", Cluster: east, Selects: func(string) bool { return true }})
	other.SetFenced(true)
	g := NewGate(slog.New(slog.NewTextHandler(io.Discard, nil)), own, []*Fencer{other})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = own.Run(ctx) })
	wg.Go(func() { _ = g.Run(ctx) })
	g.Set(true)
	deadline := time.Now().Add(10 * time.Second)
	for own.Status().Writes != WritesAccepted {
		if time.Now().After(deadline) {
			t.Fatalf("west never accepted writes: %+v", own.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	asked := east.requests.Load()
	// Ten backoffs: a gate that passes again would ask several times.
	time.Sleep(10 * GateBackoff)
	if n := east.requests.Load(); asked == 0 || n != asked {
		t.Errorf("east, without an authorizer, was asked %d times before the lift and %d after it; want once before and never after", asked, n-asked)
	}
}

func TestRemoteOutcome(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "confirmed"},
		{fmt.Errorf("region east: %w", ErrNoAuthorizer), "no-authorizer"},
		{fmt.Errorf("region east: User:geomesh may not ALTER the CLUSTER: %w", kerr.ClusterAuthorizationFailed), "not-allowed"},
		{fmt.Errorf("region east: acls: %w", context.DeadlineExceeded), "unreachable"},
		{errors.New("region east: acls: EOF"), "failed: region east: acls: EOF"},
	} {
		if got := remoteOutcome(tc.err); got != tc.want {
			t.Errorf("remoteOutcome(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
