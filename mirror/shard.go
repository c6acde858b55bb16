package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrFenced is wrapped by the error Run returns when another process took
// over the shard's transactional id. The shard must not run again unless
// whoever assigns shards gives it back.
var ErrFenced = errors.New("fenced by a newer owner of the transactional id")

// errRestart ends a session so that the next one picks up a changed
// partition set, a resumed partition or a raised target limit.
var errRestart = errors.New("session restart")

// Shard copies a set of source partitions to the target cluster of a flow.
//
// A shard works in sessions. A session builds its clients, fences any
// previous owner (InitProducerID), reads the committed progress and copies
// until something makes it end. A failure other than fencing ends the
// session too: its transaction is aborted and the next session, after a
// backoff, resumes from the committed progress, which rewinds the copy to
// exactly what the target holds. Changing the partitions (SetPartitions)
// or resuming a paused partition also starts a new session, after the open
// transaction commits; that costs a reconnect and a progress read, and
// keeps the copy loop free of reassignment logic.
type Shard struct {
	cfg   ShardConfig
	txnID string
	eos   bool

	limits topicLimits

	// mu guards everything below. It is never held while calling into
	// franz-go. Lock order: mu before limits.mu; session.pmu is never
	// held together with either.
	mu       sync.Mutex
	parts    []Partition
	gen      uint64 // bumped to end the current session
	paused   map[Partition]*pauseState
	poisoned map[Partition]int64 // offset the target refused when sent alone
	probe    map[Partition]int64 // copy one record per transaction up to this offset
	prog     map[Partition]*partStatus
	// seen is the strongest codec of the source batches fetched so far;
	// under compression: source it is the codec of the next session's
	// copies. It only grows, so sessions never flip between codecs.
	seen      codec
	known     bool   // seen holds the codec of at least one data batch
	codec     codec  // of the current session's copies
	stats     Status // counters only
	state     string
	lastErr   string
	lastClass string
	wake      context.CancelFunc // cancels the poll in progress
	stop      context.CancelFunc // cancels Run
	running   chan struct{}      // closed when Run returns
	closed    bool
}

// NewShard returns a shard; it does no I/O. Configuration errors surface
// from Run.
func NewShard(cfg ShardConfig) *Shard {
	cfg = cfg.withDefaults()
	return &Shard{
		cfg:      cfg,
		txnID:    TransactionalID(cfg.Mesh, cfg.Flow, cfg.Shard),
		eos:      cfg.Mode == topology.ReplicationExactlyOnce,
		parts:    slices.Clone(cfg.Partitions),
		paused:   make(map[Partition]*pauseState),
		poisoned: make(map[Partition]int64),
		probe:    make(map[Partition]int64),
		prog:     make(map[Partition]*partStatus),
		state:    "starting",
	}
}

// SetPartitions replaces the partitions the shard copies. The current
// transaction commits first; then a new session starts with the new set.
// A partition that leaves the set forgets its paused state.
func (s *Shard) SetPartitions(parts []Partition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parts = slices.Clone(parts)
	keep := make(map[Partition]bool, len(parts))
	for _, p := range parts {
		keep[p] = true
	}
	for p := range s.paused {
		if !keep[p] {
			delete(s.paused, p)
			delete(s.poisoned, p)
			delete(s.probe, p)
		}
	}
	for p := range s.prog {
		if !keep[p] {
			delete(s.prog, p)
		}
	}
	s.restartLocked()
}

// Resume restarts a paused partition at the record it stopped at. It reports
// whether the partition was paused. If the target still refuses the record,
// the partition pauses again.
func (s *Shard) Resume(topic string, partition int32) bool {
	p := Partition{Topic: topic, Partition: partition}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.paused[p]; !ok {
		return false
	}
	delete(s.paused, p)
	delete(s.poisoned, p)
	s.restartLocked()
	return true
}

func (s *Shard) restartLocked() {
	s.gen++
	if s.wake != nil {
		s.wake()
	}
}

// Close stops Run, aborting the open transaction, and waits for it to
// return. It is idempotent and safe to call before or without Run.
func (s *Shard) Close() {
	s.mu.Lock()
	s.closed = true
	stop, running := s.stop, s.running
	s.mu.Unlock()
	if stop != nil {
		stop()
		<-running
	}
}

