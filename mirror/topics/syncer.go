package topics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/geomesh/geomesh/internal/loop"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Syncer keeps one flow's target topics shaped like its source topics.
type Syncer struct {
	cfg    Config
	cfgErr error
	ex     exclusions
	tgt    *kadm.Client
	// srcList and tgtList list the clusters' topics (see lister).
	srcList, tgtList lister

	// passMu serializes passes and guards settled; mu guards the fields
	// below and is never held across I/O. Lock order: passMu, then mu.
	passMu sync.Mutex
	// settled is the selected source topics and their partition counts
	// as of the last pass that left nothing to do; nil when that pass
	// did something or failed.
	settled map[string]int
	mu      sync.Mutex
	// known maps target topic -> source topic for every selected topic
	// seen, so a source that disappears can be reported.
	known map[string]string
	// owned holds target topics this Syncer created (package doc:
	// Deletion).
	owned map[string]bool
	// copied maps a target topic to the config keys this Syncer has
	// copied onto it, the only keys it may delete there.
	copied map[string]map[string]bool
	// missing counts consecutive passes whose source listing lacked the
	// target topic's source.
	missing map[string]int
	topics  map[string]TopicStatus
	status  Status
	// srcParts maps every readable non-internal source topic to its
	// partition count, as of srcAt; replaced, never changed, by a pass.
	srcParts map[string]int
	srcAt    time.Time
}

// New returns a Syncer. It does no I/O. A config error is returned by the
// first SyncOnce or Run, since New cannot fail.
func New(cfg Config) *Syncer {
	cfg = cfg.withDefaults()
	s := &Syncer{
		cfg:     cfg,
		cfgErr:  cfg.validate(),
		ex:      newExclusions(cfg.ExcludeConfigs),
		srcList: lister{cl: cfg.Source},
		tgtList: lister{cl: cfg.Target},
		known:   make(map[string]string),
		owned:   make(map[string]bool),
		copied:  make(map[string]map[string]bool),
		missing: make(map[string]int),
		topics:  make(map[string]TopicStatus),
		status:  Status{Source: cfg.SourceName, Target: cfg.TargetName},
	}
	if s.cfgErr == nil {
		s.tgt = kadm.NewClient(cfg.Target)
	}
	return s
}

// Run runs a pass at once, then every Interval, until ctx ends; then it
// returns ctx's error. Failed passes are logged, counted in Status and
// retried at the next interval; only an invalid Config stops Run early.
func (s *Syncer) Run(ctx context.Context) error {
	if s.cfgErr != nil {
		return s.cfgErr
	}
	var lastFull time.Time
	loop.Every(ctx, s.cfg.Interval, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.PassTimeout)
		defer cancel()
		full := s.cfg.Now().Sub(lastFull) >= s.cfg.ConfigInterval
		if full {
			lastFull = s.cfg.Now()
		}
		_, _ = s.syncOnce(ctx, full) // errors are logged and counted by syncOnce
	})
	return ctx.Err()
}

// Status returns a snapshot; safe from any goroutine.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Topics = maps.Clone(s.topics)
	return st
}

// SourcePartitions returns the source's topics (internal and unreadable
// ones left out) with their partition counts, as the last pass listed them
// at the returned time (zero before any). The map must not be changed. The
// agent's flow reads it instead of listing the source a second time every
// second.
func (s *Syncer) SourcePartitions() (map[string]int, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srcParts, s.srcAt
}

// SyncOnce runs one pass, configs included, and returns its report. The
// error joins every error of the report (nil when the target is in line
// with the source).
func (s *Syncer) SyncOnce(ctx context.Context) (Report, error) {
	return s.syncOnce(ctx, true)
}

// syncOnce runs a pass; unless full, it reads configs only of the topics it
// creates.
func (s *Syncer) syncOnce(ctx context.Context, full bool) (Report, error) {
	if s.cfgErr != nil {
		return Report{}, s.cfgErr
	}
	s.passMu.Lock()
	defer s.passMu.Unlock()

	r := Report{Started: s.cfg.Now()}
	s.pass(ctx, &r, full)
	r.Took = s.cfg.Now().Sub(r.Started)
	s.finish(&r)
	if s.cfg.Observer != nil {
		s.cfg.Observer.ObservePass(r)
	}
	return r, errors.Join(r.Errors...)
}

