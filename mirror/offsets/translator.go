package offsets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config configures a Translator. Zero values take the defaults named on
// each field; withDefaults applies them in one place.
type Config struct {
	// Flow is the copy whose offsets are translated: from its source
	// region's cluster to its target's. Required.
	Flow topology.Flow

	// Source and Target are clients of the flow's two clusters, shared
	// with their owner and never closed by the Translator. Source answers
	// group offsets and log start offsets; Target answers metadata, end
	// offsets and the single fetches of the search. Required.
	Source, Target *kgo.Client

	// NewTargetClient builds the consumer that tails mirror.ProgressTopic
	// in the target cluster. Required.
	NewTargetClient mirror.ClientFactory

	// StableWait bounds how long a translation waits for another writer's
	// open transaction on a target partition to end when it hides the copy
	// the answer may be (ErrUnstable). Default 5s.
	StableWait time.Duration

	// Parallel is how many partitions are searched at once. Default 8.
	Parallel int

	// Logger receives warnings. Default: slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.StableWait <= 0 {
		c.StableWait = 5 * time.Second
	}
	if c.Parallel <= 0 {
		c.Parallel = 8
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Request is a committed source group offset of one partition.
type Request struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Translation is one partition of a translated group (api.Translation,
// served by GET /v1/translate).
type Translation = api.Translation

// Translator translates group offsets of one flow. New does no I/O; Start
// begins tailing the progress topic; Translate may then be called from any
// goroutine.
type Translator struct {
	cfg    Config
	flow   atomic.Pointer[topology.Flow] // cfg.Flow, then each SetFlow
	srcAdm *kadm.Client
	dstAdm *kadm.Client
	prog   *progressView

	mu    sync.Mutex
	hints map[mirror.Partition]*Hints // by target partition

	stop context.CancelFunc
	done chan struct{}
}

// NewTranslator returns a Translator; it does no I/O.
func NewTranslator(cfg Config) *Translator {
	cfg = cfg.withDefaults()
	// Every log line of the translator and its syncer names the flow.
	cfg.Logger = cfg.Logger.With("flow", cfg.Flow.Source+"->"+cfg.Flow.Target)
	t := &Translator{
		cfg:    cfg,
		srcAdm: kadm.NewClient(cfg.Source),
		dstAdm: kadm.NewClient(cfg.Target),
		hints:  map[mirror.Partition]*Hints{},
	}
	t.flow.Store(&cfg.Flow)
	t.prog = newProgressView(cfg.Flow.Target, cfg.NewTargetClient, t.dstAdm, cfg.Logger)
	return t
}

// Start tails the target's progress topic in a goroutine that runs until
// Close or until ctx ends.
func (t *Translator) Start(ctx context.Context) {
	ctx, t.stop = context.WithCancel(ctx)
	t.done = make(chan struct{})
	go func() {
		defer close(t.done)
		if err := t.prog.run(ctx); err != nil {
			t.cfg.Logger.Error("progress reader stopped", "cluster", t.Flow().Target, "err", err)
		}
	}()
}

// Close stops the progress reader and waits for it. Idempotent.
func (t *Translator) Close() {
	if t.stop != nil {
		t.stop()
		<-t.done
	}
}

// Flow is the flow the Translator serves.
func (t *Translator) Flow() topology.Flow { return *t.flow.Load() }

// SetFlow hands the Translator a new version of its flow (the same
// route, other selections): a new topology version the agent adopts.
// Calls from then on use it.
func (t *Translator) SetFlow(f topology.Flow) { t.flow.Store(&f) }

// GroupOffsets returns the group's committed offsets on the source, for
// the topics the flow copies, sorted by topic and partition.
func (t *Translator) GroupOffsets(ctx context.Context, group string) ([]Request, error) {
	resps, err := t.srcAdm.FetchOffsets(ctx, group)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %s: offsets of group %s: %w", t.Flow().Source, group, err)
	}
	var out []Request
	resps.Each(func(o kadm.OffsetResponse) {
		if t.Flow().Selects(o.Topic) && o.At >= 0 {
			out = append(out, Request{Topic: o.Topic, Partition: o.Partition, Offset: o.At})
		}
	})
	sortRequests(out)
	return out, nil
}

func sortRequests(rs []Request) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Topic != rs[j].Topic {
			return rs[i].Topic < rs[j].Topic
		}
		return rs[i].Partition < rs[j].Partition
	})
}