// Run copies until ctx ends, Close is called, or the shard is fenced. It
// returns nil when stopped, an error wrapping ErrFenced when fenced, and a
// configuration error at once. Every other failure is retried with backoff.
// Run must not be called twice; after Close it returns nil at once.
func (s *Shard) Run(ctx context.Context) error {
	if err := s.cfg.validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.closed || s.running != nil {
		s.mu.Unlock()
		return nil
	}
	s.stop, s.running = cancel, make(chan struct{})
	defer close(s.running)
	s.mu.Unlock()

	backoff := 100 * time.Millisecond
	for {
		committed, err := s.session(ctx)
		switch {
		case ctx.Err() != nil:
			s.setState("stopped", nil)
			return nil
		case errors.Is(err, ErrFenced):
			s.setState("fenced", err)
			if s.cfg.Metrics != nil {
				s.cfg.Metrics.SessionFailed(ClassFenced)
			}
			s.cfg.Logger.Error("mirror shard fenced", "shard", s.txnID, "err", err)
			return err
		case errors.Is(err, errRestart):
			backoff = 100 * time.Millisecond
			continue
		}
		if committed {
			backoff = 100 * time.Millisecond
		}
		class := ErrorClass(err)
		s.setState("backoff", err)
		if s.cfg.Metrics != nil {
			s.cfg.Metrics.SessionFailed(class)
		}
		s.cfg.Logger.Warn("mirror shard session failed, retrying", "shard", s.txnID, "class", class, "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
			s.setState("stopped", nil)
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.cfg.RetryInterval)
	}
}

func (s *Shard) setState(state string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = state
	if err != nil {
		s.lastErr, s.lastClass = err.Error(), ErrorClass(err)
	}
}

// isFenced tells fencing apart from transaction failures a new session can
// recover from. A missing permission on the transactional id is not
// fencing: the shard keeps retrying until an operator grants it.
func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) ||
		errors.Is(err, kerr.InvalidProducerEpoch)
}

func (s *Shard) fenced(err error) error {
	return fmt.Errorf("mirror shard %s, cluster %s: %w: %w", s.txnID, s.cfg.Flow.Target, ErrFenced, err)
}

// partState is a partition's copy state within a session.
type partState struct {
	src      Partition
	target   string
	key      []byte
	progPart int32
	paused   bool

	committed Progress
	pending   Progress
	touched   bool  // pending differs from committed
	copies    int   // copies in the open transaction
	firstCopy int64 // source offsets of the first and last of them
	lastCopy  int64
	produced  error // first produce error of the open transaction
	oldestTS  int64
}

// session is one run of a shard's clients.
type session struct {
	s     *Shard
	cfg   *ShardConfig
	log   *slog.Logger
	gen   uint64
	src   *kgo.Client
	dst   *kgo.Client
	dstAd *kadm.Client
	srcAd *kadm.Client

	parts     map[Partition]*partState
	byTarget  map[Partition]*partState
	nprogress int // partitions of ProgressTopic
	dlqParts  int32

	// the open transaction
	inTxn    bool
	began    time.Time
	records  int
	bytes    int
	filtered int
	dlq      int
	arena    arena
	recs     []kgo.Record
	nrecs    int
	valBuf   []byte
	promise  func(*kgo.Record, error)
	pmu      sync.Mutex // guards what promises write: partState.pending.LastTarget, produced, failed
	failed   error

	// codec is what this session's copies are written with; follow says
	// that a stronger codec seen in the source ends the session so that
	// the next one writes with it.
	codec   codec
	follow  bool
	upgrade bool // a stronger codec was seen in the open transaction
	// probe is a first session that does not know the source's codec
	// yet: it fetches one batch and learns the codec from it, then
	// reopens its consumer with full fetch limits (or restarts when the
	// codec is stronger than the one it writes with), so that at most
	// that batch crosses the link twice, not a full fetch of every
	// partition.
	probe   bool
	consume map[string]map[int32]kgo.Offset // where the consumer starts

	committedAny bool
	lastRetry    time.Time
	lastFetchErr string
}

// session runs one session; committed reports whether it committed
// anything, which resets the backoff.
func (s *Shard) session(ctx context.Context) (committed bool, err error) {
	ss := &session{s: s, cfg: &s.cfg, log: s.cfg.Logger.With("shard", s.txnID)}
	ss.promise = ss.onProduced
	defer func() { committed = ss.committedAny }()
	defer ss.close()
	return false, ss.run(ctx)
}

func (ss *session) close() {
	if ss.src != nil {
		ss.src.Close()
	}
	if ss.dst != nil {
		ss.dst.Close()
	}
}

