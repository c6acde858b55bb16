package health

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// collector exports the Monitor's last snapshot at scrape time, so a
// topic or group that disappears from the cluster disappears from
// /metrics, and one scrape never mixes two passes.
type collector struct {
	m *Monitor

	up, brokers, controller                             *prometheus.Desc
	topics, partitions, underRepl, underMinISR, offline *prometheus.Desc
	dirTotal, dirUsable                                 *prometheus.Desc
	messages, bytes                                     *prometheus.Desc
	groupLag, groupCommits, groupMembers, groupStatus   *prometheus.Desc
}

// Register registers the Monitor's metrics on reg; the package doc lists
// them.
func (m *Monitor) Register(reg prometheus.Registerer) error {
	region := prometheus.Labels{"region": m.cfg.Region}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, region)
	}
	return reg.Register(&collector{
		m:            m,
		up:           d("geomesh_kafka_health_last_success_timestamp_seconds", "When the cluster health monitor last read the cluster's metadata (unix seconds)."),
		brokers:      d("geomesh_kafka_brokers", "Brokers the cluster's metadata lists (registered and not fenced)."),
		controller:   d("geomesh_kafka_active_controller", "1 if the KRaft controller quorum has a leader (DescribeQuorum), else 0."),
		topics:       d("geomesh_kafka_topics", "Topics in the cluster, internal ones included."),
		partitions:   d("geomesh_kafka_partitions", "Partitions in the cluster, internal ones included."),
		underRepl:    d("geomesh_kafka_under_replicated_partitions", "Partitions with fewer in-sync replicas than replicas."),
		underMinISR:  d("geomesh_kafka_under_min_isr_partitions", "Partitions with fewer in-sync replicas than their topic's min.insync.replicas: acks=all writes fail."),
		offline:      d("geomesh_kafka_offline_partitions", "Partitions without a leader."),
		dirTotal:     d("geomesh_kafka_log_dir_total_bytes", "Size of the volume a broker's log directory is on (DescribeLogDirs).", "broker", "dir"),
		dirUsable:    d("geomesh_kafka_log_dir_usable_bytes", "Free bytes on the volume a broker's log directory is on (DescribeLogDirs).", "broker", "dir"),
		messages:     d("geomesh_kafka_topic_messages_in_total", "Sum of the topic's partition end offsets; its rate is messages in per second (transaction markers included).", "topic"),
		bytes:        d("geomesh_kafka_topic_bytes_in_total", "Bytes appended to the topic's leader logs since the agent started (estimated across retention; see broker/health).", "topic"),
		groupLag:     d("geomesh_kafka_group_lag_records", "Records between a consumer group's committed offsets and the partition ends, per topic.", "group", "topic"),
		groupCommits: d("geomesh_kafka_group_commits_total", "Committed offsets of a consumer group seen to advance, one per partition per pass.", "group"),
		groupMembers: d("geomesh_kafka_group_members", "Members of a consumer group.", "group"),
		groupStatus:  d("geomesh_kafka_group_status", "1 for a consumer group's current status (OK, WARN, STALLED, STOPPED; Burrow's rules over the lag trend), 0 for the others.", "group", "status"),
	})
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.up, c.brokers, c.controller, c.topics, c.partitions, c.underRepl, c.underMinISR, c.offline,
		c.dirTotal, c.dirUsable, c.messages, c.bytes, c.groupLag, c.groupCommits, c.groupMembers, c.groupStatus,
	} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.Snapshot()
	if s.LastSuccess.IsZero() {
		// Nothing read yet: no value is better than a made-up zero.
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(c.up, float64(s.LastSuccess.UnixNano())/1e9)
	gauge(c.brokers, float64(s.Brokers))
	if s.ControllerSource != "" {
		gauge(c.controller, b2f(s.ActiveController))
	}
	gauge(c.topics, float64(s.Topics))
	gauge(c.partitions, float64(s.Partitions))
	gauge(c.underRepl, float64(s.UnderReplicated))
	gauge(c.underMinISR, float64(s.UnderMinISR))
	gauge(c.offline, float64(s.Offline))
	for _, d := range s.LogDirs {
		b := strconv.Itoa(int(d.Broker))
		if d.TotalBytes >= 0 {
			gauge(c.dirTotal, float64(d.TotalBytes), b, d.Dir)
		}
		if d.UsableBytes >= 0 {
			gauge(c.dirUsable, float64(d.UsableBytes), b, d.Dir)
		}
	}
	for _, t := range s.TopicTraffic {
		counter(c.messages, float64(t.Messages), t.Topic)
		counter(c.bytes, float64(t.Bytes), t.Topic)
	}
	for _, g := range s.Groups {
		for topic, lag := range g.Lag {
			gauge(c.groupLag, float64(lag), g.Group, topic)
		}
		counter(c.groupCommits, float64(g.Commits), g.Group)
		gauge(c.groupMembers, float64(g.Members), g.Group)
		for _, st := range Statuses {
			gauge(c.groupStatus, b2f(st == g.Status), g.Group, st.String())
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
