package plane

import (
	"github.com/geomesh/geomesh/failover/health"
	"github.com/geomesh/geomesh/failover/quorum"
	"github.com/geomesh/geomesh/topology"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the failover plane's gauges; package agent's doc lists
// them with the agent's others.
type metrics struct {
	epoch          prometheus.Gauge
	role           *prometheus.GaugeVec
	fenced         prometheus.Gauge
	lastTransition prometheus.Gauge
	verdict        *prometheus.GaugeVec

	strandedRecords   *prometheus.CounterVec
	strandedUnsettled prometheus.Gauge

	controlErrors *prometheus.CounterVec

	topologyVersion  prometheus.Gauge
	topologyRejected prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, region string) (*metrics, error) {
	m := &metrics{
		epoch: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "geomesh_failover_epoch", Help: "Mesh epoch of the state this agent last applied (0 before the first read).",
		}),
		role: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "geomesh_failover_role", Help: "1 for the role this agent's region holds in the mesh state.",
		}, []string{"region", "role"}),
		fenced: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "geomesh_failover_fenced", Help: "1 while this agent fenced itself (control plane unreachable in a writer role).",
		}),
		lastTransition: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "geomesh_failover_last_transition_timestamp_seconds", Help: "Unix time of the last role, epoch or fence change this agent applied.",
		}),
		verdict: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "geomesh_failover_region_verdict", Help: "1 for this agent's current verdict on a region (up, suspect or down), from gossip, Kafka probes and heartbeats.",
		}, []string{"region", "verdict"}),
		strandedRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geomesh_failover_stranded_records_total", Help: "Stranded records (taken by this region as primary, never replicated before a failover) settled by this agent, by policy (quarantine, replay, drop).",
		}, []string{"policy"}),
		strandedUnsettled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "geomesh_failover_stranded_unsettled", Help: "1 while this demoted region's stranded records are not settled yet; it stays fenced meanwhile.",
		}),
		controlErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geomesh_control_plane_errors_total",
			Help: "Failed operations of this agent's control-plane node, by op: check (the majority write), load, propose, status, lead, publish, subscribe, storage (the embedded server's JetStream storage failing: disk, open files, permissions). Each is logged at ERROR.",
		}, []string{"op"}),
		topologyVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "geomesh_topology_version", Help: "Stored topology version this agent runs (0: its topology file, none stored or read yet).",
		}),
		topologyRejected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "geomesh_topology_rejected", Help: "1 while this agent cannot run the newest stored topology version and keeps the one it runs (logged at ERROR, in /v1/status).",
		}),
	}
	for _, op := range quorum.Ops {
		m.controlErrors.WithLabelValues(string(op))
	}
	for _, p := range []topology.Stranded{topology.StrandedQuarantine, topology.StrandedReplay, topology.StrandedDrop} {
		m.strandedRecords.WithLabelValues(string(p))
	}
	// The series exists from the start, so that a dashboard shows "no
	// state yet" as an empty role rather than no series.
	m.role.WithLabelValues(region, "")
	for _, c := range []prometheus.Collector{m.epoch, m.role, m.fenced, m.lastTransition, m.verdict, m.strandedRecords, m.strandedUnsettled, m.controlErrors, m.topologyVersion, m.topologyRejected} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// setVerdict marks v as the region's verdict and clears the others, so a
// query for suspect or down regions sees only the current one.
func (m *metrics) setVerdict(region string, v health.Verdict) {
	for _, each := range []health.Verdict{health.Up, health.Suspect, health.Down} {
		val := 0.0
		if each == v {
			val = 1
		}
		m.verdict.WithLabelValues(region, string(each)).Set(val)
	}
}

// ObserveError implements quorum.ErrorObserver: the control-plane node
// logs the failure, the plane counts it.
func (m *metrics) ObserveError(op quorum.Op, _ error) {
	m.controlErrors.WithLabelValues(string(op)).Inc()
}

var _ quorum.ErrorObserver = (*metrics)(nil)