func (ss *session) run(ctx context.Context) error {
	s, cfg := ss.s, ss.cfg
	s.mu.Lock()
	ss.gen = s.gen
	parts := slices.Clone(s.parts)
	paused := make(map[Partition]bool, len(s.paused))
	for p := range s.paused {
		paused[p] = true
	}
	s.state = "starting"
	s.mu.Unlock()

	src, dst := cfg.Flow.Source, cfg.Flow.Target
	s.mu.Lock()
	ss.codec, ss.follow = copyCodec(cfg.Flow.Compression, s.seen)
	ss.probe = ss.follow && !s.known
	s.codec = ss.codec
	s.mu.Unlock()
	opts := []kgo.Opt{
		// Copies are compressed as their source is (or as the flow says):
		// uncompressed copies of compressible records would take several
		// times the source's bytes on the target's disk and on every
		// link behind it. A franz-go producer compresses a whole batch with
		// one codec; a shard whose sources use several picks the
		// strongest (copyCodec).
		kgo.ProducerBatchCompression(ss.codec.producerCodec()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytesFn(s.limits.batchMax),
		kgo.MaxBufferedRecords(max(50_000, 2*cfg.MaxRecords)),
		// No RecordDeliveryTimeout: franz-go measures it from the record's
		// timestamp, which for a copy is the source's, possibly days
		// old. flush bounds the wait instead.
	}
	if s.eos {
		opts = append(opts, kgo.TransactionalID(s.txnID))
	}
	var err error
	if ss.dst, err = cfg.Target(opts...); err != nil {
		return fmt.Errorf("cluster %s: producer: %w", dst, err)
	}
	ss.dstAd = kadm.NewClient(ss.dst)
	if s.eos {
		// InitProducerID aborts the previous owner's open transaction and
		// fences it, so the progress read below is final.
		if _, _, err := ss.dst.ProducerID(ctx); err != nil {
			if isFenced(err) {
				return s.fenced(err)
			}
			return fmt.Errorf("cluster %s: init producer id %s: %w", dst, s.txnID, err)
		}
	}
	if err := EnsureProgressTopic(ctx, ss.dstAd, dst); err != nil {
		return err
	}
	targets := []string{ProgressTopic}
	if cfg.OnError == topology.OnErrorDeadLetter {
		mmb := fmt.Sprint(deadLetterMaxBytes)
		if err := ensureTopic(ctx, ss.dstAd, dst, cfg.DeadLetterTopic, 1, map[string]*string{"max.message.bytes": &mmb}); err != nil {
			return err
		}
		targets = append(targets, cfg.DeadLetterTopic)
	}

	want := make(map[Partition]bool, len(parts))
	for _, p := range parts {
		want[p] = true
	}
	progress, nprog, err := readProgress(ctx, cfg.Target, ss.dstAd, dst, src, want, ss.log)
	if err != nil {
		return err
	}
	ss.nprogress = nprog

	ss.parts = make(map[Partition]*partState, len(parts))
	ss.byTarget = make(map[Partition]*partState, len(parts))
	consume := make(map[string]map[int32]kgo.Offset)
	s.mu.Lock()
	for _, p := range parts {
		ps := &partState{src: p, target: cfg.Flow.TargetTopic(p.Topic), oldestTS: -1}
		key := ProgressKey(src, p.Topic, p.Partition)
		ps.key, ps.progPart = []byte(key), progressPartition(key, nprog)
		ps.committed = noProgress(-1)
		if pr, ok := progress[p]; ok {
			ps.committed = pr
		}
		ps.pending = ps.committed
		ss.parts[p] = ps
		ss.byTarget[Partition{Topic: ps.target, Partition: p.Partition}] = ps
		if !slices.Contains(targets, ps.target) {
			targets = append(targets, ps.target)
		}
		st := s.prog[p]
		if st == nil {
			st = &partStatus{hwm: -1, logStart: -1}
			s.prog[p] = st
		}
		st.target, st.committed, st.oldestTS = ps.target, ps.committed, -1
		if paused[p] {
			ps.paused = true
			continue
		}
		if consume[p.Topic] == nil {
			consume[p.Topic] = make(map[int32]kgo.Offset)
		}
		if ps.committed.Next >= 0 {
			consume[p.Topic][p.Partition] = kgo.NewOffset().At(ps.committed.Next)
		} else {
			consume[p.Topic][p.Partition] = kgo.NewOffset().AtStart()
		}
	}
	s.mu.Unlock()
	moved, err := ss.resumeFromCopies(ctx, consume)
	if err != nil {
		return err
	}
	if moved > 0 {
		ss.log.Info("mirror shard: partitions start after the copies another flow made of their records", "partitions", moved)
	}

	if err := s.limits.load(ctx, ss.dstAd, dst, targets...); err != nil {
		return err
	}
	if cfg.OnError == topology.OnErrorDeadLetter {
		ti, _ := s.limits.get(cfg.DeadLetterTopic)
		ss.dlqParts = max(ti.partitions, 1)
	}

	ss.consume = consume
	if err := ss.openSource(); err != nil {
		return err
	}
	ss.log.Debug("mirror shard session started", "shard", s.txnID, "partitions", len(parts), "resumed_from_progress", len(progress), "paused", len(paused))
	s.setState("running", nil)
	ss.log.Info("mirror shard session started", "partitions", len(parts), "paused", len(paused), "progress_found", len(progress))

	for {
		if err := ss.control(ctx); err != nil {
			return err
		}
		if err := ss.batch(ctx); err != nil {
			return err
		}
	}
}

// openSource opens the session's consumer at the offsets of ss.consume,
// closing the one it replaces; a probing session fetches with one-byte
// limits.
func (ss *session) openSource() error {
	fetchPart, fetchMax := int32(4<<20), int32(16<<20)
	if ss.probe {
		// Kafka returns at least one batch however small the limits.
		fetchPart, fetchMax = 1, 1
	}
	src, err := ss.cfg.Source(
		kgo.ConsumePartitions(ss.consume),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers advance the progress too; without them a
		// caught-up partition whose last entry is a marker would show a
		// lag of one forever.
		kgo.KeepControlRecords(),
		// A source offset behind the log start means retention removed
		// records before they were copied; nothing else can be done
		// than to continue at the start.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// The broker answers a fetch as soon as any partition has
		// records, so the wait costs no latency; it is how often an idle
		// shard asks again about every one of its partitions
		// (idleFetchWait).
		kgo.FetchMaxWait(idleFetchWait),
		// Across a WAN a fetch costs a round trip: franz-go's 1 MiB per
		// partition caps a 100 ms link near 10 MiB/s per partition. Larger
		// fetches keep the pipe full at the price of buffer memory.
		kgo.FetchMaxPartitionBytes(fetchPart),
		kgo.FetchMaxBytes(fetchMax),
	)
	if err != nil {
		return fmt.Errorf("cluster %s: consumer: %w", ss.cfg.Flow.Source, err)
	}
	if ss.src != nil {
		ss.src.Close()
	}
	ss.src, ss.srcAd = src, kadm.NewClient(src)
	return nil
}

// control runs between transactions: it ends the session when the shard
// was changed, and retries paused partitions every RetryInterval.
func (ss *session) control(ctx context.Context) error {
	s := ss.s
	s.mu.Lock()
	changed := s.gen != ss.gen
	npaused := len(s.paused)
	s.mu.Unlock()
	if changed {
		return errRestart
	}
	if npaused == 0 || time.Since(ss.lastRetry) < ss.cfg.RetryInterval {
		return nil
	}
	ss.lastRetry = time.Now()
	return ss.retryPaused(ctx)
}

// retryPaused re-reads the limits of the target topics of paused
// partitions and resumes those the target can now take.
func (ss *session) retryPaused(ctx context.Context) error {
	s, dst := ss.s, ss.cfg.Flow.Target
	s.mu.Lock()
	var topics, srcTopics []string
	for p := range s.paused {
		if ps, ok := ss.parts[p]; ok && !slices.Contains(topics, ps.target) {
			topics = append(topics, ps.target)
		}
		if !slices.Contains(srcTopics, p.Topic) {
			srcTopics = append(srcTopics, p.Topic)
		}
	}
	s.mu.Unlock()
	if err := s.limits.load(ctx, ss.dstAd, dst, topics...); err != nil {
		ss.log.Warn("cannot re-read target limits for paused partitions", "err", err)
		return nil
	}
	// A paused partition is not fetched; its lag still belongs on the
	// status page.
	ends, err := ss.srcAd.ListEndOffsets(ctx, srcTopics...)
	if err != nil {
		ss.log.Warn("cannot read source end offsets for paused partitions", "cluster", ss.cfg.Flow.Source, "err", err)
	}
	resumed := false
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, pz := range s.paused {
		if o, ok := ends.Lookup(p.Topic, p.Partition); ok && o.Err == nil {
			if st := s.prog[p]; st != nil {
				st.hwm = o.Offset
			}
		}
		ps, ok := ss.parts[p]
		if !ok {
			continue
		}
		ti, _ := s.limits.get(ps.target)
		fits := ti.exists && p.Partition < ti.partitions && pz.size <= ti.maxBytes
		grew := ti.maxBytes > pz.info.maxBytes || ti.partitions > pz.info.partitions || (ti.exists && !pz.info.exists)
		if fits && grew {
			ss.log.Info("target can take the refused record now, resuming", "topic", p.Topic, "partition", p.Partition, "offset", pz.offset, "target_topic", ps.target, "max_message_bytes", ti.maxBytes)
			delete(s.paused, p)
			delete(s.poisoned, p)
			resumed = true
		}
	}
	if resumed {
		s.gen++
		return errRestart
	}
	return nil
}

// batch collects one transaction's worth of records and commits it.
func (ss *session) batch(ctx context.Context) error {
	cfg := ss.cfg
	n := 0
	commitNow := false
	for n < cfg.MaxRecords && !commitNow {
		timeout := cfg.RetryInterval
		if !ss.began.IsZero() {
			timeout = cfg.CommitInterval - time.Since(ss.began)
			if timeout <= 0 {
				break
			}
		}
		fs := ss.poll(ctx, timeout, cfg.MaxRecords-n)
		if err := ctx.Err(); err != nil {
			ss.abort(err)
			return err
		}
		ss.fetchErrors(fs)
		if ss.follow {
			switch ss.learnCodec(fs) {
			case codecReopen:
				// The probe found the codec this session writes with:
				// the consumer starts over with full fetch limits, and
				// nothing was copied from the probe's batch.
				ss.probe = false
				return ss.openSource()
			case codecEnd:
				if ss.began.IsZero() {
					// Nothing of this transaction is written yet: the
					// next session fetches these records again and
					// writes them with the stronger codec.
					return errRestart
				}
				ss.upgrade = true
			}
		}
		var err error
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if err == nil && fp.Err == nil {
				var now bool
				now, err = ss.partition(ctx, fp, &n)
				commitNow = commitNow || now
			}
		})
		if err != nil {
			return ss.abort(err)
		}
		if ss.began.IsZero() {
			break // idle: let control run
		}
		if n < eagerCommitBelow && (ss.src.BufferedFetchRecords() == 0 || time.Since(ss.began) >= eagerCommitAfter) {
			break // a low rate (eagerCommitBelow)
		}
		ss.s.mu.Lock()
		changed := ss.s.gen != ss.gen
		ss.s.mu.Unlock()
		if changed {
			break
		}
	}
	touched := false
	for _, ps := range ss.parts {
		touched = touched || ps.touched
	}
	if touched {
		if err := ss.commit(ctx); err != nil {
			return err
		}
	}
	if ss.upgrade {
		return errRestart
	}
	return nil
}

