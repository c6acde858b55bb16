package stranded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Suffix names the quarantine topic of a target topic: "<topic>.stranded".
const Suffix = ".stranded"

// DefaultMaxRecords caps the records settled in one transaction.
const DefaultMaxRecords = 10_000

// Config configures a settlement.
type Config struct {
	// Mesh is the mesh name; it is part of the transactional id. Required.
	Mesh string

	// Flow is the copy from the old primary (Source) to the new primary
	// (Target) that the failover stopped: its selection picks the topics,
	// its naming the target topics, its loop rule the records that count
	// (a record that came from the new primary is not stranded there).
	// Required.
	Flow topology.Flow

	// Policy is quarantine (the default), replay or drop.
	Policy topology.Stranded

	// Source and Target build clients of the old and of the new primary's
	// cluster. Required.
	Source, Target mirror.ClientFactory

	// MaxRecords caps the records of one transaction (default
	// DefaultMaxRecords), and so what an abort redoes.
	MaxRecords int

	// Logger receives progress logs; nil discards them.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Policy == "" {
		c.Policy = topology.StrandedQuarantine
	}
	if c.MaxRecords <= 0 {
		c.MaxRecords = DefaultMaxRecords
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
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
	if len(missing) > 0 {
		return fmt.Errorf("stranded records %s→%s: missing %v", c.Flow.Source, c.Flow.Target, missing)
	}
	switch c.Policy {
	case topology.StrandedQuarantine, topology.StrandedReplay, topology.StrandedDrop:
	default:
		return fmt.Errorf("stranded records %s→%s: unknown policy %q", c.Flow.Source, c.Flow.Target, c.Policy)
	}
	return nil
}

// TransactionalID is the id settlements of a flow write with: one per
// flow, so that two agents of the old primary settling at once fence
// each other instead of writing twice.
func TransactionalID(mesh string, f topology.Flow) string {
	return fmt.Sprintf("geomesh.%s.%s.%s.stranded", mesh, f.Source, f.Target)
}

// Report is what a settlement did. On an error it holds what committed
// before it.
type Report struct {
	Policy topology.Stranded `json:"policy"`
	// Records are the stranded records settled: copied to the quarantine
	// topics, replayed, or dropped.
	Records int64 `json:"records"`
	// Topics counts them by source topic.
	Topics map[string]int64 `json:"topics,omitempty"`
	// LostOffsets are offsets past the replicated position that retention
	// had removed from the old primary: nothing is left of them to settle.
	LostOffsets int64 `json:"lost_offsets,omitempty"`
}

// partRun is one stranded range being settled.
type partRun struct {
	Range
	dest      string          // target topic of the copies
	committed mirror.Progress // the flow's progress as last committed
	next      int64           // next source offset to settle
	records   int64           // settled in the open transaction
	dirty     bool            // progress to write in the open transaction
}

