package mirror

import (
	"slices"
	"time"
)

// Status is a point-in-time view of a shard, shaped for JSON.
type Status struct {
	Mesh            string `json:"mesh"`
	Source          string `json:"source"`
	Target          string `json:"target"`
	Shard           int    `json:"shard"`
	TransactionalID string `json:"transactional_id,omitempty"`
	Mode            string `json:"mode"`
	// State is starting, running, backoff (a session failed and the shard
	// waits to retry), fenced or stopped.
	State string `json:"state"`
	// Error is the last error that ended a session, empty once a later
	// transaction commits.
	Error string `json:"error,omitempty"`
	// ErrorClass sorts Error: fenced, authorization, unreachable,
	// record-too-large or other.
	ErrorClass string    `json:"error_class,omitempty"`
	LastCommit time.Time `json:"last_commit"`
	// Compression is the codec the shard writes copies with now.
	Compression string `json:"compression"`

	Records      int64 `json:"records"`       // copies committed
	Bytes        int64 `json:"bytes"`         // key+value bytes of those copies
	Filtered     int64 `json:"filtered"`      // records the loop rules skipped
	DeadLettered int64 `json:"dead_lettered"` // records sent to the dead-letter topic
	Committed    int64 `json:"transactions_committed"`
	Aborted      int64 `json:"transactions_aborted"`

	Partitions []PartitionStatus `json:"partitions"`
}

// PartitionStatus is the state of one source partition of a shard.
type PartitionStatus struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	TargetTopic string `json:"target_topic"`
	// Next is the next source offset to copy, as committed; -1 before the
	// first commit of a partition with no progress, which starts at the
	// source's log start.
	Next int64 `json:"next_offset"`
	// LastTarget is the target offset of the last copy, -1 if none.
	LastTarget int64 `json:"last_target_offset"`
	// HighWatermark is the source's high watermark as last fetched.
	HighWatermark int64 `json:"high_watermark"`
	// Lag is HighWatermark minus Next: records (and transaction markers)
	// not yet copied.
	Lag int64 `json:"lag"`
	// LagSeconds is the age of the oldest record not yet copied when the
	// shard has seen it, else the time since the last copied record was
	// produced at the source; zero when Lag is zero.
	LagSeconds float64 `json:"lag_seconds"`
	// RPOSeconds bounds the span of this partition's source writes a
	// failover now would strand. The shard knows LagSeconds only; the
	// agent raises it to the age of the source's newest heartbeat, which
	// grows when the shard no longer learns the partition's end.
	RPOSeconds float64 `json:"rpo_seconds"`

	Paused bool `json:"paused"`
	// PausedOffset is the source offset of the record the target refused;
	// copying resumes with it.
	PausedOffset int64  `json:"paused_offset,omitempty"`
	Error        string `json:"error,omitempty"`
}

// partStatus is what the shard keeps per partition across sessions.
type partStatus struct {
	target    string
	committed Progress
	hwm       int64
	logStart  int64
	// oldestTS is the timestamp (unix ms) of the oldest fetched record not
	// yet committed, -1 when none is pending.
	oldestTS int64
}

// pauseState is a partition stopped at a record the target refused.
type pauseState struct {
	offset    int64
	timestamp time.Time
	size      int
	reason    string
	// what the target looked like when it refused; a retry only helps
	// once one of these has grown.
	info topicInfo
}

// lagOf is a partition's lag in records and seconds and whether it is
// paused; the caller holds s.mu.
func (s *Shard) lagOf(p Partition, now time.Time) (records int64, seconds float64, paused bool) {
	if x, ok := s.prog[p]; ok {
		records, seconds = x.lag(now)
	}
	if pz, ok := s.paused[p]; ok {
		paused = true
		seconds = pz.lagSeconds(records, now)
	}
	return records, seconds, paused
}

// lag is a partition's lag in records and seconds from its progress.
func (x *partStatus) lag(now time.Time) (records int64, seconds float64) {
	from := x.committed.Next
	if from < 0 {
		from = x.logStart
	}
	records = max(x.hwm-from, 0)
	if records > 0 {
		switch {
		case x.oldestTS >= 0:
			seconds = now.Sub(time.UnixMilli(x.oldestTS)).Seconds()
		case x.committed.LastTimestamp >= 0:
			seconds = now.Sub(time.UnixMilli(x.committed.LastTimestamp)).Seconds()
		}
	}
	return records, max(seconds, 0)
}

// lagSeconds is a paused partition's lag in seconds: since it paused,
// while it has records to copy.
func (pz *pauseState) lagSeconds(records int64, now time.Time) float64 {
	if records == 0 {
		return 0
	}
	return max(now.Sub(pz.timestamp).Seconds(), 0)
}

// Lag sums what Status reports per partition: records behind, the largest
// lag in seconds and the paused partitions. It builds no per-partition
// snapshot and walks the progress map instead of looking every partition
// up, so the agent can ask for it several times a second at thousands of
// partitions.
func (s *Shard) Lag() (records int64, seconds float64, paused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for p, x := range s.prog {
		r, sec := x.lag(now)
		records += r
		if len(s.paused) > 0 {
			if pz, ok := s.paused[p]; ok {
				sec = pz.lagSeconds(r, now)
			}
		}
		seconds = max(seconds, sec)
	}
	return records, seconds, len(s.paused)
}

// Status returns a snapshot of the shard. It is safe to call at any time,
// concurrently with Run.
func (s *Shard) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Mesh, st.Source, st.Target, st.Shard = s.cfg.Mesh, s.cfg.Flow.Source, s.cfg.Flow.Target, s.cfg.Shard
	st.Mode = string(s.cfg.Mode)
	if s.eos {
		st.TransactionalID = s.txnID
	}
	st.State = s.state
	st.Compression = s.codec.String()
	st.Error, st.ErrorClass = s.lastErr, s.lastClass
	now := time.Now()
	for _, p := range s.parts {
		ps := PartitionStatus{Topic: p.Topic, Partition: p.Partition, TargetTopic: s.cfg.Flow.TargetTopic(p.Topic), Next: -1, LastTarget: -1}
		if x, ok := s.prog[p]; ok {
			ps.Next, ps.LastTarget, ps.HighWatermark = x.committed.Next, x.committed.LastTarget, x.hwm
		}
		ps.Lag, ps.LagSeconds, ps.Paused = s.lagOf(p, now)
		ps.RPOSeconds = ps.LagSeconds
		if pz, ok := s.paused[p]; ok {
			ps.PausedOffset, ps.Error = pz.offset, pz.reason
		}
		st.Partitions = append(st.Partitions, ps)
	}
	slices.SortFunc(st.Partitions, func(a, b PartitionStatus) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return st
}