// codecStep is what a fetch's codecs ask of the session.
type codecStep int

const (
	codecKeep   codecStep = iota
	codecReopen           // a probe learned the codec the session writes with
	codecEnd              // the source carries a stronger codec than the session writes
)

// learnCodec records the codecs of fs's data batches for the shard's
// next sessions and says what this session must do.
func (ss *session) learnCodec(fs kgo.Fetches) codecStep {
	c, data := strongestIn(fs, ss.codec)
	if c == ss.codec && !(ss.probe && data) {
		return codecKeep
	}
	s := ss.s
	s.mu.Lock()
	s.seen, s.known = stronger(s.seen, c), true
	s.mu.Unlock()
	if c == ss.codec {
		return codecReopen
	}
	ss.log.Info("source batches are compressed with a stronger codec: the next session writes copies with it",
		"codec", c.String(), "was", ss.codec.String())
	return codecEnd
}

// poll fetches with a deadline that SetPartitions, Resume and Close can cut
// short.
func (ss *session) poll(ctx context.Context, timeout time.Duration, maxRecords int) kgo.Fetches {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ss.s.mu.Lock()
	if ss.s.gen != ss.gen {
		cancel()
	}
	ss.s.wake = cancel
	ss.s.mu.Unlock()
	fs := ss.src.PollRecords(pctx, maxRecords)
	ss.s.mu.Lock()
	ss.s.wake = nil
	ss.s.mu.Unlock()
	return fs
}

