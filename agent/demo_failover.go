package agent

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/geomesh/geomesh/failover/machine"
)

// DemoFailover is the failover part of a demo result.
type DemoFailover struct {
	FailRegion string `json:"fail_region"`
	// EpochBefore is the epoch when the region was stopped.
	EpochBefore uint64 `json:"epoch_before"`
	// FailoverEpoch is the epoch of the decision that took the failed
	// region's role away.
	FailoverEpoch uint64 `json:"failover_epoch"`
	// NewPrimary is the region that took over (for active-active, the
	// region serving the failed one's clients).
	NewPrimary string `json:"new_primary"`
	// DetectionSeconds is from stopping the region to a surviving agent
	// applying the decision: detection plus one compare-and-set.
	DetectionSeconds float64 `json:"detection_seconds"`
	// SplitBrain: more than one primary (hub) at one epoch in the states
	// the surviving agents applied while the demo watched.
	SplitBrain bool `json:"split_brain"`
	// Decisions are the events the survivors saw, in epoch order.
	Decisions []machine.Event `json:"decisions"`
}

// failDemoRegion stops region's agent and cluster and waits for the
// survivors to decide a failover, watching every state they apply.
func failDemoRegion(ctx context.Context, local *Local, region string, res *DemoResult) error {
	var victim *Agent
	var survivors []*Agent
	for _, a := range local.Agents() {
		if a.Region() == region {
			victim = a
		} else {
			survivors = append(survivors, a)
		}
	}
	// All agents must know the state first, or there is nothing to fail.
	var before uint64
	if err := pollUntil(ctx, 30*time.Second, func() error {
		for _, a := range local.Agents() {
			fs := a.Failover()
			if fs.State == nil {
				return fmt.Errorf("agent %s has read no mesh state (control plane %s)", a.ID(), fs.ControlPlane)
			}
			before = max(before, fs.Epoch)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	// Views need a few probe intervals before every region is up in
	// every agent's eyes; a failure before that is judged the same way,
	// only the figures would include the warm-up.
	time.Sleep(2 * local.Mesh().Failover.Detection.KafkaProbeInterval)

	out := &DemoFailover{FailRegion: region, EpochBefore: before}
	res.DemoFailover = out
	_ = victim.Close()
	for _, c := range local.Clusters() {
		if c.Region() == region {
			c.Close()
		}
	}
	failed := time.Now()
	primaries := map[uint64]map[string]bool{}
	err := pollUntil(ctx, 60*time.Second, func() error {
		for _, a := range survivors {
			st := a.Failover().State
			if st == nil {
				continue
			}
			if primaries[st.Epoch] == nil {
				primaries[st.Epoch] = map[string]bool{}
			}
			if p := primaryOf(st); p != "" {
				primaries[st.Epoch][p] = true
			}
			if st.Epoch > before && !isWriter(st.Role(region)) && out.FailoverEpoch == 0 {
				out.FailoverEpoch, out.NewPrimary = st.Epoch, st.To
				out.DetectionSeconds = time.Since(failed).Seconds()
			}
		}
		if out.FailoverEpoch == 0 {
			return fmt.Errorf("no failover away from %s yet (epoch %d)", region, before)
		}
		return nil
	})
	if err == nil {
		// The winner publishes the event after it applied the state,
		// which other agents may apply first: wait for it.
		err = pollUntil(ctx, 15*time.Second, func() error {
			for _, a := range survivors {
				for _, ev := range a.Failover().Events {
					if ev.Epoch == out.FailoverEpoch {
						return nil
					}
				}
			}
			return fmt.Errorf("no event for epoch %d", out.FailoverEpoch)
		})
	}
	for _, ps := range primaries {
		if len(ps) > 1 {
			out.SplitBrain = true
		}
	}
	seen := map[uint64]bool{}
	for _, a := range survivors {
		for _, ev := range a.Failover().Events {
			if !seen[ev.Epoch] {
				seen[ev.Epoch] = true
				out.Decisions = append(out.Decisions, ev)
			}
		}
	}
	sort.Slice(out.Decisions, func(i, j int) bool { return out.Decisions[i].Epoch < out.Decisions[j].Epoch })
	if err != nil {
		return fmt.Errorf("demo: region %s stopped %.1fs ago: %w", region, time.Since(failed).Seconds(), err)
	}
	return nil
}

func isWriter(r machine.Role) bool {
	return r == machine.RolePrimary || r == machine.RoleHub || r == machine.RoleActive
}

// pollUntil calls cond every 100ms until it returns nil, ctx ends or
// timeout passes; then it returns cond's last error.
func pollUntil(ctx context.Context, timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
