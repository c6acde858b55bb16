package agent

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/mirror/acls"
	"github.com/geomesh/geomesh/topology"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The ACL fence (package mirror/acls, "Fencing application writes"): in
// an active-passive mesh, the agent of every region but the primary keeps
// its cluster denying application writes to the mirrored topics. Only
// active-passive has a region whose application writes must stop: every
// active region of an active-active mesh writes, and a spoke writes its
// own feeds.

// Fence error classes, a fixed set so that every series exists from the
// start.
const (
	fenceClassAuthorization = "authorization"
	fenceClassOther         = "other"
)

// fenceMetrics implement acls.FenceObserver.
type fenceMetrics struct {
	denies prometheus.Gauge
	errors *prometheus.CounterVec
}

func newFenceMetrics(reg prometheus.Registerer, region string) (*fenceMetrics, error) {
	denies := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "geomesh_acl_fence_denies",
		Help: "DENY WRITE ACLs geomesh holds on the region's cluster to keep applications from writing to mirrored topics there (0 on the primary).",
	}, []string{"region"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "geomesh_acl_fence_errors_total",
		Help: "Failed ACL fence passes by class (authorization: the agent lacks a permission, named in /v1/status; other).",
	}, []string{"region", "class"})
	for _, c := range []prometheus.Collector{denies, errs} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, c := range []string{fenceClassAuthorization, fenceClassOther} {
		errs.WithLabelValues(region, c)
	}
	return &fenceMetrics{denies: denies.WithLabelValues(region), errors: errs.MustCurryWith(prometheus.Labels{"region": region})}, nil
}

// ObserveFence implements acls.FenceObserver.
func (m *fenceMetrics) ObserveFence(r acls.FenceReport) {
	m.denies.Set(float64(r.Held))
	switch {
	case r.Err == nil, errors.Is(r.Err, acls.ErrNoAuthorizer):
	case broker.IsAuthorization(r.Err):
		m.errors.WithLabelValues(fenceClassAuthorization).Inc()
	default:
		m.errors.WithLabelValues(fenceClassOther).Inc()
	}
}

var _ acls.FenceObserver = (*fenceMetrics)(nil)

// startFence runs the region's fence and the write gate (acls.Gate),
// if the mesh has a fence; the caller holds a.mu.
func (a *Agent) startFence(ctx context.Context) error {
	if a.region.Kafka == nil || a.topo().Kind != topology.KindActivePassive {
		return nil
	}
	cl, err := a.client(a.region)
	if err != nil {
		return err
	}
	met, err := newFenceMetrics(a.cfg.Registry, a.region.Name)
	if err != nil {
		return err
	}
	a.fence = acls.NewFencer(acls.FencerConfig{
		Mesh:     a.topo().Name,
		Region:   a.region.Name,
		Kafka:    a.region.Kafka,
		Cluster:  cl,
		Selects:  a.mirroredTopics(a.region),
		Observer: met,
		Logger:   a.log,
	})
	var others []*acls.Fencer
	for i := range a.topo().Regions {
		r := &a.topo().Regions[i]
		if r.Name == a.region.Name || r.Kafka == nil {
			continue
		}
		// A client of its own, retrying at a steady pace until the pass's
		// timeout: a pass that waits for a restarting broker lands as soon
		// as it serves, not after kgo's backoff has grown to seconds.
		rcl, err := broker.NewClient(r.Name, r.Kafka, kgo.RequestRetries(math.MaxInt32),
			kgo.RetryBackoffFn(func(int) time.Duration { return acls.GateBackoff }))
		if err != nil {
			return err
		}
		a.clients[r.Name+" write gate"] = rcl
		f := acls.NewFencer(acls.FencerConfig{
			Mesh:        a.topo().Name,
			Region:      r.Name,
			Kafka:       r.Kafka,
			Cluster:     rcl,
			Selects:     a.mirroredTopics(r),
			PassTimeout: acls.GatePassTimeout,
			Logger:      a.log,
		})
		// Only ever told to refuse: it runs while this region is primary.
		f.SetFenced(true)
		others = append(others, f)
	}
	a.gate = acls.NewGate(a.log, a.fence, others)
	a.goRun(ctx, "acl fence", a.fence.Run)
	a.goRun(ctx, "write gate", a.gate.Run)
	return nil
}

// mirroredTopics selects the topics (and topic prefixes) that region r
// sends to the others while it is primary: the ones whose writes follow
// the primary.
func (a *Agent) mirroredTopics(r *topology.Region) func(string) bool {
	m := a.topo()
	roles := topology.Roles{Primary: r.Name}
	for _, s := range m.DataRegions() {
		if s != r.Name {
			roles.Standby = append(roles.Standby, s)
		}
	}
	var out []topology.Flow
	for _, f := range topology.PlanFor(m, roles) {
		if f.Source == r.Name {
			out = append(out, f)
		}
	}
	return func(topic string) bool {
		for _, f := range out {
			if f.Selects(topic) {
				return true
			}
		}
		return false
	}
}

// applyFence tells the write
// gate the region's side in the mesh state: writes are refused unless the
// region is primary and has not fenced itself. A self-fenced primary
// refuses them too: its majority may be promoting another region, and a
// record it took now would be stranded. Before the first state is read
// the fence changes nothing. The decision loop calls it after every step.
func (a *Agent) applyFence(st machine.Status) {
	if a.gate == nil {
		return
	}
	if fenced, known := deniesWrites(st, a.region.Name); known {
		a.gate.Set(!fenced)
	}
}

// deniesWrites decides whether region's cluster must deny application
// writes under st; known is false before a state has been read.
func deniesWrites(st machine.Status, region string) (fenced, known bool) {
	if st.State == nil {
		return false, false
	}
	return st.Fenced || st.State.Role(region) != api.RolePrimary, true
}