// TranslateGroup translates the group's committed source offsets.
func (t *Translator) TranslateGroup(ctx context.Context, group string) ([]Translation, error) {
	reqs, err := t.GroupOffsets(ctx, group)
	if err != nil {
		return nil, err
	}
	return t.Translate(ctx, reqs)
}

// partInfo is what one translation round knows about a target partition.
type partInfo struct {
	topicID     [16]byte
	leader      int32
	start, end  int64
	sourceStart int64
}

// Translate translates source offsets into target offsets. An error means
// a cluster could not be asked at all; a partition that cannot be
// translated gets its own Translation.Error.
func (t *Translator) Translate(ctx context.Context, reqs []Request) ([]Translation, error) {
	out := make([]Translation, len(reqs))
	if len(reqs) == 0 {
		return out, nil
	}
	f := t.Flow()
	var srcTopics, dstTopics []string
	seen := map[string]bool{}
	for _, r := range reqs {
		if !seen[r.Topic] {
			seen[r.Topic] = true
			srcTopics = append(srcTopics, r.Topic)
			dstTopics = append(dstTopics, f.TargetTopic(r.Topic))
		}
	}
	// The order matters: the target's ends before the progress, so that
	// every copy committed below an end is counted in the progress.
	info, err := t.targetInfo(ctx, dstTopics)
	if err != nil {
		return nil, err
	}
	sourceStarts, err := t.srcAdm.ListStartOffsets(ctx, srcTopics...)
	if err != nil {
		// Only empty and never copied partitions need it; the others
		// translate without the source.
		t.cfg.Logger.Warn("cannot read source log start offsets", "cluster", f.Source, "err", err)
	}
	keys := make([]string, len(reqs))
	for i, r := range reqs {
		keys[i] = mirror.ProgressKey(f.Source, r.Topic, r.Partition)
	}
	progress, err := t.prog.sync(ctx, keys)
	if err != nil {
		return nil, err
	}
	// And the high watermarks after the progress (Query.TargetHigh).
	highs, err := t.dstAdm.ListEndOffsets(ctx, dstTopics...)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: end offsets of %v: %w", f.Target, dstTopics, err)
	}

	sem := make(chan struct{}, t.cfg.Parallel)
	var wg sync.WaitGroup
	for i, r := range reqs {
		tt := f.TargetTopic(r.Topic)
		out[i] = Translation{Topic: r.Topic, Partition: r.Partition, SourceOffset: r.Offset, TargetTopic: tt, TargetOffset: -1, OriginOffset: -1}
		pi, ok := info[mirror.Partition{Topic: tt, Partition: r.Partition}]
		if !ok {
			out[i].Error = fmt.Sprintf("cluster %s: topic %s has no partition %d", f.Target, tt, r.Partition)
			continue
		}
		pi.sourceStart = -1
		if o, ok := sourceStarts.Lookup(r.Topic, r.Partition); ok && o.Err == nil {
			pi.sourceStart = o.Offset
		}
		q := Query{Group: r.Offset, SourceStart: pi.sourceStart, TargetStart: pi.start, TargetEnd: pi.end, TargetHigh: listed(highs, tt, r.Partition)}
		q = withProgress(q, progress, keys[i])
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := t.translate(ctx, r, tt, keys[i], pi, q)
			if err != nil {
				out[i].Error = err.Error()
				return
			}
			out[i].TargetOffset, out[i].State, out[i].OriginOffset = res.Offset, res.State, res.Origin
		}()
	}
	wg.Wait()
	return out, ctx.Err()
}

func withProgress(q Query, progress map[string]mirror.Progress, key string) Query {
	p, ok := progress[key]
	q.HasProgress, q.Next, q.LastSource, q.LastTarget = ok, p.Next, p.LastSource, p.LastTarget
	return q
}

// listed is a partition's offset in a listing, -1 if absent or failed.
func listed(l kadm.ListedOffsets, topic string, partition int32) int64 {
	if o, ok := l.Lookup(topic, partition); ok && o.Err == nil {
		return o.Offset
	}
	return -1
}

