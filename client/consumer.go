package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Consumer reads a consumer group's topics from one region of a mesh at a
// time and moves the group to another region with Switch, neither skipping
// a record nor reading one twice.
//
// A record counts as consumed once Poll returns it: its offset is
// committed by the next Commit, by franz-go's autocommit (every 5s by
// default) and by Switch and Close. Poll and Commit must not be called
// concurrently with each other; Switch and Close may be called from any
// goroutine and interrupt a Poll in progress.
type Consumer struct {
	mesh   *topology.Mesh
	flows  []topology.Flow
	group  string
	origin string
	home   string // the region it started in
	cfg    config

	// pmu guards cancelPoll; Switch and Close take it without waiting for
	// a Poll to return. Lock order: pmu is never held while taking mu.
	pmu        sync.Mutex
	cancelPoll context.CancelFunc

	// at mirrors region for Region, which must not wait for a Poll.
	at atomic.Pointer[string]

	// mu serialises Poll, Commit, Switch and Close: the client is replaced
	// only between polls.
	mu     sync.Mutex
	region string
	cl     *kgo.Client
	closed bool
	// last is the last record Poll returned per partition in region:
	// where a switch back to the region a copy came from resumes.
	last lastRecords
	// before is what was read in the region left last, when it could not
	// be reached; Poll drops copies of it.
	before readBefore
}

// NewConsumer returns a Consumer of group in the mesh m. It does no I/O:
// the group is joined by the first Poll.
func NewConsumer(m *topology.Mesh, group string, opts ...ConsumerOpt) (*Consumer, error) {
	cfg := defaults()
	for _, o := range opts {
		o.applyConsumer(&cfg)
	}
	if group == "" {
		return nil, fmt.Errorf("consumer of mesh %s: a group is required", m.Name)
	}
	if len(cfg.topics) == 0 {
		return nil, fmt.Errorf("consumer group %s of mesh %s: Topics is required", group, m.Name)
	}
	c := &Consumer{mesh: m, flows: topology.Plan(m), group: group, cfg: cfg, origin: cfg.origin, region: cfg.region}
	if c.origin == "" {
		c.origin = defaultOrigin(m)
	}
	if c.region == "" {
		c.region = c.origin
	}
	if c.origin == "" {
		c.origin = c.region
	}
	if c.region == "" {
		return nil, fmt.Errorf("consumer group %s of active-active mesh %s: Region is required", group, m.Name)
	}
	c.home = c.region
	for _, r := range []string{c.origin, c.region} {
		if _, err := dataRegion(m, r); err != nil {
			return nil, fmt.Errorf("consumer group %s: %w", group, err)
		}
	}
	cl, err := c.newClient(c.region, nil)
	if err != nil {
		return nil, err
	}
	c.cl = cl
	start := c.region
	c.at.Store(&start)
	return c, nil
}

// Region is the region the consumer reads from now.
func (c *Consumer) Region() string { return *c.at.Load() }

// Topics returns the names of the consumer's topics in region.
func (c *Consumer) Topics(region string) ([]string, error) {
	var out []string
	for _, t := range c.cfg.topics {
		name, err := topicIn(c.mesh, c.flows, c.origin, region, t)
		if err != nil {
			return nil, fmt.Errorf("consumer group %s: %w", c.group, err)
		}
		out = append(out, name)
	}
	return out, nil
}

// newClient builds the group consumer for region. start holds offsets the
// group must not start below in that region: the translation of its final
// offsets in the region it leaves.
func (c *Consumer) newClient(region string, start offsetMap) (*kgo.Client, error) {
	r, err := dataRegion(c.mesh, region)
	if err != nil {
		return nil, fmt.Errorf("consumer group %s: %w", c.group, err)
	}
	topics, err := c.Topics(region)
	if err != nil {
		return nil, err
	}
	opts := append(append([]kgo.Opt(nil), c.cfg.kgoOpts...),
		kgo.ConsumerGroup(c.group),
		kgo.ConsumeTopics(topics...),
		// Copies are written in transactions: an aborted copy must never
		// reach the application.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(c.cfg.resetOffset),
		kgo.AdjustFetchOffsetsFn(atLeast(start)),
	)
	cl, err := broker.NewClient(region, r.Kafka, opts...)
	if err != nil {
		return nil, fmt.Errorf("consumer group %s in region %s: %w", c.group, region, err)
	}
	return cl, nil
}

