package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config configures a Monitor. Zero values take the defaults named on each
// field.
type Config struct {
	// Region names the cluster in metrics and snapshots. Required.
	Region string

	// Client is a client of the cluster; the Monitor sends admin requests
	// on it and never consumes or produces. Required; the caller closes
	// it.
	Client *kgo.Client

	// Interval is the time between passes (default 10s, a common
	// Prometheus scrape interval). A pass costs one metadata, one
	// describe-configs, two list-offsets, one describe-log-dirs per
	// broker, one describe-quorum, and for consumer groups one list, one
	// describe and one offset fetch per coordinator.
	Interval time.Duration

	// Window is how many passes of a group's offsets the status evaluator
	// looks back over (default 10, Burrow's default). A group turns
	// STALLED after Window × Interval without a committed offset moving,
	// 100 s with the defaults; a shorter window reacts sooner and flags
	// consumers that merely pause.
	Window int

	// Logger receives warnings about failed passes. Default slog.Default().
	Logger *slog.Logger
}

const (
	defaultInterval = 10 * time.Second
	defaultWindow   = 10
)

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = defaultInterval
	}
	if c.Window <= 0 {
		c.Window = defaultWindow
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Snapshot is the cluster's health as of one pass.
type Snapshot struct {
	Region string    `json:"region"`
	At     time.Time `json:"at"`
	// LastSuccess is when a pass last read the cluster's metadata; it
	// stays behind At while the cluster does not answer.
	LastSuccess time.Time `json:"last_success"`
	// Errors lists what this pass could not read; the other fields keep
	// what the last successful read of each part found.
	Errors []string `json:"errors,omitempty"`

	Brokers int `json:"brokers"`
	// ActiveController is whether the KRaft quorum has a leader
	// (DescribeQuorum), or, on a cluster that does not answer
	// DescribeQuorum, whether metadata names a controller.
	ActiveController bool   `json:"active_controller"`
	ControllerID     int32  `json:"controller_id"`
	ControllerSource string `json:"controller_source"` // quorum or metadata

	Topics          int `json:"topics"`
	Partitions      int `json:"partitions"`
	UnderReplicated int `json:"under_replicated_partitions"`
	UnderMinISR     int `json:"under_min_isr_partitions"`
	Offline         int `json:"offline_partitions"`

	LogDirs      []LogDir       `json:"log_dirs"`
	TopicTraffic []TopicTraffic `json:"topic_traffic"`
	Groups       []Group        `json:"groups"`
}

// LogDir is one log directory of one broker.
type LogDir struct {
	Broker int32  `json:"broker"`
	Dir    string `json:"dir"`
	// TotalBytes and UsableBytes describe the volume the directory is on;
	// -1 when the broker does not report them (before Kafka 3.3).
	TotalBytes  int64 `json:"total_bytes"`
	UsableBytes int64 `json:"usable_bytes"`
}

// TopicTraffic holds a topic's cumulative counters since the Monitor
// started reading it.
type TopicTraffic struct {
	Topic string `json:"topic"`
	// Messages is the sum of the topic's partition end offsets: every
	// offset ever assigned, transaction markers included. Its rate is
	// messages in per second; it falls back only when the topic is
	// recreated, which a Prometheus rate() takes for a counter reset.
	Messages int64 `json:"messages"`
	// Bytes is bytes appended to the leaders' logs since the Monitor
	// started (see the package doc for how it is estimated).
	Bytes int64 `json:"bytes"`
}

// Group is one consumer group.
type Group struct {
	Group   string `json:"group"`
	State   string `json:"state"`
	Members int    `json:"members"`
	// Lag is records between the committed offsets and the ends, summed
	// per topic over the partitions the group has committed.
	Lag map[string]int64 `json:"lag"`
	// Commits counts committed offsets seen to advance since the Monitor
	// started, one per partition per pass. A commit that repeats the
	// previous offset is invisible from outside, so a consumer that
	// commits without consuming counts as not committing.
	Commits int64  `json:"commits"`
	Status  Status `json:"-"`
	// StatusText is Status as a word, for JSON.
	StatusText string `json:"status"`
	Reason     string `json:"reason"`
}

// Monitor reads a cluster's health through the admin API every Interval.
// Collect and Snapshot may be called concurrently with Run; passes run one
// at a time, and Snapshot never waits for one.
type Monitor struct {
	cfg Config
	adm *kadm.Client

	mu   sync.Mutex // guards snap only, so a scrape never waits for a pass
	snap Snapshot

	// pass serializes passes and guards what they carry over, below.
	pass sync.Mutex
	// quorumAPI is decided on the first pass: whether every broker
	// answers DescribeQuorum.
	quorumAPI *bool
	// parts is what the previous pass saw of each partition, for the
	// bytes-in estimate.
	parts   map[TopicPartition]partSeen
	bytesIn map[string]int64
	groups  map[string]*groupSeen
}

type partSeen struct {
	start, end, size int64
}

type groupSeen struct {
	windows map[TopicPartition][]Sample
	commits int64
}

// New returns a Monitor; it does no I/O.
func New(cfg Config) (*Monitor, error) {
	cfg = cfg.withDefaults()
	var errs []error
	if cfg.Region == "" {
		errs = append(errs, errors.New("health: no region"))
	}
	if cfg.Client == nil {
		errs = append(errs, errors.New("health: no client"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Monitor{
		cfg:     cfg,
		adm:     kadm.NewClient(cfg.Client),
		snap:    Snapshot{Region: cfg.Region, ControllerID: -1},
		parts:   map[TopicPartition]partSeen{},
		bytesIn: map[string]int64{},
		groups:  map[string]*groupSeen{},
	}, nil
}

// Run collects every Interval until ctx ends; failures are in the
// snapshot and the log, never fatal.
func (m *Monitor) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		// A cluster that does not answer would hold a pass for kgo's
		// retry timeout; the next pass should start on time instead.
		passCtx, cancel := context.WithTimeout(ctx, max(m.cfg.Interval, 5*time.Second))
		snap := m.Collect(passCtx)
		cancel()
		if len(snap.Errors) > 0 && ctx.Err() == nil {
			m.cfg.Logger.Warn("cluster health pass incomplete", "region", m.cfg.Region, "errors", snap.Errors)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Snapshot returns the result of the last pass.
func (m *Monitor) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snap
}

// Collect runs one pass and returns its snapshot.
func (m *Monitor) Collect(ctx context.Context) Snapshot {
	m.pass.Lock()
	defer m.pass.Unlock()
	s := m.Snapshot()
	s.At, s.Errors = time.Now(), nil
	fail := func(what string, err error) {
		s.Errors = append(s.Errors, fmt.Sprintf("%s: %v", what, err))
	}
	md, err := m.adm.Metadata(ctx)
	if err != nil {
		fail("metadata", err)
		m.store(s)
		return s
	}
	s.LastSuccess = s.At
	s.Brokers = len(md.Brokers)
	m.controller(ctx, &s, md, fail)
	m.partitions(ctx, &s, md, fail)
	end := m.traffic(ctx, &s, md, fail)
	m.consumerGroups(ctx, &s, end, fail)
	m.store(s)
	return s
}

func (m *Monitor) store(s Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snap = s
}

// controller fills the active-controller fields. In KRaft, metadata's
// controller id is an arbitrary live broker, kept for old clients, so
// only the quorum's leader proves a controller; metadata is used only
// where DescribeQuorum is not served at all (kfake, Kafka before 3.3).
func (m *Monitor) controller(ctx context.Context, s *Snapshot, md kadm.Metadata, fail func(string, error)) {
	if m.quorumAPI == nil {
		vs, err := m.adm.ApiVersions(ctx)
		if err != nil {
			fail("api versions", err)
			return
		}
		ok, answered := true, false
		vs.Each(func(v kadm.BrokerApiVersions) {
			if v.Err != nil {
				return
			}
			answered = true
			if _, _, has := v.KeyVersions(int16(kmsg.DescribeQuorum)); !has {
				ok = false
			}
		})
		if !answered {
			fail("api versions", errors.New("no broker answered"))
			return
		}
		m.quorumAPI = &ok
	}
	if !*m.quorumAPI {
		s.ControllerSource, s.ControllerID, s.ActiveController = "metadata", md.Controller, md.Controller >= 0
		return
	}
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rp := kmsg.NewDescribeQuorumRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	s.ControllerSource = "quorum"
	resp, err := req.RequestWith(ctx, m.cfg.Client)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		// No answer about the quorum is no evidence of a leader.
		fail("describe quorum", err)
		s.ControllerID, s.ActiveController = -1, false
		return
	}
	s.ControllerID, s.ActiveController = -1, false
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if kerr.ErrorForCode(p.ErrorCode) == nil && p.LeaderID >= 0 {
				s.ControllerID, s.ActiveController = p.LeaderID, true
			}
		}
	}
}

// partitions counts topics and partitions and their replication health.
func (m *Monitor) partitions(ctx context.Context, s *Snapshot, md kadm.Metadata, fail func(string, error)) {
	minISR := m.minISR(ctx, md.Topics.Names(), fail)
	s.Topics, s.Partitions, s.UnderReplicated, s.UnderMinISR, s.Offline = 0, 0, 0, 0, 0
	for _, t := range md.Topics {
		if t.Err != nil {
			continue
		}
		s.Topics++
		for _, p := range t.Partitions {
			s.Partitions++
			if p.Leader < 0 {
				s.Offline++
			}
			if len(p.ISR) < len(p.Replicas) {
				s.UnderReplicated++
			}
			// A topic whose config could not be read is not counted
			// rather than guessed.
			if n, ok := minISR[t.Topic]; ok && len(p.ISR) < n {
				s.UnderMinISR++
			}
		}
	}
}

// minISR reads the effective min.insync.replicas of topics. The request
// names that one key: every config of thousands of topics, with synonyms
// as kadm's DescribeTopicConfigs asks, is a large answer every pass.
func (m *Monitor) minISR(ctx context.Context, topics []string, fail func(string, error)) map[string]int {
	out := map[string]int{}
	if len(topics) == 0 {
		return out
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	for _, t := range topics {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, t
		rr.ConfigNames = []string{"min.insync.replicas"}
		req.Resources = append(req.Resources, rr)
	}
	resp, err := req.RequestWith(ctx, m.cfg.Client)
	if err != nil {
		fail("describe topic configs", err)
		return out
	}
	for _, rc := range resp.Resources {
		for _, c := range rc.Configs {
			if c.Name == "min.insync.replicas" && c.Value != nil {
				if n, err := strconv.Atoi(*c.Value); err == nil {
					out[rc.ResourceName] = n
				}
			}
		}
	}
	return out
}

// traffic updates the per-topic counters and log dirs, and returns the
// partitions' end offsets for group lag.
func (m *Monitor) traffic(ctx context.Context, s *Snapshot, md kadm.Metadata, fail func(string, error)) map[TopicPartition]int64 {
	topics := md.Topics.Names()
	end := map[TopicPartition]int64{}
	if len(topics) == 0 {
		s.TopicTraffic = nil
		return end
	}
	ends, err := m.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		fail("list end offsets", err)
	}
	starts, err := m.adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		fail("list start offsets", err)
	}
	dirs, err := m.adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		fail("describe log dirs", err)
	}
	// size of each partition's leader replica; a leader's own log is what
	// producers append to.
	size := map[TopicPartition]int64{}
	s.LogDirs = s.LogDirs[:0:0]
	for broker, ds := range dirs {
		for _, d := range ds {
			if d.Err != nil {
				fail(fmt.Sprintf("log dir %s of broker %d", d.Dir, broker), d.Err)
				continue
			}
			s.LogDirs = append(s.LogDirs, LogDir{Broker: broker, Dir: d.Dir, TotalBytes: d.TotalBytes, UsableBytes: d.UsableBytes})
			for topic, ps := range d.Topics {
				for p, dp := range ps {
					if pd, ok := md.Topics[topic].Partitions[p]; ok && pd.Leader == broker {
						size[TopicPartition{topic, p}] = dp.Size
					}
				}
			}
		}
	}
	sort.Slice(s.LogDirs, func(i, j int) bool {
		if s.LogDirs[i].Broker != s.LogDirs[j].Broker {
			return s.LogDirs[i].Broker < s.LogDirs[j].Broker
		}
		return s.LogDirs[i].Dir < s.LogDirs[j].Dir
	})

	messages := map[string]int64{}
	seen := map[TopicPartition]partSeen{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset < 0 {
			return
		}
		tp := TopicPartition{o.Topic, o.Partition}
		end[tp] = o.Offset
		messages[o.Topic] += o.Offset
		now := partSeen{end: o.Offset, size: -1, start: -1}
		if so, ok := starts.Lookup(o.Topic, o.Partition); ok && so.Err == nil {
			now.start = so.Offset
		}
		if sz, ok := size[tp]; ok {
			now.size = sz
		}
		if prev, ok := m.parts[tp]; ok {
			m.bytesIn[o.Topic] += bytesAppended(prev, now)
		}
		seen[tp] = now
	})
	// Only partitions read this pass carry over: one the pass could not
	// read starts afresh rather than being compared across a gap.
	m.parts = seen
	s.TopicTraffic = s.TopicTraffic[:0:0]
	for _, t := range topics {
		if _, ok := messages[t]; !ok {
			continue
		}
		s.TopicTraffic = append(s.TopicTraffic, TopicTraffic{Topic: t, Messages: messages[t], Bytes: m.bytesIn[t]})
	}
	for t := range m.bytesIn {
		if _, ok := messages[t]; !ok {
			delete(m.bytesIn, t)
		}
	}
	return end
}