func (ss *session) fetchErrors(fs kgo.Fetches) {
	for _, fe := range fs.Errors() {
		if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, kgo.ErrClientClosed) {
			continue
		}
		// franz-go keeps retrying the partition; say it once, not on
		// every poll.
		msg := fmt.Sprintf("cluster %s: fetch topic %s partition %d: %v", ss.cfg.Flow.Source, fe.Topic, fe.Partition, fe.Err)
		if msg != ss.lastFetchErr {
			ss.lastFetchErr = msg
			ss.log.Warn("fetch failed", "err", msg)
		}
	}
}

// partition copies the records of one fetched partition into the open
// transaction. commitNow asks to end the transaction early.
func (ss *session) partition(ctx context.Context, fp kgo.FetchTopicPartition, n *int) (commitNow bool, err error) {
	ps := ss.parts[Partition{Topic: fp.Topic, Partition: fp.FetchPartition.Partition}]
	if ps == nil || ps.paused {
		return false, nil
	}
	s, cfg := ss.s, ss.cfg
	s.mu.Lock()
	probeTo, probing := s.probe[ps.src]
	poison, poisoned := s.poisoned[ps.src]
	if st := s.prog[ps.src]; st != nil {
		st.hwm, st.logStart = fp.HighWatermark, fp.LogStartOffset
		if ps.oldestTS < 0 && len(fp.Records) > 0 {
			ps.oldestTS = fp.Records[0].Timestamp.UnixMilli()
			st.oldestTS = ps.oldestTS
		}
	}
	s.mu.Unlock()

	for _, r := range fp.Records {
		if r.Offset < ps.pending.Next {
			continue // fetched before a SetOffsets rewound the partition
		}
		*n++
		if r.Attrs.IsControl() {
			ps.pending.Next, ps.touched = r.Offset+1, true
			continue
		}
		if probing && r.Offset <= probeTo && ps.copies > 0 {
			// One record per transaction until the range the target
			// refused as a batch is passed, so a refusal names its record.
			ss.src.SetOffsets(map[string]map[int32]kgo.EpochOffset{fp.Topic: {fp.FetchPartition.Partition: {Epoch: -1, Offset: r.Offset}}})
			return true, nil
		}
		if !Forward(cfg.Flow, r.Headers) {
			ss.filtered++
			ps.pending.Next, ps.touched = r.Offset+1, true
			continue
		}
		hdrs := ss.arena.copyHeaders(cfg.Flow, r)
		reason, size, info := ss.refusal(ps, r, hdrs, poisoned && poison == r.Offset)
		if reason != "" {
			if cfg.OnError == topology.OnErrorDeadLetter {
				if ok, err := ss.deadLetter(ctx, ps, r, reason); err != nil || ok {
					if ok {
						ps.pending.Next, ps.touched = r.Offset+1, true
					}
					if err != nil {
						return false, err
					}
					continue
				}
				reason += "; the record is also too large for dead-letter topic " + cfg.DeadLetterTopic
			}
			ss.pause(ps, r, reason, size, info)
			return false, nil
		}
		if err := ss.begin(); err != nil {
			return false, err
		}
		rec := ss.record()
		rec.Topic, rec.Partition = ps.target, r.Partition
		rec.Key, rec.Value, rec.Timestamp, rec.Headers = r.Key, r.Value, r.Timestamp, hdrs
		ss.dst.Produce(ctx, rec, ss.promise)
		if ps.copies == 0 {
			ps.firstCopy = r.Offset
		}
		ps.copies++
		ps.lastCopy = r.Offset
		ps.pending.Next, ps.pending.LastSource, ps.pending.LastTimestamp = r.Offset+1, r.Offset, r.Timestamp.UnixMilli()
		ps.touched = true
		ss.records++
		ss.bytes += len(r.Key) + len(r.Value)
	}
	return probing && ps.copies > 0, nil
}