// Settle applies the policy to the records of the flow's source that the
// flow's committed progress on the target shows were never copied, and
// advances that progress past them in the same transaction as the
// copies. So a second call, or one after a crash, settles nothing twice,
// and when the flow runs again (after a failback) it does not copy them
// a second time.
//
// The flow's own shards must not be running: Settle writes their
// progress keys.
func Settle(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	rep := Report{Policy: cfg.Policy, Topics: map[string]int64{}}
	if err := cfg.validate(); err != nil {
		return rep, err
	}
	src, dst := cfg.Flow.Source, cfg.Flow.Target
	txnID := TransactionalID(cfg.Mesh, cfg.Flow)
	prod, err := cfg.Target(
		kgo.TransactionalID(txnID),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	)
	if err != nil {
		return rep, fmt.Errorf("cluster %s: producer: %w", dst, err)
	}
	defer prod.Close()
	// InitProducerID aborts an earlier settlement's open transaction and
	// fences it, so the progress read below is final.
	if _, _, err := prod.ProducerID(ctx); err != nil {
		return rep, fmt.Errorf("cluster %s: init producer id %s: %w", dst, txnID, err)
	}
	tadm := kadm.NewClient(prod)
	admCl, err := cfg.Source()
	if err != nil {
		return rep, fmt.Errorf("cluster %s: client: %w", src, err)
	}
	defer admCl.Close()
	sadm := kadm.NewClient(admCl)

	parts, err := sourcePartitions(ctx, sadm, cfg.Flow)
	if err != nil || len(parts) == 0 {
		return rep, err
	}
	var ids []mirror.Partition
	for _, p := range parts {
		ids = append(ids, p.Partition)
	}
	progress, nprog, err := mirror.ReadProgress(ctx, cfg.Target, tadm, dst, src, ids, cfg.Logger)
	if err != nil {
		return rep, err
	}
	for i := range parts {
		if pr, ok := progress[parts[i].Partition]; ok {
			parts[i].Replicated = pr.Next
		}
	}
	ranges, offsets := Plan(parts)
	if len(ranges) == 0 {
		return rep, nil
	}
	cfg.Logger.Info("settling stranded records", "source", src, "target", dst, "policy", cfg.Policy, "partitions", len(ranges), "offsets", offsets)

	runs := map[mirror.Partition]*partRun{}
	consume := map[string]map[int32]kgo.Offset{}
	ensured := map[string]bool{}
	for _, r := range ranges {
		rep.LostOffsets += r.Lost
		pr, ok := progress[r.Partition]
		if !ok {
			pr = mirror.Progress{Next: -1, LastSource: -1, LastTarget: -1, LastTimestamp: -1}
		}
		dest := cfg.Flow.TargetTopic(r.Topic)
		if cfg.Policy == topology.StrandedQuarantine {
			dest += Suffix
		}
		run := &partRun{Range: r, dest: dest, committed: pr, next: r.From, dirty: r.Lost > 0}
		runs[r.Partition] = run
		if r.To > r.From {
			if consume[r.Topic] == nil {
				consume[r.Topic] = map[int32]kgo.Offset{}
			}
			consume[r.Topic][r.Partition.Partition] = kgo.NewOffset().At(r.From)
			if cfg.Policy != topology.StrandedDrop && !ensured[dest] {
				if err := ensureTarget(ctx, sadm, tadm, src, dst, r.Topic, dest, cfg.Policy == topology.StrandedQuarantine); err != nil {
					return rep, err
				}
				ensured[dest] = true
			}
		}
	}
	s := &settlement{cfg: cfg, prod: prod, nprog: nprog, runs: runs, rep: &rep}
	if len(consume) == 0 {
		// Only lost offsets: record that they are settled.
		return rep, s.commit(ctx, nil)
	}
	cons, err := cfg.Source(
		kgo.ConsumePartitions(consume),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Markers carry the position past aborted records at the end of
		// a range, which would otherwise never be reached.
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return rep, fmt.Errorf("cluster %s: consumer: %w", src, err)
	}
	defer cons.Close()
	waitLogged := time.Now()
	for s.open() {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("stranded records %s→%s: %d of %d partitions settled: %w", src, dst, len(ranges)-s.openCount(), len(ranges), err)
		}
		for _, fe := range fs.Errors() {
			return rep, fmt.Errorf("cluster %s: read topic %s partition %d: %w", src, fe.Topic, fe.Partition, fe.Err)
		}
		var batch []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { batch = append(batch, r) })
		for len(batch) > 0 {
			n := min(len(batch), cfg.MaxRecords)
			if err := s.commit(ctx, batch[:n]); err != nil {
				return rep, err
			}
			batch = batch[n:]
		}
		if s.open() && time.Since(waitLogged) > 10*time.Second {
			// An open transaction of a producer that died with the region
			// holds read_committed back until the broker times it out.
			cfg.Logger.Info("still reading stranded records, waiting for open transactions to end", "cluster", src, "partitions", s.openCount())
			waitLogged = time.Now()
		}
	}
	cfg.Logger.Info("stranded records settled", "source", src, "target", dst, "policy", cfg.Policy, "records", rep.Records, "lost_offsets", rep.LostOffsets)
	return rep, nil
}

// settlement is the state of one Settle call past its planning.
type settlement struct {
	cfg   Config
	prod  *kgo.Client
	nprog int
	runs  map[mirror.Partition]*partRun
	rep   *Report
}

