package agent

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/mirror/acls"
	"github.com/geomesh/geomesh/mirror/assign"
	"github.com/geomesh/geomesh/mirror/heartbeat"
	"github.com/geomesh/geomesh/mirror/topics"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
)

// flowRunner runs one flow into the agent's region: the topic syncer and
// the copy shards this agent owns.
type flowRunner struct {
	a      *Agent
	flow   topology.Flow
	src    *topology.Region
	srcAdm *kadm.Client
	tgtAdm *kadm.Client
	syncer *topics.Syncer
	acls   *acls.Syncer
	met    *flowMetrics

	mu         sync.Mutex
	shards     map[int]*shardRun
	reconciled bool   // a pass has completed since start
	lastErr    string // of the last pass, empty when it succeeded

	// What partitions found, for its next call; only the run goroutine
	// touches these.
	lastShape  map[string]int // selected source topic -> partitions
	lastWant   map[int][]mirror.Partition
	lastTarget time.Time // when the target's topics were last listed
}

// sameClusterRecheck is how often a flow whose source and target are one
// cluster asks again: their bootstrap servers may be re-pointed.
const sameClusterRecheck = 10 * time.Second

// targetRelist bounds how long partitions trusts an earlier listing of the
// target's topics while the source's stay the same: a target topic deleted
// by hand stops its shards' copying within that time.
const targetRelist = 10 * time.Second

// shardRun is a running shard and the goroutine that owns it.
type shardRun struct {
	shard *mirror.Shard
	parts []mirror.Partition
	done  chan struct{}
	err   error // set before done closes
}

// restartBackoff keeps a fenced shard from being restarted at once: the
// agent that fenced it is probably its rightful owner, and membership will
// say so within a pass or two.
const restartBackoff = 2 * time.Second

func (a *Agent) newFlowRunner(f topology.Flow) (*flowRunner, error) {
	src, _ := a.topo().Region(f.Source)
	srcCl, err := a.client(src)
	if err != nil {
		return nil, err
	}
	tgtCl, err := a.client(a.region)
	if err != nil {
		return nil, err
	}
	fr := &flowRunner{
		a:      a,
		flow:   f,
		src:    src,
		srcAdm: kadm.NewClient(srcCl),
		tgtAdm: kadm.NewClient(tgtCl),
		met:    a.met.flow(f.Source, f.Target),
		shards: map[int]*shardRun{},
	}
	fr.syncer = topics.New(topics.Config{
		Flow:       f,
		SourceName: f.Source,
		TargetName: f.Target,
		Source:     srcCl,
		Target:     tgtCl,
		Logger:     a.log.With("flow", f.Source+"->"+f.Target),
		Observer:   fr.met,
		// The topology's words are the Syncer's policy names.
		DeletePolicy: topics.DeletePolicy(a.topo().Replication.TopicDeletion),
	})
	m := a.topo()
	fr.acls = acls.New(acls.Config{
		Mapping: acls.Mapping{
			Flow:      f,
			Group:     f.Groups.Match,
			Principal: func(p string) string { return m.MapPrincipal(f.Source, f.Target, p) },
			// See the acls package doc: only identity copies in an
			// active-active mesh take application writes from the start.
			Writable: m.Kind == topology.KindActiveActive && f.Naming == topology.NamingIdentity,
		},
		SourceName:  f.Source,
		TargetName:  f.Target,
		SourceKafka: src.Kafka,
		TargetKafka: a.region.Kafka,
		Source:      srcCl,
		Target:      tgtCl,
		Logger:      a.log.With("flow", f.Source+"->"+f.Target),
	})
	return fr, nil
}

