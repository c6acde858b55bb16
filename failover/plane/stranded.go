package plane

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
func (p *Plane) settleStranded(ctx context.Context, act machine.Demote) []machine.Action {
	p.pendingStranded = &act
	return p.pollStranded(ctx)
}

// pollStranded starts the pending settlement if this agent owns it, or
// forgets it once the region is no longer fenced (another agent settled
// and the region rejoined).
func (p *Plane) pollStranded(ctx context.Context) []machine.Action {
	act := p.pendingStranded
	if act == nil || p.settling {
		return nil
	}
	log := p.log
	st := p.m.Status().State
	if st == nil || st.Role(p.cfg.Region) != api.RoleFenced {
		p.pendingStranded = nil
		if p.strandedOwner != "" {
			p.setStranded(func(s *api.StrandedStatus) { s.State, s.Finished = "done", time.Now() })
		}
		p.strandedOwner = ""
		p.met.strandedUnsettled.Set(0)
		return nil
	}
	writer := st.SoleWriter(p.topo().Kind)
	flow, ok := p.strandedFlow(writer)
	if !ok {
		// Nothing flowed from this region to whoever writes now (no
		// primary or hub, or a topology without such a flow): nothing
		// is stranded anywhere.
		log.Warn("no flow to the new writer region: no stranded records to settle", "target", writer)
		p.pendingStranded = nil
		return p.m.Step(machine.StrandedDone{Count: 0})
	}
	policy := act.Stranded
	if policy == "" {
		policy = p.topo().Failover.Stranded
	}
	p.met.strandedUnsettled.Set(1)
	if owner := assign.Owner(stranded.TransactionalID(p.topo().Name, flow), p.host.RegionMembers()); owner != p.cfg.Agent {
		if p.strandedOwner != owner {
			p.strandedOwner = owner
			log.Info("stranded records are settled by another agent of the region", "owner", owner)
			p.setStranded(func(s *api.StrandedStatus) {
				*s = api.StrandedStatus{Policy: policy, Source: flow.Source, Target: flow.Target, State: "waiting", Owner: owner, Started: time.Now()}
			})
		}
		return nil
	}
	p.settling, p.strandedOwner = true, p.cfg.Agent
	p.setStranded(func(s *api.StrandedStatus) {
		*s = api.StrandedStatus{Policy: policy, Source: flow.Source, Target: flow.Target, State: "settling", Owner: p.cfg.Agent, Started: time.Now()}
	})
	log.Warn("settling stranded records", "epoch", act.Epoch, "policy", policy, "target", flow.Target)
	tgt, _ := p.topo().Region(flow.Target)
	cfg := stranded.Config{
		Mesh:   p.topo().Name,
		Flow:   flow,
		Policy: policy,
		Source: mirror.RegionClients(p.cfg.Region, p.region.Kafka),
		Target: mirror.RegionClients(tgt.Name, tgt.Kafka),
		Logger: log.With("stranded", flow.Source+"->"+flow.Target),
	}
	epoch := act.Epoch
	p.goRun(ctx, "stranded records", func(ctx context.Context) error {
		res := settled{epoch: epoch, records: p.runSettle(ctx, cfg)}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case p.strandedCh <- res:
		case <-ctx.Done():
		}
		return nil
	})
	return nil
}

// runSettle retries Settle until it succeeds or ctx ends, and returns the
// records settled over all attempts: an attempt that fails after some of
// its transactions committed has settled those for good.
func (p *Plane) runSettle(ctx context.Context, cfg stranded.Config) int64 {
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
		p.met.strandedRecords.WithLabelValues(string(cfg.Policy)).Add(float64(rep.Records))
		p.setStranded(func(s *api.StrandedStatus) {
			s.Records, s.Topics, s.Attempts = total, topics, attempt
			s.LostOffsets += rep.LostOffsets
			if err != nil {
				s.State, s.Error = "retrying", err.Error()
			} else {
				s.State, s.Error, s.Finished = "settled", "", time.Now()
			}
		})
		if err == nil {
			p.log.Warn("stranded records settled", "policy", cfg.Policy, "records", total, "target", cfg.Flow.Target, "lost_offsets", rep.LostOffsets, "attempts", attempt)
			return total
		}
		if ctx.Err() != nil {
			return total
		}
		p.log.Error("settling stranded records failed; retrying: this region stays fenced until they are settled", "policy", cfg.Policy, "target", cfg.Flow.Target, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return total
		case <-time.After(min(settleBackoff, time.Duration(attempt)*time.Second)):
		}
	}
}

// strandedDone hands a finished settlement to the machine.
func (p *Plane) strandedDone(ctx context.Context, res settled) {
	p.settling, p.pendingStranded, p.strandedOwner = false, nil, ""
	p.met.strandedUnsettled.Set(0)
	p.log.Info("stranded records reported to the failover machine", "epoch", res.epoch, "records", res.records)
	p.step(ctx, machine.StrandedDone{Count: res.records})
}

// strandedFlow is the flow from this region to target that ran while this
// region was the writer: the one whose progress tells what target lacks.
func (p *Plane) strandedFlow(target string) (topology.Flow, bool) {
	self := p.cfg.Region
	if target == "" || target == self {
		return topology.Flow{}, false
	}
	m := p.topo()
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

func (p *Plane) setStranded(fn func(*api.StrandedStatus)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.snap.Stranded == nil {
		p.snap.Stranded = &api.StrandedStatus{}
	}
	fn(p.snap.Stranded)
}
