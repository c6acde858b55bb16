package agent

import "github.com/prometheus/client_golang/prometheus"

// failoverMetrics are the decision plane's gauges; the package doc lists
// them.
type failoverMetrics struct {
	epoch          prometheus.Gauge
	role           *prometheus.GaugeVec
	fenced         prometheus.Gauge
	lastTransition prometheus.Gauge
}

func newFailoverMetrics(reg prometheus.Registerer, region string) (*failoverMetrics, error) {
	m := &failoverMetrics{
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
	}
	// The series exists from the start, so that a dashboard shows "no
	// state yet" as an empty role rather than no series.
	m.role.WithLabelValues(region, "")
	for _, c := range []prometheus.Collector{m.epoch, m.role, m.fenced, m.lastTransition} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