func (s *settlement) open() bool { return s.openCount() > 0 }

func (s *settlement) openCount() int {
	n := 0
	for _, r := range s.runs {
		if r.next < r.To {
			n++
		}
	}
	return n
}

// commit settles records (of one fetch, in offset order per partition) in
// one transaction with the progress of every partition they advance.
func (s *settlement) commit(ctx context.Context, records []*kgo.Record) error {
	cfg := s.cfg
	src, dst := cfg.Flow.Source, cfg.Flow.Target
	var copies []*kgo.Record
	copied := map[*kgo.Record]*partRun{}
	for _, r := range records {
		run := s.runs[mirror.Partition{Topic: r.Topic, Partition: r.Partition}]
		if run == nil || r.Offset < run.next || r.Offset >= run.To {
			continue
		}
		run.next, run.dirty = r.Offset+1, true
		if r.Attrs.IsControl() || !mirror.Forward(cfg.Flow, r.Headers) {
			continue
		}
		run.records++
		if cfg.Policy == topology.StrandedDrop {
			continue
		}
		c := &kgo.Record{
			Topic: run.dest, Partition: r.Partition,
			Key: r.Key, Value: r.Value, Timestamp: r.Timestamp,
			Headers: mirror.CopyHeaders(cfg.Flow, r),
		}
		copies = append(copies, c)
		copied[c] = run
	}
	if !slices.ContainsFunc(slices.Collect(maps.Values(s.runs)), func(r *partRun) bool { return r.dirty }) {
		return nil
	}
	if err := s.prod.BeginTransaction(); err != nil {
		return fmt.Errorf("cluster %s: begin transaction: %w", dst, err)
	}
	err := s.write(ctx, copies, copied)
	commit := err == nil
	if endErr := s.prod.EndTransaction(ctx, kgo.TransactionEndTry(commit)); endErr != nil && err == nil {
		err = fmt.Errorf("cluster %s: commit: %w", dst, endErr)
	}
	if err != nil {
		if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) {
			err = fmt.Errorf("%w (another agent settles %s→%s)", err, src, dst)
		}
		return err
	}
	for _, run := range s.runs {
		if run.dirty {
			run.committed.Next = max(run.next, run.committed.Next)
			s.rep.Records += run.records
			if run.records > 0 {
				s.rep.Topics[run.Topic] += run.records
			}
		}
		run.records, run.dirty = 0, false
	}
	return nil
}

// write produces the copies and then the progress of every partition
// advanced, inside the open transaction. A replayed copy sits in the live
// target topic like any copy, so it becomes the progress anchor that
// offset translation starts from; quarantined copies leave it alone.
func (s *settlement) write(ctx context.Context, copies []*kgo.Record, copied map[*kgo.Record]*partRun) error {
	cfg := s.cfg
	src, dst := cfg.Flow.Source, cfg.Flow.Target
	anchor := map[*partRun]mirror.Progress{}
	if len(copies) > 0 {
		// Results come in acknowledgement order, which is source order
		// only within a partition: the anchor is the latest copy.
		for _, pr := range s.prod.ProduceSync(ctx, copies...) {
			if pr.Err != nil {
				return fmt.Errorf("cluster %s: produce to topic %s partition %d: %w", dst, pr.Record.Topic, pr.Record.Partition, pr.Err)
			}
			run := copied[pr.Record]
			if a, ok := anchor[run]; cfg.Policy == topology.StrandedReplay && (!ok || pr.Record.Offset > a.LastTarget) {
				off, _ := strconv.ParseInt(headerValue(pr.Record, mirror.HeaderOriginOffset), 10, 64)
				anchor[run] = mirror.Progress{LastSource: off, LastTarget: pr.Record.Offset, LastTimestamp: pr.Record.Timestamp.UnixMilli()}
			}
		}
	}
	var marks []*kgo.Record
	for _, run := range s.runs {
		if !run.dirty {
			continue
		}
		p := run.committed
		p.Next = max(run.next, p.Next)
		if a, ok := anchor[run]; ok {
			p.LastSource, p.LastTarget, p.LastTimestamp = a.LastSource, a.LastTarget, a.LastTimestamp
		}
		key := mirror.ProgressKey(src, run.Topic, run.Partition.Partition)
		marks = append(marks, &kgo.Record{
			Topic: mirror.ProgressTopic, Partition: mirror.ProgressPartition(key, s.nprog),
			Key: []byte(key), Value: p.AppendTo(nil),
		})
	}
	if err := s.prod.ProduceSync(ctx, marks...).FirstErr(); err != nil {
		return fmt.Errorf("cluster %s: write progress to %s: %w", dst, mirror.ProgressTopic, err)
	}
	for run, a := range anchor {
		run.committed.LastSource, run.committed.LastTarget, run.committed.LastTimestamp = a.LastSource, a.LastTarget, a.LastTimestamp
	}
	return nil
}

