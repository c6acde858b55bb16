package agent

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/broker/health"
	"github.com/geomesh/geomesh/internal/apiserve"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/mirror/heartbeat"
	"github.com/geomesh/geomesh/topology"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	// defaultHealthInterval is the cluster health pass interval when
	// Config.HealthInterval is zero.
	defaultHealthInterval = 10 * time.Second
	// staleBeat is the heartbeat age at which the status page and the
	// event log call a flow's source silent: five missed beats.
	staleBeat = 5 * time.Second
	// maxEvents bounds the event log the status page shows.
	maxEvents = 50
)

// healthState is what the agent knows about the health of its region's
// cluster and of the flows into it, beyond the copy counters.
type healthState struct {
	started time.Time
	monitor *health.Monitor // nil for a region without a cluster
	beats   *heartbeat.Tracker

	mu     sync.Mutex
	events []Event // oldest first, at most maxEvents
	seen   map[string]string
}

// Event is one change the agent noticed, for the status page.
type Event struct {
	Time time.Time `json:"time"`
	Text string    `json:"text"`
}

// startHealth starts the cluster health monitor of the region's cluster,
// the reader of the heartbeats copied into it and the watcher that turns
// changes into events, and registers their metrics; the caller holds a.mu.
func (a *Agent) startHealth(ctx context.Context) error {
	h := &healthState{started: time.Now(), beats: heartbeat.NewTracker(), seen: map[string]string{}}
	a.health = h
	fail := func(err error) error { return fmt.Errorf("agent %s: health: %w", a.self.ID, err) }
	members := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "geomesh_membership_members", Help: "Live agents of this region in its gossip pool, this one included.",
	}, func() float64 { return float64(len(a.regionMembers())) })
	if err := a.cfg.Registry.Register(members); err != nil {
		return fail(err)
	}
	if err := a.cfg.Registry.Register(&flowHealthCollector{a: a}); err != nil {
		return fail(err)
	}
	if a.region.Kafka == nil {
		return nil
	}
	local, err := a.client(a.region)
	if err != nil {
		return err
	}
	interval := a.cfg.HealthInterval
	if interval <= 0 {
		interval = defaultHealthInterval
	}
	h.monitor, err = health.New(health.Config{
		Region: a.region.Name, Client: local, Interval: interval, Window: a.cfg.GroupStatusWindow, Logger: a.log,
	})
	if err != nil {
		return fail(err)
	}
	if err := h.monitor.Register(a.cfg.Registry); err != nil {
		return fail(err)
	}
	a.goRun(ctx, "cluster health", h.monitor.Run)
	var topics []string
	for _, f := range topology.Inbound(a.topo(), a.region.Name) {
		if t := f.TargetTopic(heartbeat.Topic); !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	if len(topics) > 0 {
		r, err := heartbeat.NewReader(heartbeat.ReaderConfig{
			NewClient: mirror.RegionClients(a.region.Name, a.region.Kafka),
			Topics:    topics, Tracker: h.beats, Logger: a.log,
		})
		if err != nil {
			return fail(err)
		}
		a.goRun(ctx, "heartbeat reader", r.Run)
	}
	a.goRun(ctx, "health events", a.watchHealth)
	return nil
}

// FlowHealth is the health of one flow into the agent's region.
type FlowHealth struct {
	Source string `json:"source"`
	Target string `json:"target"`
	// HeartbeatAge is how old the newest beat of the source region read
	// here is; until one arrives, the time since the agent started.
	HeartbeatAge     float64 `json:"heartbeat_age_seconds"`
	HeartbeatSeen    bool    `json:"heartbeat_seen"`
	HeartbeatLatency float64 `json:"heartbeat_latency_seconds"`
	LagRecords       int64   `json:"lag_records"`
	LagSeconds       float64 `json:"lag_seconds"`
	// RPOSeconds estimates the span of source writes lost if the source
	// region died now: the older of the oldest record not yet copied and
	// the newest beat received. The beat catches what lag cannot: a
	// stalled copy that no longer learns the source's end.
	RPOSeconds float64 `json:"rpo_seconds"`
	Error      string  `json:"error,omitempty"`
}

// HealthStatus is the body of GET /v1/health.
type HealthStatus struct {
	Region  string           `json:"region"`
	Cluster *health.Snapshot `json:"cluster,omitempty"`
	Flows   []FlowHealth     `json:"flows"`
	Events  []Event          `json:"events"`
}