// bytesAppended estimates the bytes a partition's leader appended between
// two passes. While the log only grows (its start did not move), the
// growth of its size is exact. When retention or compaction removed data
// in between, the growth understates the appends, so the new offsets are
// priced at the log's average bytes per offset instead.
func bytesAppended(prev, now partSeen) int64 {
	if now.end <= prev.end || now.size < 0 {
		return 0
	}
	if prev.size >= 0 && now.start == prev.start && now.size >= prev.size {
		return now.size - prev.size
	}
	if n := now.end - max(now.start, 0); n > 0 {
		return (now.end - prev.end) * now.size / n
	}
	return 0
}

// consumerGroups updates lag, commits and status of every consumer group.
func (m *Monitor) consumerGroups(ctx context.Context, s *Snapshot, end map[TopicPartition]int64, fail func(string, error)) {
	listed, err := m.adm.ListGroups(ctx)
	if err != nil {
		fail("list groups", err)
		return
	}
	var classic, consumer []string
	for _, g := range listed {
		switch g.GroupType {
		case "share":
			// Share groups have no committed offsets to judge.
		case "consumer":
			consumer = append(consumer, g.Group)
		default:
			classic = append(classic, g.Group)
		}
	}
	members := map[string]int{}
	state := map[string]string{}
	if len(classic) > 0 {
		ds, err := m.adm.DescribeGroups(ctx, classic...)
		if err != nil {
			fail("describe groups", err)
		}
		for _, d := range ds {
			if d.Err == nil {
				members[d.Group], state[d.Group] = len(d.Members), d.State
			}
		}
	}
	if len(consumer) > 0 {
		ds, err := m.adm.DescribeConsumerGroups(ctx, consumer...)
		if err != nil {
			fail("describe consumer groups", err)
		}
		for _, d := range ds {
			if d.Err == nil {
				members[d.Group], state[d.Group] = len(d.Members), d.State
			}
		}
	}
	names := append(classic, consumer...)
	sort.Strings(names)
	fetched := m.adm.FetchManyOffsets(ctx, names...)
	s.Groups = s.Groups[:0:0]
	keep := map[string]*groupSeen{}
	for _, name := range names {
		f, ok := fetched[name]
		if !ok || f.Err != nil {
			if ok {
				fail("fetch offsets of group "+name, f.Err)
			}
			// Keep the group's history; it is judged again next pass.
			if g := m.groups[name]; g != nil {
				keep[name] = g
			}
			continue
		}
		g := m.groups[name]
		if g == nil {
			g = &groupSeen{windows: map[TopicPartition][]Sample{}}
		}
		keep[name] = g
		windows := map[TopicPartition][]Sample{}
		lag := map[string]int64{}
		f.Fetched.Each(func(o kadm.OffsetResponse) {
			tp := TopicPartition{o.Topic, o.Partition}
			e, ok := end[tp]
			if o.Err != nil || o.At < 0 || !ok {
				return
			}
			sample := Sample{Committed: o.At, End: e}
			win := g.windows[tp]
			if n := len(win); n > 0 && sample.Committed > win[n-1].Committed {
				g.commits++
			}
			win = append(win, sample)
			if len(win) > m.cfg.Window {
				win = win[len(win)-m.cfg.Window:]
			}
			windows[tp] = win
			lag[o.Topic] += sample.Lag()
		})
		g.windows = windows
		n, described := members[name]
		// A group that could not be described is taken to have members:
		// STALLED asks an operator to look, STOPPED would claim more.
		status, why := EvaluateGroup(windows, m.cfg.Window, n > 0 || !described)
		s.Groups = append(s.Groups, Group{
			Group: name, State: state[name], Members: n, Lag: lag, Commits: g.commits,
			Status: status, StatusText: status.String(), Reason: why,
		})
	}
	m.groups = keep
}