// translate runs the search for one partition, waiting out ErrUnstable.
func (t *Translator) translate(ctx context.Context, r Request, targetTopic, key string, pi partInfo, q Query) (Result, error) {
	f := t.Flow()
	tp := mirror.Partition{Topic: targetTopic, Partition: r.Partition}
	rd := &partitionReader{
		cl: t.cfg.Target, cluster: f.Target, topic: targetTopic, topicID: pi.topicID, partition: r.Partition, leader: pi.leader,
		originRegion: f.Source, originTopic: r.Topic, originPartition: strconv.AppendInt(nil, int64(r.Partition), 10),
		bufFrom: -1, bufNext: -1,
		relocate: func(ctx context.Context) (int32, error) {
			info, err := t.targetInfo(ctx, []string{targetTopic})
			if err != nil {
				return -1, err
			}
			return info[tp].leader, nil
		},
	}
	if err := t.checkOrigin(ctx, rd, q); err != nil {
		return Result{}, err
	}
	hints := t.hintsFor(tp)
	deadline := time.Now().Add(t.cfg.StableWait)
	for {
		res, err := Translate(ctx, rd, q, hints)
		if !errors.Is(err, ErrUnstable) || time.Now().After(deadline) {
			if err != nil {
				return Result{}, fmt.Errorf("cluster %s: topic %s partition %d: %w", f.Target, targetTopic, r.Partition, err)
			}
			return res, nil
		}
		select {
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		// All three again, in the order Query requires: a later end with
		// the earlier progress could put End past copies made in between.
		ends, err := t.dstAdm.ListCommittedOffsets(ctx, targetTopic)
		if err != nil {
			return Result{}, fmt.Errorf("cluster %s: last stable offsets of %s: %w", f.Target, targetTopic, err)
		}
		if o := listed(ends, targetTopic, r.Partition); o >= 0 {
			q.TargetEnd = o
		}
		progress, err := t.prog.sync(ctx, []string{key})
		if err != nil {
			return Result{}, err
		}
		q = withProgress(q, progress, key)
		highs, err := t.dstAdm.ListEndOffsets(ctx, targetTopic)
		if err != nil {
			return Result{}, fmt.Errorf("cluster %s: end offsets of %s: %w", f.Target, targetTopic, err)
		}
		q.TargetHigh = listed(highs, targetTopic, r.Partition)
	}
}

// checkOrigin refuses partitions whose copies name another origin than the
// flow's source. Hub-spoke flows forward copies (the standby hub gets the
// spokes' aggregated topics): their provenance headers keep the first
// region's offsets, which say nothing about offsets in this flow's source.
// A replicate flow never forwards a copy, so it needs no check.
func (t *Translator) checkOrigin(ctx context.Context, rd *partitionReader, q Query) error {
	if t.Flow().Kind == topology.FlowReplicate || !q.HasProgress || q.LastTarget < 0 || q.LastTarget >= q.TargetEnd || q.LastTarget < q.TargetStart {
		return nil
	}
	r, ok, err := rd.ReadAt(ctx, q.LastTarget)
	if err != nil || !ok || r.Offset != q.LastTarget {
		return err // compacted away on the target: nothing to learn from it
	}
	if !r.Copy {
		return fmt.Errorf("cluster %s: topic %s partition %d holds copies forwarded from another region; translating across two hops is not supported", t.Flow().Target, rd.topic, rd.partition)
	}
	return nil
}

func (t *Translator) hintsFor(tp mirror.Partition) *Hints {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.hints[tp]
	if h == nil {
		h = &Hints{}
		t.hints[tp] = h
	}
	return h
}

// targetInfo reads topic ids, leaders, log starts and last stable offsets
// of target topics; partitions of missing topics are absent.
func (t *Translator) targetInfo(ctx context.Context, topics []string) (map[mirror.Partition]partInfo, error) {
	dst := t.Flow().Target
	md, err := t.dstAdm.Metadata(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: metadata of %v: %w", dst, topics, err)
	}
	ends, err := t.dstAdm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: last stable offsets of %v: %w", dst, topics, err)
	}
	starts, err := t.dstAdm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: start offsets of %v: %w", dst, topics, err)
	}
	out := map[mirror.Partition]partInfo{}
	for _, td := range md.Topics {
		if td.Err != nil {
			continue
		}
		for _, pd := range td.Partitions {
			e, ok1 := ends.Lookup(td.Topic, pd.Partition)
			s, ok2 := starts.Lookup(td.Topic, pd.Partition)
			if !ok1 || !ok2 || e.Err != nil || s.Err != nil {
				continue
			}
			out[mirror.Partition{Topic: td.Topic, Partition: pd.Partition}] = partInfo{
				topicID: td.ID, leader: pd.Leader, start: s.Offset, end: e.Offset,
			}
		}
	}
	return out, nil
}