// record hands out a kgo.Record from a slab that lives as long as the
// session, so that copying does not allocate a record per record.
func (ss *session) record() *kgo.Record {
	if ss.nrecs == len(ss.recs) {
		// Records handed out keep pointing into the old slab.
		ss.recs = make([]kgo.Record, max(256, 2*len(ss.recs)))
		ss.nrecs = 0
	}
	r := &ss.recs[ss.nrecs]
	ss.nrecs++
	return r
}

func (ss *session) begin() error {
	if ss.began.IsZero() {
		ss.began = time.Now()
	}
	if !ss.s.eos || ss.inTxn {
		return nil
	}
	if err := ss.dst.BeginTransaction(); err != nil {
		return fmt.Errorf("cluster %s: begin transaction %s: %w", ss.cfg.Flow.Target, ss.s.txnID, err)
	}
	ss.inTxn = true
	return nil
}

// refusal says why the target would refuse the copy of r, "" if it would
// not. poisoned marks a record the target refused alone although the
// limits said it fits.
func (ss *session) refusal(ps *partState, r *kgo.Record, hdrs []kgo.RecordHeader, poisoned bool) (reason string, size int, info topicInfo) {
	info, _ = ss.s.limits.get(ps.target)
	size = batchSize(r, hdrs)
	dst := ss.cfg.Flow.Target
	switch {
	case !info.exists:
		return fmt.Sprintf("cluster %s: target topic %s does not exist", dst, ps.target), size, info
	case r.Partition >= info.partitions:
		return fmt.Sprintf("cluster %s: target topic %s has %d partitions, none numbered %d", dst, ps.target, info.partitions, r.Partition), size, info
	case size > info.maxBytes:
		return fmt.Sprintf("cluster %s: record of %d bytes at offset %d exceeds max.message.bytes %d of target topic %s", dst, size, r.Offset, info.maxBytes, ps.target), size, info
	case poisoned:
		return fmt.Sprintf("cluster %s: target topic %s refused the record at offset %d: %v", dst, ps.target, r.Offset, kerr.MessageTooLarge), size, info
	}
	return "", size, info
}