// topicState is what a pass learned of one selected source topic.
type topicState struct {
	source, target string
	srcParts       int
	srcRF          int
	srcCfg         map[string]string // explicitly set at the source
	srcMinISR      string            // effective at the source
	tgtExists      bool
	tgtParts       int
	tgtRF          int
	tgtCfg         map[string]string // explicitly set at the target
	tgtMinISR      string            // effective at the target
	failed         bool
	skipConfigs    bool // configs not read in this pass
}

func (s *Syncer) pass(ctx context.Context, r *Report, full bool) {
	src, tgt := s.cfg.SourceName, s.cfg.TargetName

	srcTopics, _, err := s.srcList.list(ctx)
	if err != nil {
		s.settled = nil
		r.Errors = append(r.Errors, &ClusterError{Cluster: src, Op: "list topics", Err: err})
		return
	}
	selected := make(map[string]int)
	parts := make(map[string]int, len(srcTopics))
	for name, d := range srcTopics {
		if d.internal || d.err != nil {
			continue
		}
		parts[name] = d.parts
		if s.cfg.Flow.Selects(name) && s.cfg.Flow.TargetTopic(name) != "" {
			selected[name] = d.parts
		}
	}
	s.mu.Lock()
	s.srcParts, s.srcAt = parts, s.cfg.Now()
	s.mu.Unlock()
	if !full && s.settled != nil && maps.Equal(selected, s.settled) {
		// Nothing changed at the source since a pass that found the
		// target in line: the target's metadata, a request of every
		// partition, can wait for the next full pass.
		r.Selected = len(selected)
		return
	}
	defer func() {
		s.settled = nil
		if len(r.Errors)+len(r.Created)+len(r.Grown)+len(r.Surplus)+len(r.Orphaned)+len(r.Deleted) == 0 {
			s.settled = selected
		}
	}()
	// One metadata request gives the target's topics and live brokers.
	tgtTopics, tgtBrokers, err := s.tgtList.list(ctx)
	if err != nil {
		r.Errors = append(r.Errors, &ClusterError{Cluster: tgt, Op: "list topics", Err: err})
		return
	}

	var states []*topicState
	for _, name := range slices.Sorted(maps.Keys(srcTopics)) {
		d := srcTopics[name]
		if d.internal || !s.cfg.Flow.Selects(name) {
			continue
		}
		target := s.cfg.Flow.TargetTopic(name)
		if target == "" {
			continue
		}
		r.Selected++
		st := &topicState{source: name, target: target}
		if d.err != nil {
			// Typically a topic being created or deleted right now; its
			// metadata settles by the next pass.
			r.Errors = append(r.Errors, &TopicError{Cluster: src, Topic: name, Op: "describe", Err: d.err})
			st.failed = true
		}
		st.srcParts, st.srcRF = d.parts, d.rf
		if td, ok := tgtTopics[target]; ok && !errors.Is(td.err, kerr.UnknownTopicOrPartition) {
			st.tgtExists = true
			st.tgtParts, st.tgtRF = td.parts, td.rf
			if td.err != nil {
				r.Errors = append(r.Errors, &TopicError{Cluster: tgt, Topic: target, Op: "describe", Err: td.err})
				st.failed = true
			}
		}
		states = append(states, st)
	}

	if !full {
		for _, st := range states {
			st.skipConfigs = st.tgtExists
		}
	}
	s.describeConfigs(ctx, r, states)

	var missing []*topicState
	for _, st := range states {
		if st.failed {
			continue
		}
		if !st.tgtExists {
			missing = append(missing, st)
			continue
		}
		s.grow(ctx, r, st)
		if !st.skipConfigs {
			s.alterConfigs(ctx, r, st)
		}
	}
	s.createMissing(ctx, r, missing, tgtBrokers)

	s.orphans(ctx, r, srcTopics, tgtTopics, states)
}

