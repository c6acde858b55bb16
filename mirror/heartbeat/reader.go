package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ReaderConfig configures a Reader. Defaults are applied by NewReader.
type ReaderConfig struct {
	// NewClient makes the Reader's consumer of the cluster that holds the
	// copies, with the Reader's options appended. Required; the Reader
	// closes the client it made.
	NewClient func(opts ...kgo.Opt) (*kgo.Client, error)

	// Topics hold the copied beats: in a target region, the targets of
	// the heartbeat topics of every flow into it. A topic that does not
	// exist yet is read once it appears. Required.
	Topics []string

	// Tracker receives every beat read. Required.
	Tracker *Tracker

	// Backlog is how many records before each partition's end the Reader
	// starts at (default 64), so the age of every region is known within
	// one fetch of a start rather than one beat interval later, and a
	// region whose beats stopped before the start still has an age.
	Backlog int64

	// Logger receives failures. Default: discard.
	Logger *slog.Logger

	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

func (c ReaderConfig) withDefaults() ReaderConfig {
	if c.Backlog <= 0 {
		c.Backlog = 64
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Reader feeds the beats copied into a region's cluster to a Tracker.
// NewReader does no I/O; Run consumes until its context ends.
type Reader struct {
	cfg ReaderConfig
}

// NewReader checks the configuration; it does no I/O.
func NewReader(cfg ReaderConfig) (*Reader, error) {
	cfg = cfg.withDefaults()
	var errs []error
	if cfg.NewClient == nil {
		errs = append(errs, errors.New("heartbeat reader: no client factory"))
	}
	if len(cfg.Topics) == 0 {
		errs = append(errs, errors.New("heartbeat reader: no topics"))
	}
	if cfg.Tracker == nil {
		errs = append(errs, errors.New("heartbeat reader: no tracker"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Reader{cfg: cfg}, nil
}

// Run reads beats until ctx ends. It reads committed records only: the
// copies are written in transactions, and a beat of an aborted copy never
// reached the region.
func (r *Reader) Run(ctx context.Context) error {
	cl, err := r.cfg.NewClient(
		kgo.ConsumeTopics(r.cfg.Topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd().Relative(-r.cfg.Backlog)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// The heartbeat copies appear when a flow's first reconcile
		// creates them; look for them every second until then.
		kgo.MetadataMinAge(time.Second),
		kgo.MetadataMaxAge(5*time.Second),
	)
	if err != nil {
		return fmt.Errorf("heartbeat reader: %w", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) {
			r.cfg.Logger.Debug("heartbeat fetch failed", "topic", topic, "partition", p, "err", err)
		})
		now := r.cfg.Now()
		fs.EachRecord(func(rec *kgo.Record) {
			b, err := Decode(rec.Value)
			if err != nil {
				r.cfg.Logger.Warn("heartbeat skipped", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "err", err)
				return
			}
			r.cfg.Tracker.Observe(b, now)
		})
	}
}
