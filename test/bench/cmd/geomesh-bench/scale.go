package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// scaleRun is one copier started on many partitions.
type scaleRun struct {
	Copier     string  `json:"copier"`
	Rep        int     `json:"rep"`
	Topics     int     `json:"topics"`
	Partitions int     `json:"partitions"`
	StartAll   float64 `json:"start_all_s"`  // process start → a record on every target partition
	IdleCPUPct float64 `json:"idle_cpu_pct"` // of one core, caught up and idle
	IdleRSSMiB float64 `json:"idle_rss_mib"`
	NewTopic   float64 `json:"new_topic_s"` // topic created on the source → its records on the target; -1: not within the timeout
	runOutcome
}

const (
	scalePartitions    = 20
	scaleIdle          = 30 * time.Second
	scaleNewTopicLimit = 90 * time.Second
)

// scaleCopiers are the copiers measured at a size of the scale scenario:
// both up to 2,000 partitions, for the comparison with MirrorMaker 2; above,
// geomesh alone, for what one agent holds.
func scaleCopiers(partitions int) []string {
	if partitions <= 2000 {
		return []string{geomeshEOS, mm2EOS}
	}
	return []string{geomeshEOS}
}

// scale starts each exactly-once copier on many topics of 20 partitions
// holding one record each and measures how long until every partition has
// its copy, the copier's CPU and RSS while idle, and how long a topic
// created afterwards takes to reach the target. A quick run measures the
// first size only. With -profile, one extra geomesh run at the largest size
// profiles the agent over its idle window.
func (b *bench) scale(ctx context.Context) error {
	sizes := b.opts.scaleSizes
	if b.opts.quick {
		sizes = sizes[:1]
	}
	for i, size := range sizes {
		for rep := range b.opts.reps {
			kinds := rotate(scaleCopiers(size), rep)
			if b.opts.profile && i == len(sizes)-1 && rep == b.opts.reps-1 {
				kinds = append(kinds, geomeshIdleProfile)
			}
			for _, kind := range kinds {
				r, err := b.scaleOnce(ctx, rep, kind, size/scalePartitions)
				if err != nil {
					logf("scale %d partitions rep %d %s: %v", size, rep+1, kind, err)
					if kind != geomeshIdleProfile {
						b.res.addScale(scaleRun{Copier: kind, Rep: rep + 1, Topics: size / scalePartitions, Partitions: size}, err)
					}
					continue
				}
				logf("scale rep %d %s: all %d partitions in %.1fs, idle cpu %.1f%%, rss %.0f MiB, new topic %.1fs",
					rep+1, kind, r.Partitions, r.StartAll, r.IdleCPUPct, r.IdleRSSMiB, r.NewTopic)
				if kind == geomeshIdleProfile {
					b.res.idleProfile(b)
					continue
				}
				b.res.addScale(r, nil)
			}
			if err := b.write(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *bench) scaleOnce(ctx context.Context, rep int, kind string, ntopics int) (scaleRun, error) {
	prefix := fmt.Sprintf("bench-scale-%s-%d-%d-", alias(kind), rep, time.Now().Unix()%100000)
	var topics, targets []string
	for i := range ntopics {
		t := fmt.Sprintf("%s%03d", prefix, i)
		topics = append(topics, t)
		targets = append(targets, targetTopic(kind, t))
	}
	newTopic := prefix + "new"
	defer func() {
		// The next run waits for the deletion: a single broker still
		// deleting 20,000 partitions took over two minutes to take the
		// next run's first records.
		deleteTopicsAndWait(ctx, b.srcAdm, b.src.DataDir(0), append(topics, newTopic)...)
		deleteTopicsAndWait(ctx, b.dstAdm, b.dst.DataDir(0), append(targets, targetTopic(kind, newTopic))...)
	}()
	if err := b.createTopics(ctx, b.srcAdm, scalePartitions, topics...); err != nil {
		return scaleRun{}, err
	}
	if err := b.onePerPartition(ctx, topics...); err != nil {
		return scaleRun{}, err
	}
	p, err := b.startCopier(ctx, kind, prefix+".*", fmt.Sprintf("scale-%d", rep), "none")
	if err != nil {
		return scaleRun{}, err
	}
	defer p.stop()
	all, err := b.waitEveryPartition(ctx, targets, 5*time.Minute, p)
	if err != nil {
		return scaleRun{}, err
	}
	r := scaleRun{Copier: kind, Rep: rep + 1, Topics: ntopics, Partitions: ntopics * scalePartitions,
		StartAll: all.Sub(p.started).Seconds()}

	// Idle: let the copy settle, then measure a quiet window.
	time.Sleep(5 * time.Second)
	t0 := time.Now()
	p.signal(syscall.SIGUSR1)
	time.Sleep(scaleIdle)
	p.signal(syscall.SIGUSR2)
	s0, s1 := p.samp.at(t0), p.samp.at(time.Now())
	r.IdleCPUPct = 100 * (s1.cpu - s0.cpu) / s1.t.Sub(s0.t).Seconds()
	r.IdleRSSMiB = float64(s1.rss) / (1 << 20)

	if err := b.createTopic(ctx, b.srcAdm, newTopic, scalePartitions); err != nil {
		return r, err
	}
	created := time.Now()
	if err := b.onePerPartition(ctx, newTopic); err != nil {
		return r, err
	}
	if at, err := b.waitEveryPartition(ctx, []string{targetTopic(kind, newTopic)}, scaleNewTopicLimit, p); err == nil {
		r.NewTopic = at.Sub(created).Seconds()
	} else {
		r.NewTopic = -1
	}
	return r, nil
}

// onePerPartition writes one small record to every partition of topics.
func (b *bench) onePerPartition(ctx context.Context, topics ...string) error {
	// Topics created a moment ago may not be known to the broker's
	// metadata yet: keep retrying them, within a bound.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.src.Bootstrap()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.UnknownTopicRetries(-1), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var rs []*kgo.Record
	for _, t := range topics {
		for p := range int32(scalePartitions) {
			rs = append(rs, &kgo.Record{Topic: t, Partition: p, Value: []byte("x")})
		}
	}
	res := cl.ProduceSync(ctx, rs...)
	failed := 0
	var first error
	for _, r := range res {
		if r.Err != nil {
			failed++
			if first == nil || errors.Is(first, context.DeadlineExceeded) {
				first = fmt.Errorf("%s partition %d: %w", r.Record.Topic, r.Record.Partition, r.Err)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("one record to each of %d partitions: %d failed, %w", len(rs), failed, first)
	}
	return nil
}

// waitEveryPartition polls until every partition of the target topics has
// a record (end offset > 0) and returns when it saw that.
func (b *bench) waitEveryPartition(ctx context.Context, targets []string, timeout time.Duration, p *proc) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	want := len(targets) * scalePartitions
	got := 0
	for time.Now().Before(deadline) {
		if p.exited() {
			return time.Time{}, fmt.Errorf("copier exited; log:\n%s", p.tail(30))
		}
		ends, err := b.dstAdm.ListEndOffsets(ctx, targets...)
		if err == nil {
			got = 0
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil && o.Offset > 0 {
					got++
				}
			})
			if got == want {
				return time.Now(), nil
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("%d of %d target partitions have records after %s", got, want, timeout)
}

// deleteTopicsAndWait deletes topics and waits, at most 3 minutes, until
// the cluster no longer lists any of them and its broker, whose log
// directory is dataDir, has removed their logs. The broker renames and
// removes the logs well after its metadata drops the topics (over a
// minute for 10,000), each log holding a file descriptor until then: the
// next run's 10,000 partitions on top passed the open-files limit.
func deleteTopicsAndWait(ctx context.Context, adm *kadm.Client, dataDir string, topics ...string) {
	deleteTopics(ctx, adm, topics...)
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if listedNone(ctx, adm, topics) && logsLeft(dataDir, topics) == 0 {
			return
		}
		time.Sleep(time.Second)
	}
	logf("%d topics: still listed or their logs not removed 3 minutes after their deletion (%d logs left)",
		len(topics), logsLeft(dataDir, topics))
}

// listedNone reports whether the cluster lists none of topics.
func listedNone(ctx context.Context, adm *kadm.Client, topics []string) bool {
	left, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return false
	}
	for _, t := range left {
		if t.Err == nil {
			return false
		}
	}
	return true
}

// logsLeft counts the logs of topics in dataDir, live ("<topic>-<p>") or
// renamed for deletion ("<topic>-<p>.<id>-delete").
func logsLeft(dataDir string, topics []string) int {
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return 0
	}
	want := make(map[string]bool, len(topics))
	for _, t := range topics {
		want[t] = true
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, "-delete") {
			if i := strings.LastIndexByte(name, '.'); i > 0 {
				name = name[:i]
			}
		}
		if i := strings.LastIndexByte(name, '-'); i > 0 && want[name[:i]] {
			n++
		}
	}
	return n
}