// Run keeps the shards in line with the source's partitions and the
// region's membership until ctx ends, then stops every shard. It starts
// nothing, topic and ACL sync included, before it knows that the source
// and the target are two clusters.
func (fr *flowRunner) Run(ctx context.Context) error {
	if !fr.distinctClusters(ctx) {
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = fr.syncer.Run(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = fr.acls.Run(ctx)
	}()
	changes, unsubscribe := fr.a.members.Subscribe()
	defer unsubscribe()
	tick := time.NewTicker(fr.a.cfg.ReconcileInterval)
	defer tick.Stop()
	for {
		fr.reconcile(ctx)
		select {
		case <-ctx.Done():
			fr.stopAll()
			wg.Wait()
			return nil
		case <-tick.C:
		case <-changes:
		}
	}
}

// distinctClusters asks the source and the target for their cluster ids
// until both answer, every reconcile interval, and reports true once they
// differ (or a cluster has no id to compare). While they are one cluster
// (two regions' bootstrap servers reach the same brokers), copying would
// write every record onto itself: the flow stays stopped with an error
// in /v1/status and /readyz and geomesh_mirror_same_cluster at 1, and
// asks again every sameClusterRecheck. It reports false when ctx ends
// first.
func (fr *flowRunner) distinctClusters(ctx context.Context) bool {
	name := fr.flow.Source + "->" + fr.flow.Target
	for {
		same, err := fr.sameCluster(ctx)
		if ctx.Err() != nil {
			return false
		}
		wait := fr.a.cfg.ReconcileInterval
		fr.mu.Lock()
		switch {
		case err != nil:
			fr.lastErr = err.Error()
		case same != "":
			if fr.lastErr != same {
				fr.a.log.Error("flow stopped: its source and target are one Kafka cluster", "flow", name, "err", same)
			}
			fr.lastErr = same
			fr.met.sameCluster.Set(1)
			wait = sameClusterRecheck
		default:
			fr.lastErr = ""
			fr.met.sameCluster.Set(0)
		}
		fr.mu.Unlock()
		if err == nil && same == "" {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
}

// sameCluster returns the error that stops the flow when its source and
// target report the same cluster id, "" when they differ.
func (fr *flowRunner) sameCluster(ctx context.Context) (string, error) {
	src, err := fr.srcAdm.BrokerMetadata(ctx)
	if err != nil {
		return "", broker.Explain(fr.flow.Source, fr.src.Kafka, fmt.Errorf("region %s: cluster id: %w", fr.flow.Source, err))
	}
	tgt, err := fr.tgtAdm.BrokerMetadata(ctx)
	if err != nil {
		return "", broker.Explain(fr.flow.Target, fr.a.region.Kafka, fmt.Errorf("region %s: cluster id: %w", fr.flow.Target, err))
	}
	if src.Cluster == "" || src.Cluster != tgt.Cluster {
		return "", nil
	}
	return fmt.Sprintf("source %s and target %s are the same Kafka cluster %s: the flow stays stopped, since it would copy every record onto itself (give the regions' kafka.bootstrap servers of their own clusters)",
		fr.flow.Source, fr.flow.Target, src.Cluster), nil
}

func (fr *flowRunner) reconcile(ctx context.Context) {
	want, err := fr.partitions(ctx)
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if err != nil {
		fr.lastErr = err.Error()
		fr.a.log.Warn("flow reconcile failed", "flow", fr.flow.Source+"->"+fr.flow.Target, "err", err)
		return
	}
	members := fr.a.regionMembers()
	owned := 0
	for i := range fr.a.cfg.Shards {
		parts := want[i]
		id := mirror.TransactionalID(fr.a.topo().Name, fr.flow, i)
		mine := len(parts) > 0 && assign.Owner(id, members) == fr.a.self.ID
		run := fr.shards[i]
		if run != nil {
			select {
			case <-run.done:
				// The shard ended by itself (fenced or failed): forget it
				// and start afresh below once the backoff has passed.
				delete(fr.shards, i)
				run = nil
			default:
			}
		}
		switch {
		case mine && run == nil:
			fr.start(ctx, i, parts)
		case mine && !slices.Equal(run.parts, parts):
			run.parts = parts
			run.shard.SetPartitions(parts)
		case !mine && run != nil:
			run.shard.Close()
			<-run.done
			delete(fr.shards, i)
		}
		if fr.shards[i] != nil {
			owned++
		}
	}
	fr.met.shardsOwned.Set(float64(owned))
	fr.reconciled = true
	fr.lastErr = ""
	fr.observe()
}

// start runs a shard in a goroutine owned by the flow runner; the caller
// holds fr.mu.
func (fr *flowRunner) start(ctx context.Context, i int, parts []mirror.Partition) {
	m := fr.a.topo()
	s := mirror.NewShard(mirror.ShardConfig{
		Mesh:            m.Name,
		Flow:            fr.flow,
		Shard:           i,
		Partitions:      parts,
		Source:          mirror.RegionClients(fr.src.Name, fr.src.Kafka),
		Target:          mirror.RegionClients(fr.a.region.Name, fr.a.region.Kafka),
		Mode:            m.Replication.Mode,
		OnError:         m.Replication.OnError,
		DeadLetterTopic: m.Replication.DeadLetterTopic,
		CommitInterval:  fr.a.cfg.CommitInterval,
		Metrics:         fr.met,
		Logger:          fr.a.log.With("shard", i, "flow", fr.flow.Source+"->"+fr.flow.Target),
	})
	run := &shardRun{shard: s, parts: parts, done: make(chan struct{})}
	fr.shards[i] = run
	go func() {
		err := s.Run(ctx)
		if err != nil && ctx.Err() == nil {
			fr.a.log.Warn("shard stopped", "shard", i, "err", err)
			// Hold the slot for a moment so the next pass does not fence
			// the new owner straight back.
			select {
			case <-time.After(restartBackoff):
			case <-ctx.Done():
			}
		}
		run.err = err
		close(run.done)
	}()
}

func (fr *flowRunner) stopAll() {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	var wg sync.WaitGroup
	for i, run := range fr.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run.shard.Close()
			<-run.done
		}()
		delete(fr.shards, i)
	}
	wg.Wait()
}

// partitions lists the source partitions the flow copies, grouped by shard:
// partitions of selected topics (and of the heartbeat topic, which carries
// end-to-end latency even when no data flows) that the target topic
// already has. A partition the target lacks waits for topic sync.
func (fr *flowRunner) partitions(ctx context.Context) (map[int][]mirror.Partition, error) {
	src, err := fr.sourcePartitions(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range slices.Sorted(maps.Keys(src)) {
		if t == heartbeat.Topic || fr.flow.Selects(t) {
			names = append(names, t)
		}
	}
	if len(names) == 0 {
		fr.lastShape, fr.lastWant = nil, nil
		return nil, nil
	}
	// Listing the target's copies costs a metadata request of every
	// partition: at thousands of partitions, every second, that was much
	// of an idle agent's CPU. Once every copy exists, the answer cannot
	// change until the source's topics do.
	shape := make(map[string]int, len(names))
	for _, n := range names {
		shape[n] = src[n]
	}
	if fr.lastWant != nil && maps.Equal(shape, fr.lastShape) && time.Since(fr.lastTarget) < targetRelist {
		return fr.lastWant, nil
	}
	targetNames := make([]string, len(names))
	for i, n := range names {
		targetNames[i] = fr.flow.TargetTopic(n)
	}
	tgt, err := fr.tgtAdm.ListTopics(ctx, targetNames...)
	if err != nil {
		return nil, broker.Explain(fr.flow.Target, fr.a.region.Kafka, fmt.Errorf("region %s: list topics: %w", fr.flow.Target, err))
	}
	if err := fr.ensureHeartbeatTopic(ctx, src, tgt); err != nil {
		return nil, err
	}
	out := map[int][]mirror.Partition{}
	complete := true
	for i, n := range names {
		td, ok := tgt[targetNames[i]]
		if !ok || td.Err != nil {
			complete = false
			continue
		}
		for p := range int32(src[n]) {
			if _, ok := td.Partitions[p]; ok {
				s := mirror.ShardFor(n, p, fr.a.cfg.Shards)
				out[s] = append(out[s], mirror.Partition{Topic: n, Partition: p})
			} else {
				complete = false
			}
		}
	}
	for _, ps := range out {
		sort.Slice(ps, func(i, j int) bool {
			if ps[i].Topic != ps[j].Topic {
				return ps[i].Topic < ps[j].Topic
			}
			return ps[i].Partition < ps[j].Partition
		})
	}
	fr.lastShape, fr.lastWant, fr.lastTarget = nil, nil, time.Time{}
	if complete {
		fr.lastShape, fr.lastWant, fr.lastTarget = shape, out, time.Now()
	}
	return out, nil
}

// sourcePartitions is the source's topics with their partition counts:
// topic sync's listing when it is recent, else a listing of its own.
func (fr *flowRunner) sourcePartitions(ctx context.Context) (map[string]int, error) {
	if parts, at := fr.syncer.SourcePartitions(); time.Since(at) <= 2*fr.a.cfg.ReconcileInterval {
		return parts, nil
	}
	src, err := fr.srcAdm.ListTopics(ctx)
	if err != nil {
		return nil, broker.Explain(fr.flow.Source, fr.src.Kafka, fmt.Errorf("region %s: list topics: %w", fr.flow.Source, err))
	}
	parts := make(map[string]int, len(src))
	for _, t := range src {
		if t.Err == nil {
			parts[t.Topic] = len(t.Partitions)
		}
	}
	return parts, nil
}

// ensureHeartbeatTopic creates the copy of the source's heartbeat topic,
// which topic sync leaves alone because geomesh's own topics are never
// selected as data.
func (fr *flowRunner) ensureHeartbeatTopic(ctx context.Context, src map[string]int, tgt kadm.TopicDetails) error {
	n, ok := src[heartbeat.Topic]
	if !ok {
		return nil
	}
	name := fr.flow.TargetTopic(heartbeat.Topic)
	if t, ok := tgt[name]; ok && t.Err == nil {
		return nil
	}
	if err := heartbeat.CreateTopic(ctx, fr.tgtAdm, name, int32(n)); err != nil {
		return fmt.Errorf("region %s: %w", fr.flow.Target, err)
	}
	return nil
}

// notReady lists why the flow does not copy as it should: the error of
// its last pass (a cluster it cannot reach, the same cluster on both
// sides), no pass yet, or shards whose sessions fail and wait to retry.
func (fr *flowRunner) notReady() []string {
	runs, lastErr := fr.running()
	fr.mu.Lock()
	reconciled := fr.reconciled
	fr.mu.Unlock()
	name := "flow " + fr.flow.Source + "->" + fr.flow.Target
	switch {
	case lastErr != "":
		return []string{name + ": " + lastErr}
	case !reconciled:
		return []string{name + ": starting"}
	}
	var out []string
	for _, r := range runs {
		// Fencing is how shards move between agents, not a failure.
		if st := r.shard.Status(); st.State == "backoff" && st.ErrorClass != mirror.ClassFenced {
			out = append(out, fmt.Sprintf("%s shard %d: %s", name, st.Shard, st.Error))
		}
	}
	sort.Strings(out)
	return out
}

// FlowStatus is one flow's part of /v1/status.
type FlowStatus struct {
	Source string `json:"source"`
	Target string `json:"target"`
	Kind   string `json:"kind"`
	Error  string `json:"error,omitempty"`
	Lag    int64  `json:"lag_records"`
	Paused int    `json:"paused_partitions"`
	// RPOSeconds is the largest of the partitions' (shards[].partitions[].rpo_seconds).
	RPOSeconds float64         `json:"rpo_seconds"`
	Topics     topics.Status   `json:"topics"`
	ACLs       acls.Status     `json:"acls"`
	Shards     []mirror.Status `json:"shards"`
}

func (fr *flowRunner) status() FlowStatus {
	runs, lastErr := fr.running()
	st := FlowStatus{
		Source: fr.flow.Source, Target: fr.flow.Target, Kind: fr.flow.Kind, Error: lastErr,
		Topics: fr.syncer.Status(), ACLs: fr.acls.Status(), Shards: []mirror.Status{},
	}
	for _, r := range runs {
		s := r.shard.Status()
		for _, p := range s.Partitions {
			st.Lag += p.Lag
			if p.Paused {
				st.Paused++
			}
		}
		st.Shards = append(st.Shards, s)
	}
	sort.Slice(st.Shards, func(i, j int) bool { return st.Shards[i].Shard < st.Shards[j].Shard })
	return st
}

// running returns the flow's shards and the last reconcile error, so that
// they can be read without holding fr.mu.
func (fr *flowRunner) running() ([]*shardRun, string) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return slices.Collect(maps.Values(fr.shards)), fr.lastErr
}

// lag is the flow's lag in records (the sum over its shards) and seconds
// (the largest) and its last error, without the per-partition snapshot
// status builds: the health watch reads it every second.
func (fr *flowRunner) lag() (records int64, seconds float64, lastErr string) {
	runs, lastErr := fr.running()
	for _, r := range runs {
		l, sec, _ := r.shard.Lag()
		records += l
		seconds = max(seconds, sec)
	}
	return records, seconds, lastErr
}

// Lag implements plane.Flow: a flow that cannot read its source, or has
// not listed its partitions yet, has no lag to trust.
func (fr *flowRunner) Lag() (records int64, trusted bool) {
	lag, _, lastErr := fr.lag()
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return lag, lastErr == "" && fr.reconciled
}

// observe refreshes the flow's gauges from the shards; the caller holds
// fr.mu.
func (fr *flowRunner) observe() {
	var lag int64
	var lagSeconds float64
	paused := 0
	for _, r := range fr.shards {
		l, sec, pz := r.shard.Lag()
		lag += l
		lagSeconds = max(lagSeconds, sec)
		paused += pz
	}
	fr.met.lagRecords.Set(float64(lag))
	fr.met.lagSeconds.Set(lagSeconds)
	fr.met.paused.Set(float64(paused))
}