// atLeast raises the offsets the group fetched on joining to the
// translated ones. It keeps a higher committed offset: the group has
// consumed in this region since the switch (several instances join one
// after the other). It also undoes a stale commit of the target agent's
// group sync, which may land between Switch's own commit and the join,
// from a round that read the group's offsets before the final commit.
func atLeast(start offsetMap) func(context.Context, map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	return func(_ context.Context, fetched map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
		for topic, ps := range fetched {
			for p, o := range ps {
				if at, ok := start[topic][p]; ok && o.EpochOffset().Offset < at {
					ps[p] = kgo.NewOffset().At(at)
				}
			}
		}
		return fetched, nil
	}
}

// Poll waits until records arrive or ctx ends and returns them. It returns
// the records it got even when err is not nil; errors name the region and
// are usually transient (franz-go keeps retrying). A Switch or Close
// during Poll makes it return early, with the records buffered so far.
func (c *Consumer) Poll(ctx context.Context) ([]*kgo.Record, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("consumer group %s: %w", c.group, kgo.ErrClientClosed)
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.pmu.Lock()
	c.cancelPoll = cancel
	c.pmu.Unlock()
	fs := c.cl.PollFetches(pctx)
	c.pmu.Lock()
	c.cancelPoll = nil
	c.pmu.Unlock()
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if n := len(p.Records); n > 0 {
			c.last.note(p.Records[n-1])
		}
	})
	recs := fs.Records()
	if len(c.before) > 0 {
		var dropped int
		recs, dropped = c.before.filter(c.region, recs)
		if dropped > 0 {
			c.cfg.logger.Info("dropped copies of records read before the switch", "group", c.group, "region", c.region, "records", dropped)
		}
	}
	var errs []error
	for _, e := range fs.Errors() {
		if errors.Is(e.Err, context.Canceled) && ctx.Err() == nil {
			continue // our own interruption
		}
		errs = append(errs, fmt.Errorf("consumer group %s in region %s: topic %s partition %d: %w", c.group, c.region, e.Topic, e.Partition, e.Err))
	}
	return recs, errors.Join(errs...)
}

// interrupt makes a Poll in progress return.
func (c *Consumer) interrupt() {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if c.cancelPoll != nil {
		c.cancelPoll()
	}
}

// Commit commits the offsets of every record Poll has returned.
func (c *Consumer) Commit(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.cl.CommitUncommittedOffsets(ctx); err != nil {
		return fmt.Errorf("consumer group %s: commit in region %s: %w", c.group, c.region, err)
	}
	return nil
}

// Switch moves the group to region, which must hold copies of the
// consumer's topics (a planned flow from their origin):
//
//  1. it commits the offsets of every record Poll returned in the old
//     region and leaves the group there;
//  2. it waits until no member of the group is left in the old region
//     (every instance of the application switches), so the offsets are
//     final;
//  3. it asks region's agents (GET /v1/translate) for those offsets
//     translated exactly, waiting while the copier catches up;
//  4. it commits them in region, unless the group has already moved on
//     there, and joins the group in region, starting no lower than them.
//
// If the old region does not take the final commit within CommitTimeout,
// it counts as gone: the group resumes from the offsets the agents synced
// in region (its last commit that reached them, translated), which skips
// nothing, and Poll drops the copies of the records this instance read
// in the old region (known by their provenance headers), so it reads
// none of them twice. Another instance that now holds a partition this
// one read there reads again what was consumed since that commit.
//
// If the translation fails while the old region is up (no flow from it,
// or the copy lags more than SwitchTimeout), Switch rejoins the group in
// the old region and returns the error: the consumer stays where it was.
func (c *Consumer) Switch(ctx context.Context, region string) error {
	if _, err := dataRegion(c.mesh, region); err != nil {
		return fmt.Errorf("consumer group %s: switch: %w", c.group, err)
	}
	newTopics, err := c.Topics(region)
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	c.interrupt()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("consumer group %s: %w", c.group, kgo.ErrClientClosed)
	}
	old := c.region
	if region == old {
		return nil
	}
	log := c.cfg.logger.With("group", c.group, "from", old, "to", region)

	gone := c.leave(ctx, log)
	var start offsetMap
	if !gone {
		sctx, cancel := context.WithTimeout(ctx, c.cfg.switchTimeout)
		start, err = c.finalOffsets(sctx, old, region)
		cancel()
		if err != nil {
			if cl, rerr := c.newClient(old, nil); rerr == nil {
				c.cl = cl // at the same offsets: last still holds
			} else {
				err = errors.Join(err, rerr)
			}
			return fmt.Errorf("consumer group %s: switch from region %s to %s: %w", c.group, old, region, err)
		}
		c.commitStart(ctx, region, start, log)
	}
	before := readBefore(nil)
	if gone {
		before = c.last.readBefore(old)
		log.Warn("old region unreachable: resuming from the offsets the agents synced, without the copies of records this instance read there", "partitions", len(before))
	}
	cl, err := c.newClient(region, start)
	if err != nil {
		return err
	}
	c.cl, c.region, c.last, c.before = cl, region, nil, before
	c.at.Store(&region)
	log.Info("switched", "topics", newTopics, "translated", !gone, "start", start)
	return nil
}