// Health returns a snapshot; safe to call at any time.
func (a *Agent) Health() HealthStatus {
	runners := a.flowRunners()
	a.mu.Lock()
	h := a.health
	a.mu.Unlock()
	out := HealthStatus{Region: a.region.Name, Flows: []FlowHealth{}, Events: []Event{}}
	if h == nil {
		return out
	}
	if h.monitor != nil {
		s := h.monitor.Snapshot()
		out.Cluster = &s
	}
	now := time.Now()
	for _, fr := range runners {
		out.Flows = append(out.Flows, h.flow(fr, now))
	}
	h.mu.Lock()
	out.Events = append(out.Events, h.events...)
	h.mu.Unlock()
	return out
}

func (h *healthState) flow(fr *flowRunner, now time.Time) FlowHealth {
	lag, lagSeconds, lastErr := fr.lag()
	fh := FlowHealth{Source: fr.flow.Source, Target: fr.flow.Target, LagRecords: lag, LagSeconds: lagSeconds, Error: lastErr}
	fh.HeartbeatAge, fh.HeartbeatLatency, fh.HeartbeatSeen = h.beat(fh.Source, now)
	fh.RPOSeconds = max(fh.LagSeconds, fh.HeartbeatAge)
	return fh
}

// beat is the age and latency of the newest heartbeat of region read
// here; until one arrives, the age is the time since the agent started.
func (h *healthState) beat(region string, now time.Time) (age, latency float64, seen bool) {
	for _, r := range h.beats.Regions(now) {
		if r.Region == region {
			return r.Age.Seconds(), r.Latency.Seconds(), true
		}
	}
	return now.Sub(h.started).Seconds(), 0, false
}

// flowStatus is fr's status with each partition's RPO raised to the age
// of the source's newest heartbeat, and the flow's RPO.
func (a *Agent) flowStatus(fr *flowRunner, now time.Time) FlowStatus {
	st := fr.status()
	a.mu.Lock()
	h := a.health
	a.mu.Unlock()
	var age float64
	if h != nil {
		age, _, _ = h.beat(fr.flow.Source, now)
	}
	for i := range st.Shards {
		for j := range st.Shards[i].Partitions {
			p := &st.Shards[i].Partitions[j]
			p.RPOSeconds = max(p.LagSeconds, age)
			st.RPOSeconds = max(st.RPOSeconds, p.RPOSeconds)
		}
	}
	return st
}

