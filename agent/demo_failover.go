package agent

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/topology"
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

	// The rest is set when the failed region was an active-passive
	// mesh's primary: an application (producer and consumer group
	// following the mesh through the client library) ran from before
	// the loss until after the failback.
	//
	// EpochAfter is the epoch at the end, after the failback.
	EpochAfter uint64 `json:"epoch_after,omitempty"`
	// FailoverSeconds is from stopping the region to the first record
	// the new primary acknowledged to the application's producer.
	FailoverSeconds float64 `json:"failover_seconds,omitempty"`
	// Stranded is what the failed region reported, once back, of the
	// records it took and never replicated; StrandedRecovered how many
	// records of the application <topic>.stranded on the new primary
	// holds (failover.stranded: quarantine).
	Stranded          int64 `json:"stranded"`
	StrandedRecovered int   `json:"stranded_recovered"`
	// FailedBack: the region took its role back by a planned switch.
	FailedBack bool `json:"failed_back"`
	// The application's records: acknowledged, read (distinct), never
	// read (apart from the stranded ones) and read more than once. Lost
	// and Duplicated of the whole result include the last two.
	AppAcked      int `json:"app_acked"`
	AppConsumed   int `json:"app_consumed"`
	AppLost       int `json:"app_lost"`
	AppDuplicated int `json:"app_duplicated"`
}

// demoAppTopic is the topic the demo's application uses when region
// fails: the active-passive primary's source topic.
func demoAppTopic(m *topology.Mesh, region string, sources map[place]bool) (string, bool) {
	if m.Kind != topology.KindActivePassive || m.Roles.Primary != region {
		return "", false
	}
	for p := range sources {
		if p.region == region {
			return p.topic, true
		}
	}
	return "", false
}

// failDemoRegion stops region's agent and cluster and waits for the
// survivors to decide a failover, watching every state they apply. When
// region is an active-passive primary, an application runs throughout,
// and the region is restored and fails back (demoFailback).
func failDemoRegion(ctx context.Context, local *Local, region string, sources map[place]bool, res *DemoResult) error {
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
	var app *demoApp
	if topic, ok := demoAppTopic(local.Mesh(), region, sources); ok {
		var err error
		if app, err = startDemoApp(ctx, local.Mesh(), topic); err != nil {
			return fmt.Errorf("demo: application: %w", err)
		}
		defer app.close()
		if err := pollUntil(ctx, 30*time.Second, func() error {
			if n := app.ackedIn(region); n < demoAppWarm {
				return fmt.Errorf("application: %d records acknowledged by %s, want %d", n, region, demoAppWarm)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	_ = victim.Close()
	cluster := local.cluster(region)
	if cluster != nil {
		cluster.SetDown(true)
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
	if app == nil {
		return nil
	}
	if err := demoFailback(ctx, local, app, cluster, failed, out); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	res.Lost += out.AppLost
	res.Duplicated += out.AppDuplicated
	return nil
}

// demoAppWarm is how many records each region acknowledges to the
// application before the demo moves on: before the loss, after the
// failover, after the failback.
const demoAppWarm = 200

// demoFailback waits for the application to write in the new primary,
// restores the failed region (its cluster with the records it held, a
// new agent), waits until it settled its stranded records, fails back
// with the survivors' agent, waits for the application to write there
// again, and scores the application's records.
func demoFailback(ctx context.Context, local *Local, app *demoApp, cluster *broker.Embedded, failed time.Time, out *DemoFailover) error {
	region, to := out.FailRegion, out.NewPrimary
	if err := pollUntil(ctx, 30*time.Second, func() error {
		at, ok := app.firstAckElsewhere(region)
		if !ok {
			return fmt.Errorf("application: no record acknowledged outside %s since its loss", region)
		}
		out.FailoverSeconds = at.Sub(failed).Seconds()
		if n := app.ackedIn(to); n < demoAppWarm {
			return fmt.Errorf("application: %d records acknowledged by %s, want %d", n, to, demoAppWarm)
		}
		return nil
	}); err != nil {
		return err
	}
	if cluster != nil {
		cluster.SetDown(false)
	}
	back, err := local.Restart(ctx, region)
	if err != nil {
		return fmt.Errorf("restore region %s: %w", region, err)
	}
	if err := pollUntil(ctx, 60*time.Second, func() error {
		fs := back.Failover()
		if fs.Role != string(machine.RoleStandby) || fs.Fenced || fs.Stranded == nil || fs.Stranded.State != "settled" {
			return fmt.Errorf("region %s back: role %q fenced %v, stranded records %+v", region, fs.Role, fs.Fenced, fs.Stranded)
		}
		out.Stranded = fs.Stranded.Records
		return nil
	}); err != nil {
		return err
	}
	var survivor *Agent
	for _, a := range local.Agents() {
		if a.Region() == to {
			survivor = a
		}
	}
	ackedBefore := app.ackedIn(region)
	// The returned region counts as up by a majority a few probes later;
	// until then the switch is refused, as an operator would retry.
	if err := pollUntil(ctx, 60*time.Second, func() error {
		r, err := survivor.Command(ctx, machine.Command{Kind: machine.CommandFailback})
		switch {
		case err != nil:
			return err
		case r.Code != 200:
			return fmt.Errorf("failback: %d %s", r.Code, r.Error)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := pollUntil(ctx, 60*time.Second, func() error {
		if n := app.ackedIn(region) - ackedBefore; n < demoAppWarm {
			return fmt.Errorf("application: %d records acknowledged by %s since the failback, want %d", n, region, demoAppWarm)
		}
		return nil
	}); err != nil {
		return err
	}
	out.FailedBack = true
	stranded, err := strandedIDs(ctx, local.Mesh(), to, app.topic+".stranded")
	if err != nil {
		return err
	}
	out.StrandedRecovered = len(stranded)
	app.finish(ctx, stranded, 30*time.Second)
	out.AppAcked, out.AppConsumed, out.AppLost, out.AppDuplicated = app.score(stranded)
	for _, a := range local.Agents() {
		out.EpochAfter = max(out.EpochAfter, a.Failover().Epoch)
	}
	return nil
}

// strandedIDs reads the application's records in topic of region, from
// the start until it has been quiet for a second.
func strandedIDs(ctx context.Context, m *topology.Mesh, region, topic string) (map[string]bool, error) {
	cl, err := regionClient(m, region, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ids := map[string]bool{}
	for quiet := 0; quiet < 2 && ctx.Err() == nil; {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		if fs.NumRecords() == 0 {
			quiet++
		}
		fs.EachRecord(func(r *kgo.Record) { ids[string(r.Value)] = true })
	}
	return ids, ctx.Err()
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