// pause stops a partition at r: its earlier records still commit with the
// open transaction, and the progress stops at r.
func (ss *session) pause(ps *partState, r *kgo.Record, reason string, size int, info topicInfo) {
	ss.src.PauseFetchPartitions(map[string][]int32{ps.src.Topic: {ps.src.Partition}})
	ps.paused = true
	ss.s.mu.Lock()
	ss.s.paused[ps.src] = &pauseState{offset: r.Offset, timestamp: r.Timestamp, size: size, reason: reason, info: info}
	ss.s.mu.Unlock()
	ss.log.Error("target refuses a record, partition paused", "topic", ps.src.Topic, "partition", ps.src.Partition, "offset", r.Offset, "err", reason)
}

// Headers of a dead-lettered record, besides its own and its provenance.
const (
	HeaderDeadLetterError     = "geomesh-dead-letter-error"
	HeaderDeadLetterTopic     = "geomesh-dead-letter-topic"
	HeaderDeadLetterPartition = "geomesh-dead-letter-partition"
	HeaderDeadLetterOffset    = "geomesh-dead-letter-offset"
)

// deadLetter writes r to the dead-letter topic in the open transaction; ok
// is false when even that topic would refuse it.
func (ss *session) deadLetter(ctx context.Context, ps *partState, r *kgo.Record, reason string) (ok bool, err error) {
	cfg := ss.cfg
	hdrs := append(slices.Clone(r.Headers),
		kgo.RecordHeader{Key: HeaderDeadLetterError, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderDeadLetterTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderDeadLetterPartition, Value: fmt.Append(nil, r.Partition)},
		kgo.RecordHeader{Key: HeaderDeadLetterOffset, Value: fmt.Append(nil, r.Offset)},
	)
	if ti, _ := ss.s.limits.get(cfg.DeadLetterTopic); !ti.exists || batchSize(r, hdrs) > ti.maxBytes {
		return false, nil
	}
	if err := ss.begin(); err != nil {
		return false, err
	}
	rec := &kgo.Record{
		Topic: cfg.DeadLetterTopic, Partition: r.Partition % ss.dlqParts,
		Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Headers: hdrs,
	}
	ss.dst.Produce(ctx, rec, ss.promise)
	ss.dlq++
	ss.log.Warn("record sent to dead-letter topic", "topic", ps.src.Topic, "partition", ps.src.Partition, "offset", r.Offset, "dead_letter_topic", cfg.DeadLetterTopic, "reason", reason)
	return true, nil
}

// onProduced is the promise of every record the session produces; franz-go
// calls it serially.
func (ss *session) onProduced(r *kgo.Record, err error) {
	ss.pmu.Lock()
	defer ss.pmu.Unlock()
	ps := ss.byTarget[Partition{Topic: r.Topic, Partition: r.Partition}]
	if err != nil {
		if ss.failed == nil {
			ss.failed = fmt.Errorf("cluster %s: write topic %s partition %d: %w", ss.cfg.Flow.Target, r.Topic, r.Partition, err)
		}
		if ps != nil && ps.produced == nil {
			ps.produced = err
		}
		return
	}
	// Promises of a partition come in offset order: this is the last copy.
	// After the target topic was recreated it lies below the offset the
	// progress held, which offset translation must not keep taking for
	// the copy of LastSource.
	if ps != nil {
		ps.pending.LastTarget = r.Offset
	}
}

// flushTimeout bounds the wait for the target to acknowledge a
// transaction's records; past it the transaction aborts and is retried.
const flushTimeout = time.Minute

// flush waits for every produced record and returns the first failure.
func (ss *session) flush(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	if err := ss.dst.Flush(fctx); err != nil {
		return fmt.Errorf("cluster %s: waiting for acknowledgements: %w", ss.cfg.Flow.Target, err)
	}
	ss.pmu.Lock()
	defer ss.pmu.Unlock()
	return ss.failed
}