// partitionsBehind lists st's partitions with records not yet copied,
// the longest behind first, at most api.MaxPartitionsBehind.
func partitionsBehind(st FlowStatus) []api.PartitionRPO {
	var out []api.PartitionRPO
	for _, s := range st.Shards {
		for _, p := range s.Partitions {
			if p.Lag > 0 {
				out = append(out, api.PartitionRPO{Topic: p.Topic, Partition: p.Partition, Records: p.Lag, Seconds: p.RPOSeconds})
			}
		}
	}
	slices.SortFunc(out, func(a, b api.PartitionRPO) int {
		return cmp.Or(cmp.Compare(b.Seconds, a.Seconds), cmp.Compare(b.Records, a.Records), cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out[:min(len(out), api.MaxPartitionsBehind)]
}

func (a *Agent) serveHealth(w http.ResponseWriter, _ *http.Request) {
	apiserve.WriteJSON(w, http.StatusOK, a.Health())
}

// watchHealth records an event whenever something the status page shows
// changes state, checking every second until ctx ends.
func (a *Agent) watchHealth(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		a.noteChanges(a.Health())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// noteChanges compares the health with what was seen before and logs an
// event per change. The first sight of a thing is an event only when it
// is bad, so a healthy start is quiet.
func (a *Agent) noteChanges(hs HealthStatus) {
	h := a.health
	h.mu.Lock()
	defer h.mu.Unlock()
	note := func(key, state, good, text string) {
		prev, ok := h.seen[key]
		if prev == state || (!ok && state == good) {
			h.seen[key] = state
			return
		}
		h.seen[key] = state
		h.events = append(h.events, Event{Time: time.Now(), Text: text})
		if len(h.events) > maxEvents {
			h.events = h.events[len(h.events)-maxEvents:]
		}
	}
	if c := hs.Cluster; c != nil && !c.LastSuccess.IsZero() {
		reach := "ok"
		if c.LastSuccess.Before(c.At) {
			reach = "unreachable"
		}
		note("cluster", reach, "ok", fmt.Sprintf("cluster %s: %s", c.Region, reach))
		note("urp", strconv.FormatBool(c.UnderReplicated > 0), "false",
			fmt.Sprintf("cluster %s: %d under-replicated partitions", c.Region, c.UnderReplicated))
		note("offline", strconv.FormatBool(c.Offline > 0), "false",
			fmt.Sprintf("cluster %s: %d offline partitions", c.Region, c.Offline))
		note("controller", strconv.FormatBool(c.ActiveController), "true",
			fmt.Sprintf("cluster %s: active controller %v", c.Region, c.ActiveController))
		for _, g := range c.Groups {
			note("group "+g.Group, g.StatusText, "OK", fmt.Sprintf("group %s: %s (%s)", g.Group, g.StatusText, g.Reason))
		}
	}
	for _, f := range hs.Flows {
		name := f.Source + "→" + f.Target
		beat := "fresh"
		if f.HeartbeatAge > staleBeat.Seconds() {
			beat = "stale"
		}
		note("beat "+name, beat, "fresh", fmt.Sprintf("flow %s: heartbeat %s (%.0fs old)", name, beat, f.HeartbeatAge))
		state := "ok"
		if f.Error != "" {
			state = "error: " + f.Error
		}
		note("flow "+name, state, "ok", fmt.Sprintf("flow %s: %s", name, state))
	}
}

// flowHealthCollector exports per-flow health computed at scrape time.
type flowHealthCollector struct{ a *Agent }

var (
	beatAgeDesc = prometheus.NewDesc("geomesh_heartbeat_age_seconds",
		"Age of the newest heartbeat of the source region read in the target; until one arrives, the time since the agent started.", flowLabels, nil)
	beatLatencyDesc = prometheus.NewDesc("geomesh_heartbeat_latency_seconds",
		"Replication latency of the newest heartbeat of the source region when it arrived.", flowLabels, nil)
	rpoDesc = prometheus.NewDesc("geomesh_mirror_rpo_seconds",
		"Estimated span of source writes lost if the source region died now: max(lag seconds, heartbeat age).", flowLabels, nil)
	partLagDesc = prometheus.NewDesc("geomesh_mirror_partition_lag_records",
		"Source records not yet copied, per partition (only with the agent's partition lag metrics enabled).",
		[]string{"source", "target", "topic", "partition"}, nil)
	partRPODesc = prometheus.NewDesc("geomesh_mirror_partition_rpo_seconds",
		"Span of a partition's source writes a failover now would strand at most: max(its lag in seconds, the source's heartbeat age) (only with the agent's partition lag metrics enabled).",
		[]string{"source", "target", "topic", "partition"}, nil)
)

func (c *flowHealthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- beatAgeDesc
	ch <- beatLatencyDesc
	ch <- rpoDesc
	if c.a.cfg.PartitionLagMetrics {
		ch <- partLagDesc
		ch <- partRPODesc
	}
}

func (c *flowHealthCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	runners := a.flowRunners()
	a.mu.Lock()
	h := a.health
	a.mu.Unlock()
	now := time.Now()
	for _, fr := range runners {
		fh := h.flow(fr, now)
		ch <- prometheus.MustNewConstMetric(beatAgeDesc, prometheus.GaugeValue, fh.HeartbeatAge, fh.Source, fh.Target)
		if fh.HeartbeatSeen {
			ch <- prometheus.MustNewConstMetric(beatLatencyDesc, prometheus.GaugeValue, fh.HeartbeatLatency, fh.Source, fh.Target)
		}
		ch <- prometheus.MustNewConstMetric(rpoDesc, prometheus.GaugeValue, fh.RPOSeconds, fh.Source, fh.Target)
		if !a.cfg.PartitionLagMetrics {
			continue
		}
		for _, s := range a.flowStatus(fr, now).Shards {
			for _, p := range s.Partitions {
				part := strconv.Itoa(int(p.Partition))
				ch <- prometheus.MustNewConstMetric(partLagDesc, prometheus.GaugeValue, float64(p.Lag), fh.Source, fh.Target, p.Topic, part)
				ch <- prometheus.MustNewConstMetric(partRPODesc, prometheus.GaugeValue, p.RPOSeconds, fh.Source, fh.Target, p.Topic, part)
			}
		}
	}
}