// describeConfigs fills the config fields of states with one
// DescribeConfigs request per cluster.
func (s *Syncer) describeConfigs(ctx context.Context, r *Report, states []*topicState) {
	var srcNames, tgtNames []string
	for _, st := range states {
		if st.failed || st.skipConfigs {
			continue
		}
		srcNames = append(srcNames, st.source)
		if st.tgtExists {
			tgtNames = append(tgtNames, st.target)
		}
	}
	srcCfgs := s.describe(ctx, r, s.cfg.Source, s.cfg.SourceName, srcNames)
	tgtCfgs := s.describe(ctx, r, s.cfg.Target, s.cfg.TargetName, tgtNames)
	for _, st := range states {
		if st.failed || st.skipConfigs {
			continue
		}
		sc, ok := srcCfgs[st.source]
		if !ok {
			st.failed = true
			continue
		}
		st.srcCfg, st.srcMinISR = sc.explicit, sc.minISR
		if st.tgtExists {
			tc, ok := tgtCfgs[st.target]
			if !ok {
				st.failed = true
				continue
			}
			st.tgtCfg, st.tgtMinISR = tc.explicit, tc.minISR
		}
	}
}

type described struct {
	explicit map[string]string
	minISR   string
}

// describe returns the configs of topics on one cluster; a topic whose
// configs could not be read is absent and its error is in r. The request
// asks for no synonyms (kadm's DescribeTopicConfigs does): each value's
// source is all a pass needs, and synonyms made the answer, read for every
// topic every few seconds, several times larger.
func (s *Syncer) describe(ctx context.Context, r *Report, cl *kgo.Client, cluster string, names []string) map[string]described {
	out := make(map[string]described, len(names))
	if len(names) == 0 {
		return out
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	for _, n := range names {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, n
		req.Resources = append(req.Resources, rr)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		for _, n := range names {
			r.Errors = append(r.Errors, &TopicError{Cluster: cluster, Topic: n, Op: "describe configs", Err: err})
		}
		return out
	}
	for _, rc := range resp.Resources {
		rerr := kerr.ErrorForCode(rc.ErrorCode)
		if errors.Is(rerr, kerr.UnknownTopicOrPartition) {
			// Deleted since the listing; the next pass sees it gone.
			continue
		}
		if rerr != nil {
			r.Errors = append(r.Errors, &TopicError{Cluster: cluster, Topic: rc.ResourceName, Op: "describe configs", Err: errWithMessage(rerr, val(rc.ErrorMessage))})
			continue
		}
		d := described{explicit: make(map[string]string)}
		for _, c := range rc.Configs {
			if c.Name == minISRKey && c.Value != nil {
				d.minISR = *c.Value
			}
			// Only keys set on the topic itself are the source's
			// intent; defaults and broker-level values belong to each
			// cluster. Sensitive values come back nil and cannot be
			// copied.
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
				d.explicit[c.Name] = *c.Value
			}
		}
		out[rc.ResourceName] = d
	}
	return out
}

// creation is how a pass creates one missing target topic.
type creation struct {
	st    *topicState
	parts int32
	rf    int16
	cfgs  map[string]*string
	minIS string
}

// createMissing creates the missing target topics. Topics of one shape and
// config go in one CreateTopics request: one request per topic made a fresh
// agent's first pass over thousands of topics take minutes.
func (s *Syncer) createMissing(ctx context.Context, r *Report, missing []*topicState, brokers int) {
	groups := make(map[string][]creation)
	var order []string
	for _, st := range missing {
		rf := replicationFactor(s.cfg.ReplicationFactor, st.srcRF, brokers)
		minISR, _ := targetMinISR(st.srcMinISR, int(rf))
		c := creation{st: st, parts: int32(st.srcParts), rf: rf, cfgs: createConfigs(st.srcCfg, minISR, s.ex), minIS: minISR}
		s.copiedKeys(st.target, st.srcCfg)
		key := creationKey(c)
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], c)
	}
	for _, key := range order {
		g := groups[key]
		per := max(1, maxRecordsPerCreate/(1+int(g[0].parts)+len(g[0].cfgs)))
		for chunk := range slices.Chunk(g, per) {
			s.createChunk(ctx, r, chunk)
		}
	}
}

