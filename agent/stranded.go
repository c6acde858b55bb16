package agent

import (
	"context"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/mirror/assign"
	"github.com/geomesh/geomesh/mirror/stranded"
	"github.com/geomesh/geomesh/topology"
)

// Settling the stranded records of a demoted primary (package
// mirror/stranded) runs in a goroutine of its own: it reads and writes two
// clusters and may wait minutes for a dead producer's transaction to time
// out, while the loop must keep ticking. It retries until it succeeds or
// the agent stops, never reporting done on a failure: a region that has
// not settled stays fenced, and its status says why.
const (
	// settleAttemptTimeout bounds one attempt; the broker's longest
	// transaction timeout (15 min) can hold read_committed back longer,
	// and the next attempt waits on.
	settleAttemptTimeout = 2 * time.Minute
	// settleBackoff is the longest wait between attempts.
	settleBackoff = 5 * time.Second
)

// settled is a finished settlement, for the loop.
type settled struct {
	epoch   uint64
	records int64
}

// settleStranded takes a Demote to fenced: the region's stranded records
// are to be settled. One agent of the region does it, the owner of the
// settlement's transactional id among the region's live agents (as with
// copy shards), so that one count is reported; the others wait, and one
// of them takes over if the owner leaves (checked every tick by
// pollStranded). A settlement already running answers a repeated Demote
// (the machine repeats it to a restarted agent; Settle is idempotent).
func (d *decisions) settleStranded(ctx context.Context, act machine.Demote) []machine.Action {
	d.pendingStranded = &act
	return d.pollStranded(ctx)
}

// pollStranded starts the pending settlement if this agent owns it, or
// forgets it once the region is no longer fenced (another agent settled
// and the region rejoined).
func (d *decisions) pollStranded(ctx context.Context) []machine.Action {
	act := d.pendingStranded
	if act == nil || d.settling {
		return nil
	}
	log := d.a.log
	st := d.m.Status().State
	if st == nil || st.Role(d.a.region.Name) != api.RoleFenced {
		d.pendingStranded = nil
		if d.strandedOwner != "" {
			d.setStranded(func(s *api.StrandedStatus) { s.State, s.Finished = "done", time.Now() })
		}
		d.strandedOwner = ""
		d.a.fmet.strandedUnsettled.Set(0)
		return nil
	}
	writer := st.SoleWriter(d.a.cfg.Mesh.Kind)
	flow, ok := d.strandedFlow(writer)
	if !ok {
		// Nothing flowed from this region to whoever writes now (no
		// primary or hub, or a topology without such a flow): nothing
		// is stranded anywhere.
		log.Warn("no flow to the new writer region: no stranded records to settle", "target", writer)
		d.pendingStranded = nil
		return d.m.Step(machine.StrandedDone{Count: 0})
	}
	policy := act.Stranded
	if policy == "" {
		policy = d.a.cfg.Mesh.Failover.Stranded
	}
	d.a.fmet.strandedUnsettled.Set(1)
	if owner := assign.Owner(stranded.TransactionalID(d.a.cfg.Mesh.Name, flow), d.a.regionMembers()); owner != d.a.self.ID {
		if d.strandedOwner != owner {
			d.strandedOwner = owner
			log.Info("stranded records are settled by another agent of the region", "owner", owner)
			d.setStranded(func(s *api.StrandedStatus) {
				*s = api.StrandedStatus{Policy: policy, Source: flow.Source, Target: flow.Target, State: "waiting", Owner: owner, Started: time.Now()}
			})
		}
		return nil
	}
	d.settling, d.strandedOwner = true, d.a.self.ID
	d.setStranded(func(s *api.StrandedStatus) {
		*s = api.StrandedStatus{Policy: policy, Source: flow.Source, Target: flow.Target, State: "settling", Owner: d.a.self.ID, Started: time.Now()}
	})
	log.Warn("settling stranded records", "epoch", act.Epoch, "policy", policy, "target", flow.Target)
	tgt, _ := d.a.cfg.Mesh.Region(flow.Target)
	cfg := stranded.Config{
		Mesh:   d.a.cfg.Mesh.Name,
		Flow:   flow,
		Policy: policy,
		Source: mirror.RegionClients(d.a.region.Name, d.a.region.Kafka),
		Target: mirror.RegionClients(tgt.Name, tgt.Kafka),
		Logger: log.With("stranded", flow.Source+"->"+flow.Target),
	}
	epoch := act.Epoch
	d.a.goRun(ctx, "stranded records", func(ctx context.Context) error {
		res := settled{epoch: epoch, records: d.runSettle(ctx, cfg)}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case d.strandedCh <- res:
		case <-ctx.Done():
		}
		return nil
	})
	return nil
}

// runSettle retries Settle until it succeeds or ctx ends, and returns the
// records settled over all attempts: an attempt that fails after some of
// its transactions committed has settled those for good.
func (d *decisions) runSettle(ctx context.Context, cfg stranded.Config) int64 {
	var total int64
	topics := map[string]int64{}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, settleAttemptTimeout)
		rep, err := stranded.Settle(actx, cfg)
		cancel()
		total += rep.Records
		for t, n := range rep.Topics {
			topics[t] += n
		}
		d.a.fmet.strandedRecords.WithLabelValues(string(cfg.Policy)).Add(float64(rep.Records))
		d.setStranded(func(s *api.StrandedStatus) {
			s.Records, s.Topics, s.Attempts = total, topics, attempt
			s.LostOffsets += rep.LostOffsets
			if err != nil {
				s.State, s.Error = "retrying", err.Error()
			} else {
				s.State, s.Error, s.Finished = "settled", "", time.Now()
			}
		})
		if err == nil {
			d.a.log.Warn("stranded records settled", "policy", cfg.Policy, "records", total, "target", cfg.Flow.Target, "lost_offsets", rep.LostOffsets, "attempts", attempt)
			return total
		}
		if ctx.Err() != nil {
			return total
		}
		d.a.log.Error("settling stranded records failed; retrying: this region stays fenced until they are settled", "policy", cfg.Policy, "target", cfg.Flow.Target, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return total
		case <-time.After(min(settleBackoff, time.Duration(attempt)*time.Second)):
		}
	}
}

// strandedDone hands a finished settlement to the machine.
func (d *decisions) strandedDone(ctx context.Context, res settled) {
	d.settling, d.pendingStranded, d.strandedOwner = false, nil, ""
	d.a.fmet.strandedUnsettled.Set(0)
	d.a.log.Info("stranded records reported to the failover machine", "epoch", res.epoch, "records", res.records)
	d.step(ctx, machine.StrandedDone{Count: res.records})
}

// strandedFlow is the flow from this region to target that ran while this
// region was the writer: the one whose progress tells what target lacks.
func (d *decisions) strandedFlow(target string) (topology.Flow, bool) {
	self := d.a.region.Name
	if target == "" || target == self {
		return topology.Flow{}, false
	}
	m := d.a.cfg.Mesh
	r := m.Roles
	switch m.Kind {
	case topology.KindActivePassive:
		r.Primary, r.Standby = self, []string{target}
	case topology.KindHubSpoke:
		r.Hub, r.StandbyHub = self, target
	}
	for _, f := range topology.PlanFor(m, r) {
		if f.Source == self && f.Target == target {
			return f, true
		}
	}
	return topology.Flow{}, false
}

func (d *decisions) setStranded(fn func(*api.StrandedStatus)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.snap.Stranded == nil {
		d.snap.Stranded = &api.StrandedStatus{}
	}
	fn(d.snap.Stranded)
}