// commit writes the progress of the touched partitions after the copies are
// acknowledged (their target offsets go into it) and ends the transaction.
func (ss *session) commit(ctx context.Context) error {
	s, dst := ss.s, ss.cfg.Flow.Target
	if err := ss.begin(); err != nil {
		return ss.abort(err)
	}
	if err := ss.flush(ctx); err != nil {
		return ss.abort(err)
	}
	ss.valBuf = ss.valBuf[:0]
	for _, ps := range ss.parts {
		if !ps.touched {
			continue
		}
		start := len(ss.valBuf)
		ss.valBuf = ps.pending.AppendTo(ss.valBuf)
		rec := ss.record()
		rec.Topic, rec.Partition, rec.Key, rec.Value = ProgressTopic, ps.progPart, ps.key, ss.valBuf[start:len(ss.valBuf):len(ss.valBuf)]
		ss.dst.Produce(ctx, rec, ss.promise)
	}
	if err := ss.flush(ctx); err != nil {
		return ss.abort(err)
	}
	if s.eos {
		if err := ss.dst.EndTransaction(ctx, kgo.TryCommit); err != nil {
			ss.inTxn = false
			if isFenced(err) {
				return s.fenced(err)
			}
			// The outcome may be unknown; the next session's
			// InitProducerID settles it and its progress read sees
			// which.
			return ss.abort(fmt.Errorf("cluster %s: commit transaction %s: %w", dst, s.txnID, err))
		}
		ss.inTxn = false
	}

	var newest int64 = -1
	s.mu.Lock()
	for _, ps := range ss.parts {
		if !ps.touched {
			continue
		}
		ps.committed = ps.pending
		newest = max(newest, ps.committed.LastTimestamp)
		if st := s.prog[ps.src]; st != nil {
			st.committed, st.oldestTS = ps.committed, -1
		}
	}
	s.stats.Records += int64(ss.records)
	s.stats.Bytes += int64(ss.bytes)
	s.stats.Filtered += int64(ss.filtered)
	s.stats.DeadLettered += int64(ss.dlq)
	s.stats.Committed++
	s.stats.LastCommit = time.Now()
	s.lastErr = ""
	for p, to := range s.probe {
		if ps, ok := ss.parts[p]; ok && ps.committed.Next > to {
			delete(s.probe, p)
		}
	}
	s.mu.Unlock()
	ss.committedAny = true
	ss.report(true, newest)
	ss.reset()
	return nil
}

// abort ends the open transaction without committing anything and returns
// the error that ends the session; the next session resumes from the
// committed progress. A refusal of the target recorded on the way makes the
// next session copy the refusing partition one record at a time, so that
// the refused record is found and handled by the error policy.
func (ss *session) abort(cause error) error {
	s := ss.s
	if isFenced(cause) {
		return s.fenced(cause)
	}
	s.mu.Lock()
	for _, ps := range ss.parts {
		if !errors.Is(ps.produced, kerr.MessageTooLarge) && !errors.Is(ps.produced, kerr.RecordListTooLarge) {
			continue
		}
		if ps.copies == 1 {
			s.poisoned[ps.src] = ps.firstCopy
		} else {
			s.probe[ps.src] = ps.lastCopy
		}
	}
	// A shutdown between transactions has nothing to abort.
	open := ss.inTxn || !ss.began.IsZero()
	if open {
		s.stats.Aborted++
	}
	s.mu.Unlock()

	actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ss.dst.AbortBufferedRecords(actx); err != nil {
		ss.log.Warn("cannot abort buffered records", "err", err)
	}
	if s.eos && ss.inTxn {
		ss.inTxn = false
		if err := ss.dst.EndTransaction(actx, kgo.TryAbort); err != nil {
			if isFenced(err) {
				return s.fenced(err)
			}
			// Harmless: the next session's InitProducerID aborts it.
			ss.log.Warn("cannot abort transaction", "err", err)
		}
	}
	if open {
		ss.report(false, -1)
	}
	ss.reset()
	return cause
}

func (ss *session) report(committed bool, newest int64) {
	m := ss.cfg.Metrics
	if m == nil {
		return
	}
	b := BatchStats{
		Source: ss.cfg.Flow.Source, Target: ss.cfg.Flow.Target, Shard: ss.cfg.Shard,
		Committed: committed, Records: ss.records, Bytes: ss.bytes, Filtered: ss.filtered, DeadLettered: ss.dlq,
	}
	if !ss.began.IsZero() {
		b.Duration = time.Since(ss.began)
	}
	if newest >= 0 {
		b.Lag = time.Since(time.UnixMilli(newest))
	}
	m.Batch(b)
}

// reset readies the session for the next transaction. franz-go holds no
// record of the ended one any more, so the slabs can be reused.
func (ss *session) reset() {
	for _, ps := range ss.parts {
		ps.pending = ps.committed
		ps.touched, ps.copies, ps.produced, ps.oldestTS = false, 0, nil, -1
	}
	ss.began = time.Time{}
	ss.records, ss.bytes, ss.filtered, ss.dlq = 0, 0, 0, 0
	ss.failed = nil
	ss.arena.reset()
	clear(ss.recs[:ss.nrecs])
	ss.nrecs = 0
}
