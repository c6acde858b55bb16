package offsets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/geomesh/geomesh/mirror"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// progressView tails mirror.ProgressTopic of a target cluster and answers
// with the latest committed progress once it has read everything committed
// before the question was asked.
type progressView struct {
	cluster   string
	newClient mirror.ClientFactory
	adm       *kadm.Client
	log       *slog.Logger

	// mu guards everything below.
	mu      sync.Mutex
	values  map[string]mirror.Progress // by progress key
	pos     map[int32]int64            // next offset to read, per partition of the topic
	changed chan struct{}              // closed and replaced after every poll
	err     error                      // the last poll's error, nil after a good poll
}

func newProgressView(cluster string, newClient mirror.ClientFactory, adm *kadm.Client, log *slog.Logger) *progressView {
	return &progressView{
		cluster: cluster, newClient: newClient, adm: adm, log: log,
		values: map[string]mirror.Progress{}, pos: map[int32]int64{}, changed: make(chan struct{}),
	}
}

// run reads the topic until ctx ends. The topic may not exist yet (nothing
// was copied into this cluster); the client picks it up once it does.
func (v *progressView) run(ctx context.Context) error {
	cl, err := v.newClient(
		kgo.ConsumeTopics(mirror.ProgressTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Markers carry the position past the end of aborted records,
		// without which a reader would wait at them for ever.
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.MetadataMinAge(time.Second),
	)
	if err != nil {
		return fmt.Errorf("cluster %s: progress reader: %w", v.cluster, err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		v.mu.Lock()
		v.err = nil
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, kerr.UnknownTopicOrPartition) {
				v.err = fmt.Errorf("cluster %s: read %s partition %d: %w", v.cluster, mirror.ProgressTopic, fe.Partition, fe.Err)
			}
		}
		fs.EachRecord(func(r *kgo.Record) {
			v.pos[r.Partition] = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			if r.Value == nil {
				delete(v.values, string(r.Key))
				return
			}
			p, err := mirror.DecodeProgress(r.Value)
			if err != nil {
				v.log.Warn("ignoring unreadable progress record", "cluster", v.cluster, "key", string(r.Key), "offset", r.Offset, "err", err)
				return
			}
			v.values[string(r.Key)] = p
		})
		close(v.changed)
		v.changed = make(chan struct{})
		v.mu.Unlock()
	}
}

// sync waits until the view holds everything committed to the topic before
// the call, and returns the progress of the given keys (absent keys have
// none). It reads to the high watermark, not the last stable offset, so
// that it also waits for transactions open at the call.
func (v *progressView) sync(ctx context.Context, keys []string) (map[string]mirror.Progress, error) {
	ends, err := v.adm.ListEndOffsets(ctx, mirror.ProgressTopic)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: end offsets of %s: %w", v.cluster, mirror.ProgressTopic, err)
	}
	starts, err := v.adm.ListStartOffsets(ctx, mirror.ProgressTopic)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: start offsets of %s: %w", v.cluster, mirror.ProgressTopic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); o.Err == nil && ok && s.Err == nil && o.Offset > s.Offset {
			want[o.Partition] = o.Offset
		}
	})
	for {
		v.mu.Lock()
		caughtUp := true
		for p, end := range want {
			if v.pos[p] < end {
				caughtUp = false
			}
		}
		if caughtUp {
			out := make(map[string]mirror.Progress, len(keys))
			for _, k := range keys {
				if p, ok := v.values[k]; ok {
					out[k] = p
				}
			}
			v.mu.Unlock()
			return out, nil
		}
		changed, lastErr := v.changed, v.err
		v.mu.Unlock()
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return nil, lastErr
			}
			return nil, fmt.Errorf("cluster %s: reading %s to offsets %v: %w", v.cluster, mirror.ProgressTopic, want, ctx.Err())
		case <-changed:
		}
	}
}
