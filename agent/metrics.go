package agent

import (
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/mirror/topics"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the agent's collectors, registered on its own registry; the
// package doc lists them.
type metrics struct {
	records      *prometheus.CounterVec
	bytes        *prometheus.CounterVec
	filtered     *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	transactions *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	lagRecords   *prometheus.GaugeVec
	lagSeconds   *prometheus.GaugeVec
	paused       *prometheus.GaugeVec
	shardsOwned  *prometheus.GaugeVec
	shardErrors  *prometheus.CounterVec
	topicsMade   *prometheus.CounterVec
	configs      *prometheus.CounterVec
	syncErrors   *prometheus.CounterVec
}

var flowLabels = []string{"source", "target"}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geomesh_mirror_records_total", Help: "Records copied and committed to the target.",
		}, flowLabels),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geomesh_mirror_bytes_total", Help: "Key and value bytes of the records copied.",
		}, flowLabels),
		filtered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geomesh_mirror_filtered_records_total", Help: "Records the loop rules kept from the target.",
		}, flowLabels),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geomesh_mirror_dead_letter_records_total", Help: "Records the target refused, written to the dead-letter topic.",
		}, flowLabels),
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geomesh_mirror_transactions_total", Help: "Copy transactions ended, by outcome (committed, aborted).",
		}, append(flowLabels, "outcome")),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "geomesh_mirror_replication_latency_seconds",
			Help:    "Time from the source append of the newest record of a transaction to its commit on the target.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, flowLabels),
		lagRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "geomesh_mirror_lag_records", Help: "Source records not yet copied.",
		}, flowLabels),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "geomesh_mirror_lag_seconds", Help: "Age of the oldest source record not yet copied.",
		}, flowLabels),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "geomesh_mirror_paused_partitions", Help: "Source partitions stopped at a record the target refuses.",
		}, flowLabels),
		shardsOwned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "geomesh_mirror_shards_owned", Help: "Copy shards this agent runs.",
		}, flowLabels),
		shardErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geomesh_mirror_shard_errors_total", Help: "Failed copy sessions by class (fenced, authorization, unreachable, record-too-large, other).",
		}, append(flowLabels, "class")),
		topicsMade: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geomesh_topics_created_total", Help: "Target topics created by topic sync.",
		}, flowLabels),
		configs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geomesh_topics_config_changes_total", Help: "Topic config keys set or removed on the target by topic sync.",
		}, flowLabels),
		syncErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geomesh_topics_sync_errors_total", Help: "Topic sync problems (per topic or cluster).",
		}, flowLabels),
	}
	for _, c := range []prometheus.Collector{
		m.records, m.bytes, m.filtered, m.deadLettered, m.transactions, m.latency,
		m.lagRecords, m.lagSeconds, m.paused, m.shardsOwned, m.shardErrors,
		m.topicsMade, m.configs, m.syncErrors,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// flowMetrics are the metrics of one flow with its labels bound, so the
// per-transaction hook does no label lookups.
type flowMetrics struct {
	records, bytes, filtered, deadLettered prometheus.Counter
	committed, aborted                     prometheus.Counter
	latency                                prometheus.Observer
	lagRecords, lagSeconds, paused         prometheus.Gauge
	shardsOwned                            prometheus.Gauge
	shardErrors                            *prometheus.CounterVec
	topicsMade, configs, syncErrors        prometheus.Counter
}

func (m *metrics) flow(source, target string) *flowMetrics {
	l := prometheus.Labels{"source": source, "target": target}
	return &flowMetrics{
		records:      m.records.With(l),
		bytes:        m.bytes.With(l),
		filtered:     m.filtered.With(l),
		deadLettered: m.deadLettered.With(l),
		committed:    m.transactions.WithLabelValues(source, target, "committed"),
		aborted:      m.transactions.WithLabelValues(source, target, "aborted"),
		latency:      m.latency.With(l),
		lagRecords:   m.lagRecords.With(l),
		lagSeconds:   m.lagSeconds.With(l),
		paused:       m.paused.With(l),
		shardsOwned:  m.shardsOwned.With(l),
		shardErrors:  m.shardErrors.MustCurryWith(l),
		topicsMade:   m.topicsMade.With(l),
		configs:      m.configs.With(l),
		syncErrors:   m.syncErrors.With(l),
	}
}

// Batch implements mirror.Metrics.
func (f *flowMetrics) Batch(b mirror.BatchStats) {
	if !b.Committed {
		f.aborted.Inc()
		return
	}
	f.committed.Inc()
	f.records.Add(float64(b.Records))
	f.bytes.Add(float64(b.Bytes))
	f.filtered.Add(float64(b.Filtered))
	f.deadLettered.Add(float64(b.DeadLettered))
	if b.Records > 0 {
		f.latency.Observe(b.Lag.Seconds())
	}
}

// SessionFailed implements mirror.Metrics.
func (f *flowMetrics) SessionFailed(class string) {
	f.shardErrors.WithLabelValues(class).Inc()
}

// ObservePass implements topics.Observer.
func (f *flowMetrics) ObservePass(r topics.Report) {
	f.topicsMade.Add(float64(len(r.Created)))
	f.configs.Add(float64(len(r.Configs)))
	f.syncErrors.Add(float64(len(r.Errors)))
}
