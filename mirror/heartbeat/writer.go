package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/geomesh/geomesh/internal/loop"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// WriterConfig configures a Writer. Defaults are applied by NewWriter in
// withDefaults.
type WriterConfig struct {
	// Client produces to the region's own cluster. Required; the Writer
	// does not close it. Its producer settings (acks, idempotence) apply.
	Client *kgo.Client

	// Region is the writer's region: the record key and Beat.Region.
	// Required.
	Region string

	// AgentID tells the agents of one region apart. Default: the
	// region followed by the process id.
	AgentID string

	// Interval between beats. Default 1 s: latency is measured with that
	// resolution, at a cost of one small record per second per region.
	Interval time.Duration

	// CreateTimeout bounds the creation of the topic, retried every
	// interval until it succeeds. Default 5 s.
	CreateTimeout time.Duration

	// Topic to write to. Default Topic (geomesh.heartbeats); tests
	// change it.
	Topic string

	// Logger receives failures. Default: discard.
	Logger *slog.Logger

	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

func (c WriterConfig) withDefaults() WriterConfig {
	if c.AgentID == "" {
		c.AgentID = c.Region + "-" + strconv.Itoa(os.Getpid())
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.CreateTimeout <= 0 {
		c.CreateTimeout = 5 * time.Second
	}
	if c.Topic == "" {
		c.Topic = Topic
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Writer appends a beat to its region's heartbeat topic every interval.
type Writer struct {
	cfg WriterConfig

	mu       sync.Mutex
	inFlight bool // a beat awaits its acknowledgement
	stats    WriterStats
}

// WriterStats is a snapshot of a Writer.
type WriterStats struct {
	// Sent counts acknowledged beats; Failed counts failed and skipped
	// beats and failed topic creations.
	Sent, Failed uint64
	// LastSeq is the sequence of the newest beat attempted.
	LastSeq uint64
	// LastError is the text of the latest failure, "" after a success.
	LastError string
}

// NewWriter returns a Writer. It does no I/O.
func NewWriter(cfg WriterConfig) *Writer {
	return &Writer{cfg: cfg.withDefaults()}
}

// Stats returns a snapshot; safe from any goroutine.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Run creates the topic if it is missing, then writes a beat at once and
// every interval until ctx ends, when it returns ctx's error. Failures
// are logged, counted and retried next interval; only a config without
// client or region stops Run early.
func (w *Writer) Run(ctx context.Context) error {
	if w.cfg.Client == nil || w.cfg.Region == "" {
		return errors.New("heartbeat writer: client and region are required")
	}
	topicReady := false
	var seq uint64
	loop.Every(ctx, w.cfg.Interval, func(ctx context.Context) {
		if !topicReady {
			if err := w.ensureTopic(ctx); err != nil {
				w.fail(fmt.Errorf("region %s topic %s: create: %w", w.cfg.Region, w.cfg.Topic, err))
				return
			}
			topicReady = true
		}
		// The sequence advances on failures too, so readers see a
		// failed beat as a gap.
		seq++
		w.write(ctx, seq)
	})
	return ctx.Err()
}

// write produces one beat without waiting for it. kgo does not give up a
// record once it is in a produce request (an idempotent producer cannot
// abandon a sequence number) and by default retries it forever, so a
// context cannot bound a produce. Instead at most one beat is in flight: a
// tick that finds the previous beat still pending is skipped and counted,
// which readers see as a gap, and beats never queue up behind a down
// cluster.
func (w *Writer) write(ctx context.Context, seq uint64) {
	w.mu.Lock()
	busy := w.inFlight
	if !busy {
		w.inFlight = true
	}
	w.stats.LastSeq = seq
	w.mu.Unlock()
	if busy {
		w.fail(fmt.Errorf("region %s topic %s: skip beat %d: previous beat not yet acknowledged", w.cfg.Region, w.cfg.Topic, seq))
		return
	}
	b := Beat{Region: w.cfg.Region, Agent: w.cfg.AgentID, Time: w.cfg.Now(), Seq: seq}
	rec := &kgo.Record{Topic: w.cfg.Topic, Key: []byte(w.cfg.Region), Value: Encode(b), Timestamp: b.Time}
	// ctx fails the record only while it waits in kgo's buffer, e.g.
	// when Run ends before the cluster answered.
	w.cfg.Client.Produce(ctx, rec, func(_ *kgo.Record, err error) {
		w.mu.Lock()
		w.inFlight = false
		if err == nil {
			w.stats.Sent++
			w.stats.LastError = ""
		}
		w.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			w.fail(fmt.Errorf("region %s topic %s: write beat %d: %w", w.cfg.Region, w.cfg.Topic, seq, err))
		}
	})
}

func (w *Writer) fail(err error) {
	w.cfg.Logger.Warn("heartbeat", "err", err)
	w.mu.Lock()
	w.stats.Failed++
	w.stats.LastError = err.Error()
	w.mu.Unlock()
}

// ensureTopic creates the heartbeat topic unless it exists.
func (w *Writer) ensureTopic(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.CreateTimeout)
	defer cancel()
	return CreateTopic(ctx, kadm.NewClient(w.cfg.Client), w.cfg.Topic, 1)
}

// CreateTopic creates a heartbeat topic (a region's own, or the copy of
// another region's) unless it exists: deleted after an hour, since only
// the latest beats matter. The writer uses one partition so that one
// region's beats stay ordered; a copy keeps its source's count.
func CreateTopic(ctx context.Context, adm *kadm.Client, name string, partitions int32) error {
	resp, err := adm.CreateTopic(ctx, partitions, -1, map[string]*string{
		"cleanup.policy": kadm.StringPtr("delete"),
		"retention.ms":   kadm.StringPtr(strconv.FormatInt(time.Hour.Milliseconds(), 10)),
	}, name)
	if err == nil {
		err = resp.Err
	}
	if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
		return nil
	}
	return fmt.Errorf("create heartbeat topic %s: %w", name, err)
}