func headerValue(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// sourcePartitions lists the partitions of the topics the flow selects on
// its source, with their log start and end offsets; Replicated is -1.
func sourcePartitions(ctx context.Context, adm *kadm.Client, f topology.Flow) ([]Partition, error) {
	listed, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: list topics: %w", f.Source, err)
	}
	var topics []string
	for _, t := range listed.Sorted() {
		if t.Err == nil && f.Selects(t.Topic) {
			topics = append(topics, t.Topic)
		}
	}
	if len(topics) == 0 {
		return nil, nil
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %s: log start offsets: %w", f.Source, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %s: end offsets: %w", f.Source, err)
	}
	var out []Partition
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		out = append(out, Partition{
			Partition: mirror.Partition{Topic: o.Topic, Partition: o.Partition},
			LogStart:  s.Offset, End: o.Offset, Replicated: -1,
		})
	})
	slices.SortFunc(out, func(a, b Partition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition.Partition - b.Partition.Partition)
	})
	return out, nil
}

// copiedConfigs are the source topic settings a target of settled copies
// takes over (when the source sets them), so that every record fits and
// keeps its timestamp's meaning.
var copiedConfigs = []string{"max.message.bytes", "message.timestamp.type"}

// ensureTarget creates dest on the target with the source topic's
// partition count and copiedConfigs unless it exists, and adds partitions
// it lacks. A quarantine topic keeps its records until an operator
// deletes them (retention.ms -1): they wait there for a human to judge.
func ensureTarget(ctx context.Context, sadm, tadm *kadm.Client, src, dst, topic, dest string, quarantine bool) error {
	td, err := sadm.ListTopics(ctx, topic)
	if err == nil {
		err = td.Error()
	}
	if err != nil {
		return fmt.Errorf("cluster %s: describe topic %s: %w", src, topic, err)
	}
	n := int32(len(td[topic].Partitions))
	rcs, err := sadm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return fmt.Errorf("cluster %s: describe configs of topic %s: %w", src, topic, err)
	}
	configs := map[string]*string{}
	for _, rc := range rcs {
		if rc.Err != nil {
			return fmt.Errorf("cluster %s: describe configs of topic %s: %w", src, topic, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig && slices.Contains(copiedConfigs, c.Key) && c.Value != nil {
				configs[c.Key] = c.Value
			}
		}
	}
	if quarantine {
		forever := "-1"
		configs["retention.ms"] = &forever
	}
	resp, err := tadm.CreateTopic(ctx, n, -1, configs, dest)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, kerr.TopicAlreadyExists):
		return fmt.Errorf("cluster %s: create topic %s: %w", dst, dest, err)
	}
	have, err := tadm.ListTopics(ctx, dest)
	if err == nil {
		err = have.Error()
	}
	if err != nil {
		return fmt.Errorf("cluster %s: describe topic %s: %w", dst, dest, err)
	}
	if got := int32(len(have[dest].Partitions)); got < n {
		r, err := tadm.UpdatePartitions(ctx, int(n), dest)
		if err == nil {
			err = r.Error()
		}
		if err != nil {
			return fmt.Errorf("cluster %s: grow topic %s from %d to %d partitions: %w", dst, dest, got, n, err)
		}
	}
	return nil
}
