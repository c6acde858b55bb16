package mirror

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Partition names one partition of a source topic.
type Partition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// ShardFor is the shard that copies a partition when a flow is split into
// shards: hash(topic, partition) mod shards, as docs/architecture.md
// describes. Every agent must compute the same answer, so the hash is fixed
// (FNV-1a over the topic, a zero byte and the decimal partition).
func ShardFor(topic string, partition int32, shards int) int {
	h := fnv.New32a()
	h.Write([]byte(topic))
	h.Write([]byte{0})
	fmt.Fprint(h, partition)
	return int(h.Sum32() % uint32(shards))
}

// ClientFactory builds a client for one cluster from the options the shard
// needs (consumer or producer settings); the factory adds the connection
// (seeds, TLS, SASL). A shard calls it each time it (re)starts a session and
// closes what it gets.
type ClientFactory func(opts ...kgo.Opt) (*kgo.Client, error)

// RegionClients returns the factory of a region's cluster in the mesh.
func RegionClients(region string, k *topology.Kafka) ClientFactory {
	return func(opts ...kgo.Opt) (*kgo.Client, error) {
		return broker.NewClient(region, k, opts...)
	}
}

// Metrics receives one call per transaction the shard ends, committed or
// aborted (in at-least-once mode: per batch). It is called from the shard's
// goroutine, never concurrently for one shard, and must not block: the copy
// waits for it. A nil Metrics is allowed.
type Metrics interface {
	Batch(BatchStats)
	// SessionFailed is called when a session of the shard ends in an
	// error, with the error's class (ErrorClass).
	SessionFailed(class string)
}

// BatchStats describes one ended transaction of a shard.
type BatchStats struct {
	Source, Target string
	Shard          int
	Committed      bool          // false: aborted, and nothing of it is visible
	Records        int           // copies written
	Bytes          int           // key+value bytes of the copies
	Filtered       int           // records the loop rules skipped
	DeadLettered   int           // records sent to the dead-letter topic
	Duration       time.Duration // from the first produce to the end
	// Lag is the newest copied record's age at commit, the replication
	// latency an operator sees; zero when nothing was copied.
	Lag time.Duration
}

// ShardConfig configures a Shard. Zero values take the defaults named on
// each field; withDefaults applies all of them in one place.
type ShardConfig struct {
	// Mesh is the mesh name; it is part of the transactional id. Required.
	Mesh string

	// Flow is the copy this shard takes part in: its Source and Target
	// regions name the clusters in errors and provenance headers, its
	// Kind chooses the loop rule and its TargetTopic names the copies.
	// Required.
	Flow topology.Flow

	// Shard is this shard's index within the flow. Together with Mesh
	// and the flow's regions it makes the transactional id
	// geomesh.<mesh>.<source>.<target>.<shard>: two processes running the
	// same index fence each other, so only one ever commits.
	Shard int

	// Partitions are the source partitions to copy. SetPartitions changes
	// them later.
	Partitions []Partition

	// Source and Target build clients of the source and the target
	// cluster. Required.
	Source, Target ClientFactory

	// Mode is exactly-once (default) or at-least-once. Exactly-once writes
	// copies and progress in one transaction; at-least-once uses an
	// idempotent producer and writes progress after the copies are
	// acknowledged, so a crash between the two copies some records twice.
	Mode topology.ReplicationMode

	// CommitInterval is the longest a transaction stays open collecting
	// records (default 100ms). Longer intervals give fewer, larger
	// transactions (less overhead per record on both clusters) and add
	// that much to the replication latency, because read_committed
	// consumers of the target see nothing before the commit. At a low
	// rate a transaction ends sooner (eagerCommitBelow).
	CommitInterval time.Duration

	// MaxRecords caps the records in one transaction (default 10,000), and
	// so the work lost and redone when one aborts.
	MaxRecords int

	// OnError is what happens to a record the target refuses (larger than
	// the target topic's max.message.bytes, or its partition missing):
	// pause (default) stops that source partition at the record until the
	// target can take it; dead-letter writes it to DeadLetterTopic and
	// moves on. Nothing is skipped silently either way.
	OnError topology.OnError

	// DeadLetterTopic is the topic in the target cluster for dead-letter;
	// required with that policy. The shard creates it if missing, with
	// max.message.bytes of 64 MiB so that what the data topic refused fits.
	DeadLetterTopic string

	// RetryInterval is how often a paused partition re-reads the target
	// topic's limits to resume by itself once an operator has fixed them
	// (default 5s), and the longest backoff after a failed session.
	RetryInterval time.Duration

	// Metrics receives per-transaction statistics; nil disables them.
	Metrics Metrics

	// Logger receives the shard's logs; nil discards them.
	Logger *slog.Logger
}