// maxRecordsPerCreate bounds the metadata records (one per topic, partition
// and config) of one CreateTopics request: Kafka's controller refuses a
// request of more than 10,000 with POLICY_VIOLATION ("excessively large
// batch operation").
const maxRecordsPerCreate = 5000

// createChunk creates topics of one shape and config in one request.
func (s *Syncer) createChunk(ctx context.Context, r *Report, g []creation) {
	names := make([]string, len(g))
	for i, c := range g {
		names[i] = c.st.target
	}
	resps, err := s.tgt.CreateTopics(ctx, g[0].parts, g[0].rf, g[0].cfgs, names...)
	for _, c := range g {
		resp, ok := resps[c.st.target]
		cerr := err
		switch {
		case cerr != nil:
		case !ok:
			cerr = errors.New("no response for topic")
		default:
			cerr = resp.Err
		}
		s.created(ctx, r, c, resp, cerr)
	}
}

// creationKey is equal for creations that one CreateTopics request can
// carry: same partition count, replication factor and configs.
func creationKey(c creation) string {
	keys := slices.Sorted(maps.Keys(c.cfgs))
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d", c.parts, c.rf)
	for _, k := range keys {
		fmt.Fprintf(&b, "/%q=%q", k, *c.cfgs[k])
	}
	return b.String()
}

// created handles the outcome of creating one target topic.
func (s *Syncer) created(ctx context.Context, r *Report, c creation, resp kadm.CreateTopicResponse, err error) {
	tgt, st := s.cfg.TargetName, c.st
	cfgs := c.cfgs
	if errors.Is(err, kerr.InvalidConfig) || errors.Is(err, kerr.PolicyViolation) {
		// One config the target rejects must not keep the topic from
		// existing: create it with min.insync.replicas only; the config
		// step of later passes sets the rest key by key and reports
		// the bad one precisely.
		r.Errors = append(r.Errors, &TopicError{Cluster: tgt, Topic: st.target, Op: "create with configs", Err: errWithMessage(err, resp.ErrMessage)})
		s.cfg.Logger.Warn("target rejected configs at creation, creating without them", "cluster", tgt, "topic", st.target, "err", err)
		cfgs = createConfigs(nil, c.minIS, s.ex)
		resp, err = s.tgt.CreateTopic(ctx, c.parts, c.rf, cfgs, st.target)
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		// Created between our listing and now (another agent, or an
		// operator); the next pass treats it as existing. Not ours.
		return
	}
	if err != nil {
		r.Errors = append(r.Errors, &TopicError{
			Cluster: tgt, Topic: st.target,
			Op:  fmt.Sprintf("create (%d partitions, replication factor %d)", st.srcParts, c.rf),
			Err: errWithMessage(err, resp.ErrMessage),
		})
		return
	}
	cr := Created{Source: st.source, Target: st.target, Partitions: c.parts, ReplicationFactor: c.rf, Configs: make(map[string]string)}
	for k, v := range cfgs {
		cr.Configs[k] = *v
	}
	r.Created = append(r.Created, cr)
	s.mu.Lock()
	s.owned[st.target] = true
	s.mu.Unlock()
	s.cfg.Logger.Info("created target topic", "cluster", tgt, "topic", st.target, "source_topic", st.source,
		"partitions", st.srcParts, "replication_factor", c.rf)
}