// leave commits the final offsets in the current region and leaves the
// group there; it reports whether the region could not be reached.
func (c *Consumer) leave(ctx context.Context, log *slog.Logger) (gone bool) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.commitTimeout)
	defer cancel()
	err := c.cl.CommitUncommittedOffsets(cctx)
	if err == nil {
		err = c.cl.LeaveGroupContext(cctx)
	}
	if err != nil {
		log.Warn("final commit failed", "region", c.region, "err", err)
		// A leave with an ended context makes Close return at once
		// instead of trying to reach a region that is gone.
		cancel()
		_ = c.cl.LeaveGroupContext(cctx)
	}
	c.cl.Close()
	return err != nil
}

// finalOffsets waits until the group has no member left in region old and
// returns its offsets there translated into region to.
func (c *Consumer) finalOffsets(ctx context.Context, old, to string) (offsetMap, error) {
	r, _ := c.mesh.Region(old)
	admCl, err := broker.NewClient(old, r.Kafka, c.cfg.kgoOpts...)
	if err != nil {
		return nil, err
	}
	defer admCl.Close()
	if err := waitEmpty(ctx, kadm.NewClient(admCl), c.group, old); err != nil {
		return nil, err
	}
	topics := map[string]bool{}
	oldTopics, err := c.Topics(old)
	if err != nil {
		return nil, err
	}
	for _, t := range oldTopics {
		topics[t] = true
	}
	return c.translate(ctx, old, to, topics)
}

// waitEmpty polls the group's state in a region until it has no members.
func waitEmpty(ctx context.Context, adm *kadm.Client, group, region string) error {
	for {
		listed, err := adm.ListGroups(ctx)
		if err == nil {
			g, ok := listed[group]
			if !ok || g.State == "Empty" || g.State == "Dead" {
				return nil
			}
			err = fmt.Errorf("group %s is %s in region %s: other members still consume there", group, g.State, region)
		}
		if serr := sleep(ctx); serr != nil {
			return fmt.Errorf("wait for group %s to leave region %s: %w (last: %v)", group, region, serr, err)
		}
	}
}

// commitStart commits the translated offsets in region before the group
// joins there, so that the group's committed offsets (what `geomesh
// translate`, lag monitors and a crash-restart see) are right at once.
// Offsets the group has already passed in region are left alone, and a
// refusal because other instances are already members is expected: the
// join raises the start offsets anyway (atLeast).
func (c *Consumer) commitStart(ctx context.Context, region string, start offsetMap, log *slog.Logger) {
	r, _ := c.mesh.Region(region)
	cl, err := broker.NewClient(region, r.Kafka, c.cfg.kgoOpts...)
	if err != nil {
		log.Warn("commit translated offsets", "err", err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	cctx, cancel := context.WithTimeout(ctx, c.cfg.commitTimeout)
	defer cancel()
	have, err := adm.FetchOffsets(cctx, c.group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		err = nil // nothing committed there yet (kfake says so; Kafka answers empty)
	}
	if err != nil {
		log.Warn("commit translated offsets: fetch the group's offsets", "region", region, "err", err)
		return
	}
	to := kadm.Offsets{}
	for topic, ps := range start {
		for p, at := range ps {
			if o, ok := have.Lookup(topic, p); !ok || o.At < at {
				to.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
			}
		}
	}
	if len(to) == 0 {
		return
	}
	resp, err := adm.CommitOffsets(cctx, c.group, to)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		log.Warn("commit translated offsets before joining", "region", region, "err", err)
	}
}

func sleep(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(200 * time.Millisecond):
		return nil
	}
}

// Close commits the offsets of the records Poll returned, leaves the group
// and closes the client, within CommitTimeout. It is idempotent.
func (c *Consumer) Close() error {
	c.interrupt()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.commitTimeout)
	defer cancel()
	err := c.cl.CommitUncommittedOffsets(ctx)
	_ = c.cl.LeaveGroupContext(ctx)
	c.cl.Close()
	if err != nil {
		return fmt.Errorf("consumer group %s: final commit in region %s: %w", c.group, c.region, err)
	}
	return nil
}