// Defaults of ShardConfig.
const (
	DefaultCommitInterval = 100 * time.Millisecond
	DefaultMaxRecords     = 10_000
	DefaultRetryInterval  = 5 * time.Second

	// eagerCommitBelow is the size under which a transaction commits
	// early, instead of waiting out CommitInterval: as soon as the
	// consumer holds nothing more to copy, or once it has been open
	// eagerCommitAfter while fetches keep trickling in. At 10,000
	// records/s a shard's fetches bring a few hundred records, and the
	// interval would be most of a copy's latency. A backlog fills its
	// transactions up to MaxRecords or the interval, as before.
	eagerCommitBelow = 1_000
	eagerCommitAfter = 10 * time.Millisecond

	// idleFetchWait is how long the broker may hold a shard's fetch
	// when none of its partitions has records. 5 s took an idle agent at
	// 10,000 partitions from 4.5 % to 3.1 % of a core, but a new topic
	// then took 7.3 s instead of 3.8 s to be copied (test/bench/notes.md).
	idleFetchWait = time.Second

	// deadLetterMaxBytes is the max.message.bytes given to a dead-letter
	// topic the shard creates.
	deadLetterMaxBytes = 64 << 20
)

func (c ShardConfig) withDefaults() ShardConfig {
	if c.Mode == "" {
		c.Mode = topology.ReplicationExactlyOnce
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = DefaultCommitInterval
	}
	if c.MaxRecords <= 0 {
		c.MaxRecords = DefaultMaxRecords
	}
	if c.OnError == "" {
		c.OnError = topology.OnErrorPause
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c ShardConfig) validate() error {
	var missing []string
	if c.Mesh == "" {
		missing = append(missing, "mesh")
	}
	if c.Flow.Source == "" || c.Flow.Target == "" {
		missing = append(missing, "flow source and target")
	}
	if c.Source == nil || c.Target == nil {
		missing = append(missing, "source and target clients")
	}
	if c.OnError == topology.OnErrorDeadLetter && c.DeadLetterTopic == "" {
		missing = append(missing, "dead-letter topic")
	}
	if len(missing) > 0 {
		return fmt.Errorf("mirror shard %s: missing %v", c.name(), missing)
	}
	switch c.Mode {
	case topology.ReplicationExactlyOnce, topology.ReplicationAtLeastOnce:
	default:
		return fmt.Errorf("mirror shard %s: unknown mode %q", c.name(), c.Mode)
	}
	switch c.OnError {
	case topology.OnErrorPause, topology.OnErrorDeadLetter:
	default:
		return fmt.Errorf("mirror shard %s: unknown error policy %q", c.name(), c.OnError)
	}
	return nil
}

// TransactionalID is the transactional id of a shard of a flow. The parts
// are joined with '.', which mesh and region names cannot contain, so two
// flows never share an id (with '-', us-east→eu and us→east-eu would).
func TransactionalID(mesh string, f topology.Flow, shard int) string {
	return fmt.Sprintf("geomesh.%s.%s.%s.%d", mesh, f.Source, f.Target, shard)
}

func (c ShardConfig) name() string { return TransactionalID(c.Mesh, c.Flow, c.Shard) }
