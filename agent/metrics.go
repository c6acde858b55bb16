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
	sameCluster  *prometheus.GaugeVec
	shardErrors  *prometheus.CounterVec
	topicsMade   *prometheus.CounterVec
	configs      *prometheus.CounterVec
	syncErrors   *prometheus.CounterVec
}

var flowLabels = []string{"source", "target"}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	var all []prometheus.Collector
	counter := func(name, help string, extra ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, append(flowLabels[:2:2], extra...))
		all = append(all, c)
		return c
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, flowLabels)
		all = append(all, g)
		return g
	}
	m := &metrics{
		records:      counter("geomesh_mirror_records_total", "Records copied and committed to the target."),
		bytes:        counter("geomesh_mirror_bytes_total", "Key and value bytes of the records copied."),
		filtered:     counter("geomesh_mirror_filtered_records_total", "Records the loop rules kept from the target."),
		deadLettered: counter("geomesh_mirror_dead_letter_records_total", "Records the target refused, written to the dead-letter topic."),
		transactions: counter("geomesh_mirror_transactions_total", "Copy transactions ended, by outcome (committed, aborted).", "outcome"),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "geomesh_mirror_replication_latency_seconds",
			Help:    "Time from the source append of the newest record of a transaction to its commit on the target.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, flowLabels),
		lagRecords:  gauge("geomesh_mirror_lag_records", "Source records not yet copied."),
		lagSeconds:  gauge("geomesh_mirror_lag_seconds", "Age of the oldest source record not yet copied."),
		paused:      gauge("geomesh_mirror_paused_partitions", "Source partitions stopped at a record the target refuses."),
		shardsOwned: gauge("geomesh_mirror_shards_owned", "Copy shards this agent runs."),
		sameCluster: gauge("geomesh_mirror_same_cluster", "1 while the flow is stopped because its source and target report the same Kafka cluster id: copying would write every record onto itself."),
		shardErrors: counter("geomesh_mirror_shard_errors_total", "Failed copy sessions by class (fenced, authorization, unreachable, record-too-large, other).", "class"),
		topicsMade:  counter("geomesh_topics_created_total", "Target topics created by topic sync."),
		configs:     counter("geomesh_topics_config_changes_total", "Topic config keys set or removed on the target by topic sync."),
		syncErrors:  counter("geomesh_topics_sync_errors_total", "Topic sync problems (per topic or cluster)."),
	}
	for _, c := range append(all, m.latency) {
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
	shardsOwned, sameCluster               prometheus.Gauge
	shardErrors                            *prometheus.CounterVec
	topicsMade, configs, syncErrors        prometheus.Counter
}

func (m *metrics) flow(source, target string) *flowMetrics {
	l := prometheus.Labels{"source": source, "target": target}
	// Every class exists from the start at zero, so that increase() and
	// alerts see the first error rather than a series appearing.
	for _, c := range []string{mirror.ClassFenced, mirror.ClassAuthorization, mirror.ClassUnreachable, mirror.ClassTooLarge, mirror.ClassOther} {
		m.shardErrors.WithLabelValues(source, target, c)
	}
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
		sameCluster:  m.sameCluster.With(l),
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