func (s *Syncer) grow(ctx context.Context, r *Report, st *topicState) {
	tgt := s.cfg.TargetName
	switch {
	case st.tgtParts > st.srcParts:
		r.Surplus = append(r.Surplus, Surplus{Topic: st.target, SourcePartitions: st.srcParts, TargetPartitions: st.tgtParts})
		return
	case st.tgtParts == st.srcParts:
		return
	}
	op := fmt.Sprintf("grow partitions %d -> %d", st.tgtParts, st.srcParts)
	resps, err := s.tgt.UpdatePartitions(ctx, st.srcParts, st.target)
	if err == nil {
		resp, ok := resps[st.target]
		err = errWithMessage(resp.Err, resp.ErrMessage)
		if !ok {
			err = errors.New("no response for topic")
		}
	}
	if err != nil {
		r.Errors = append(r.Errors, &TopicError{Cluster: tgt, Topic: st.target, Op: op, Err: err})
		st.failed = true
		return
	}
	r.Grown = append(r.Grown, Grown{Topic: st.target, From: st.tgtParts, To: st.srcParts})
	s.cfg.Logger.Info("grew target topic", "cluster", tgt, "topic", st.target, "from", st.tgtParts, "to", st.srcParts)
	st.tgtParts = st.srcParts
}

func (s *Syncer) alterConfigs(ctx context.Context, r *Report, st *topicState) {
	wantMinISR, _ := targetMinISR(st.srcMinISR, st.tgtRF)
	changes := diffConfigs(st.target, st.srcCfg, st.tgtCfg, s.copiedKeys(st.target, st.srcCfg), st.tgtMinISR, wantMinISR, s.ex)
	if len(changes) == 0 {
		return
	}
	if err := s.alter(ctx, st.target, changes); err == nil {
		r.Configs = append(r.Configs, changes...)
		s.logChanges(changes)
		return
	}
	// IncrementalAlterConfigs is all-or-nothing per topic: one value the
	// target rejects would block every other change forever. Retry key by
	// key and report exactly which keys fail.
	for _, c := range changes {
		if err := s.alter(ctx, st.target, []ConfigChange{c}); err != nil {
			op := "set config " + c.Key + "=" + val(c.New)
			if c.New == nil {
				op = "delete config " + c.Key
			}
			r.Errors = append(r.Errors, &TopicError{Cluster: s.cfg.TargetName, Topic: st.target, Op: op, Err: err})
			st.failed = true
			continue
		}
		r.Configs = append(r.Configs, c)
		s.logChanges([]ConfigChange{c})
	}
}

// copiedKeys records the copyable keys the source sets now as copied to
// target and returns every key copied so far.
func (s *Syncer) copiedKeys(target string, src map[string]string) map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := s.copied[target]
	if keys == nil {
		keys = make(map[string]bool)
		s.copied[target] = keys
	}
	for k := range s.ex.filter(src) {
		keys[k] = true
	}
	return keys
}

func (s *Syncer) alter(ctx context.Context, topic string, changes []ConfigChange) error {
	acs := make([]kadm.AlterConfig, 0, len(changes))
	for _, c := range changes {
		op := kadm.SetConfig
		if c.New == nil {
			op = kadm.DeleteConfig
		}
		acs = append(acs, kadm.AlterConfig{Op: op, Name: c.Key, Value: c.New})
	}
	resps, err := s.tgt.AlterTopicConfigs(ctx, acs, topic)
	if err != nil {
		return err
	}
	for _, resp := range resps {
		if resp.Err != nil {
			return errWithMessage(resp.Err, resp.ErrMessage)
		}
	}
	if len(resps) == 0 {
		return errors.New("no response for topic")
	}
	return nil
}

func (s *Syncer) logChanges(cs []ConfigChange) {
	for _, c := range cs {
		s.cfg.Logger.Info("changed target topic config", "cluster", s.cfg.TargetName, "topic", c.Topic,
			"key", c.Key, "old", val(c.Old), "new", val(c.New))
	}
}

