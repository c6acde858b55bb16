package topics

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Flow is what a Syncer needs of a topology flow. topology.Flow satisfies
// it; tests pass their own.
type Flow interface {
	// Selects reports whether the source topic is replicated by the flow.
	Selects(topic string) bool
	// TargetTopic names the copy of a source topic on the target.
	TargetTopic(source string) string
}

// DeletePolicy says what happens to a target topic whose source is gone.
type DeletePolicy string

const (
	// DeleteOff keeps the target topic and reports it as orphaned. It is
	// the default: after a failover the target's copy may be the only one
	// left, and deleting data is an operator's decision.
	DeleteOff DeletePolicy = "off"
	// DeleteFollow deletes a target topic this Syncer created once its
	// source has been missing for two consecutive passes.
	DeleteFollow DeletePolicy = "follow"
)

// Observer receives the report of every pass, for metrics. It is called
// on the goroutine that ran the pass, after the pass, never concurrently
// with itself for one Syncer; it must not block.
type Observer interface {
	ObservePass(r Report)
}

// Config configures a Syncer. The zero value of every field but Flow,
// Source and Target has a default, applied by New in withDefaults.
type Config struct {
	// Flow selects source topics and names their copies. Required.
	Flow Flow

	// SourceName and TargetName name the clusters (regions) in errors,
	// logs and reports. Defaults "source" and "target".
	SourceName, TargetName string

	// Source and Target are clients of the two clusters. Required. The
	// Syncer does not close them. Passes list the source with a metadata
	// request sent straight to one of its brokers, which kgo does not
	// copy into the client's metadata cache: at 10,000 partitions, once a
	// second, that copy was an eighth of an idle agent's CPU.
	Source, Target *kgo.Client

	// Interval is the pause between passes of Run. Default 1 s: a pass
	// costs one metadata request per cluster (and, every ConfigInterval,
	// one DescribeConfigs per cluster for all selected topics), cheap
	// enough that new topics and partitions reach the target within a few
	// seconds (MirrorMaker 2 polls every 600 s by default). Raise it for
	// meshes with tens of thousands of topics.
	Interval time.Duration

	// ConfigInterval is how often Run compares the configs of topics that
	// exist on both clusters; the passes between read configs only of
	// topics they create. Default 3 s, which keeps a config change within
	// the 5 s a new topic takes: at thousands of topics, reading every
	// config every second was a large part of an idle agent's CPU.
	// SyncOnce always compares them.
	ConfigInterval time.Duration

	// PassTimeout bounds one pass so that a hung cluster delays the next
	// pass instead of stopping the loop. Default 30 s.
	PassTimeout time.Duration

	// ReplicationFactor of topics the Syncer creates. 0 (default) means
	// min(source topic's RF, live target brokers); a positive value is
	// used as is.
	ReplicationFactor int16

	// DeletePolicy: DeleteOff (default) or DeleteFollow.
	DeletePolicy DeletePolicy

	// ExcludeConfigs are topic config keys never copied, in addition to
	// DefaultExclusions. An entry ending in "*" matches by prefix.
	ExcludeConfigs []string

	// Logger receives one line per change and per error. Default: discard.
	Logger *slog.Logger

	// Observer, if set, receives every pass's report.
	Observer Observer

	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

// DefaultExclusions are the topic config keys never copied; the package
// documentation gives the reason for each.
var DefaultExclusions = []string{
	"follower.replication.throttled.replicas",
	"leader.replication.throttled.replicas",
	"message.timestamp.type",
	"message.timestamp.difference.max.ms",
	"message.timestamp.before.max.ms",
	"message.timestamp.after.max.ms",
	minISRKey,
	"unclean.leader.election.enable",
	"confluent.*",
	"remote.storage.enable",
	"remote.log.*",
	"local.retention.*",
	"message.format.version",
	"message.downconversion.enable",
}

const minISRKey = "min.insync.replicas"

// withDefaults returns c with every default applied, in one place.
func (c Config) withDefaults() Config {
	if c.SourceName == "" {
		c.SourceName = "source"
	}
	if c.TargetName == "" {
		c.TargetName = "target"
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.ConfigInterval <= 0 {
		c.ConfigInterval = 3 * time.Second
	}
	if c.PassTimeout <= 0 {
		c.PassTimeout = 30 * time.Second
	}
	if c.DeletePolicy == "" {
		c.DeletePolicy = DeleteOff
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate reports every problem of a defaulted config at once.
func (c Config) validate() error {
	var errs []string
	if c.Flow == nil {
		errs = append(errs, "flow is required")
	}
	if c.Source == nil {
		errs = append(errs, "source client is required")
	}
	if c.Target == nil {
		errs = append(errs, "target client is required")
	}
	if c.ReplicationFactor < 0 {
		errs = append(errs, fmt.Sprintf("replication factor %d is negative", c.ReplicationFactor))
	}
	if c.DeletePolicy != DeleteOff && c.DeletePolicy != DeleteFollow {
		errs = append(errs, fmt.Sprintf("delete policy %q is not %q or %q", c.DeletePolicy, DeleteOff, DeleteFollow))
	}
	if len(errs) == 0 {
		return nil
	}
	msg := "topic sync " + c.SourceName + " -> " + c.TargetName + ": "
	for i, e := range errs {
		if i > 0 {
			msg += "; "
		}
		msg += e
	}
	return fmt.Errorf("%s", msg)
}

// The topology's flows are what the agent passes.
var _ Flow = topology.Flow{}