// orphans reports (and under DeleteFollow deletes) target topics whose
// source topic is gone, and records what this pass saw.
func (s *Syncer) orphans(ctx context.Context, r *Report, srcTopics, tgtTopics map[string]listedTopic, states []*topicState) {
	s.mu.Lock()
	for _, st := range states {
		s.known[st.target] = st.source
		delete(s.missing, st.target)
		if st.tgtExists {
			ts := s.topics[st.target]
			ts.Partitions = st.tgtParts
			s.topics[st.target] = ts
		}
	}
	type candidate struct {
		Orphan
		exists bool
	}
	var cands []candidate
	for target, source := range s.known {
		if _, ok := srcTopics[source]; ok {
			// Present but no longer selected, or unreadable: not gone.
			delete(s.missing, target)
			continue
		}
		td, exists := tgtTopics[target]
		exists = exists && !errors.Is(td.err, kerr.UnknownTopicOrPartition)
		if !exists {
			// Gone on both sides: nothing left to report.
			delete(s.known, target)
			delete(s.missing, target)
			delete(s.owned, target)
			continue
		}
		s.missing[target]++
		cands = append(cands, candidate{Orphan: Orphan{Source: source, Target: target, MissingPasses: s.missing[target], Owned: s.owned[target]}, exists: exists})
	}
	s.mu.Unlock()

	sort.Slice(cands, func(i, j int) bool { return cands[i].Target < cands[j].Target })
	for _, c := range cands {
		if s.cfg.DeletePolicy != DeleteFollow || !c.Owned || c.MissingPasses < 2 {
			r.Orphaned = append(r.Orphaned, c.Orphan)
			continue
		}
		resp, err := s.tgt.DeleteTopic(ctx, c.Target)
		if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			r.Errors = append(r.Errors, &TopicError{Cluster: s.cfg.TargetName, Topic: c.Target, Op: "delete (source " + c.Source + " is gone)", Err: errWithMessage(err, resp.ErrMessage)})
			r.Orphaned = append(r.Orphaned, c.Orphan)
			continue
		}
		r.Deleted = append(r.Deleted, c.Target)
		s.cfg.Logger.Info("deleted target topic, source is gone", "cluster", s.cfg.TargetName, "topic", c.Target, "source_topic", c.Source)
		s.mu.Lock()
		delete(s.known, c.Target)
		delete(s.missing, c.Target)
		delete(s.owned, c.Target)
		delete(s.topics, c.Target)
		s.mu.Unlock()
	}
}

// finish records the pass in Status and logs its errors.
func (s *Syncer) finish(r *Report) {
	end := r.Started.Add(r.Took)
	errByTopic := make(map[string]string)
	for _, err := range r.Errors {
		s.cfg.Logger.Warn("topic sync", "source", s.cfg.SourceName, "target", s.cfg.TargetName, "err", err)
		var te *TopicError
		if errors.As(err, &te) {
			if _, ok := errByTopic[te.Topic]; !ok {
				errByTopic[te.Topic] = te.Error()
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.Passes++
	s.status.ErrorsTotal += uint64(len(r.Errors))
	s.status.LastSync = end
	s.status.LastPassError = ""
	if len(r.Errors) > 0 {
		s.status.LastPassError = r.Errors[0].Error()
		var ce *ClusterError
		if errors.As(r.Errors[0], &ce) {
			return // nothing was learned about topics
		}
	}
	for target, source := range s.known {
		ts := s.topics[target]
		ts.Source, ts.Target, ts.Owned = source, target, s.owned[target]
		// Errors name either the source or the target topic.
		msg, bad := errByTopic[target]
		if !bad {
			msg, bad = errByTopic[source]
		}
		if bad {
			ts.LastError = msg
		} else {
			ts.LastError = ""
			ts.LastSync = end
		}
		s.topics[target] = ts
	}
	for _, c := range r.Created {
		ts := s.topics[c.Target]
		ts.Partitions = int(c.Partitions)
		s.topics[c.Target] = ts
	}
	for _, g := range r.Grown {
		ts := s.topics[g.Topic]
		ts.Partitions = g.To
		s.topics[g.Topic] = ts
	}
}

func errWithMessage(err error, msg string) error {
	if err == nil || msg == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, msg)
}

// val renders an optional config value; "" means unset.
func val(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
