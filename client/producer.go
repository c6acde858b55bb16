package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer writes records to the region that takes writes for their topic
// right now, and refuses, with an error wrapping ErrNotPrimary, a record
// for a region that does not: a standby, or a topic that is another
// region's copy there. Nothing is dropped silently: every record's promise
// gets either its offset or an error.
//
// Switch moves the producer when the primary changes (a failover); a
// record in flight to the old region when it fails gets an error, and the
// application produces it again (with RecordIDs, under the same id, so a
// KeyedView drops the second copy if both arrive).
//
// A Follower pauses the producer while a planned switch drains the
// region it writes to: Produce then waits, within its ctx, and a record
// whose ctx ends first fails with an error wrapping ErrPaused.
//
// All methods may be called from any goroutine.
type Producer struct {
	mesh  *topology.Mesh
	flows []topology.Flow
	cfg   config
	home  string // the region it started in

	// gmu guards gate, which is nil while records may go and otherwise
	// closed on resume. Lock order: gmu is never held while taking mu.
	gmu  sync.Mutex
	gate chan struct{}
	done chan struct{} // closed by Close: paused records fail

	// mu is held for reading while a record is handed to the client and
	// for writing while Switch replaces the client.
	mu      sync.RWMutex
	region  string
	primary string // active-passive: the primary; hub-spoke: the hub
	cl      *kgo.Client
	closed  bool
}

// NewProducer returns a Producer for the mesh m. It does no I/O.
func NewProducer(m *topology.Mesh, opts ...ProducerOpt) (*Producer, error) {
	cfg := defaults()
	for _, o := range opts {
		o.applyProducer(&cfg)
	}
	p := &Producer{mesh: m, flows: topology.Plan(m), cfg: cfg, region: cfg.region, primary: defaultWriter(m), done: make(chan struct{})}
	if p.region == "" {
		p.region = p.primary
	}
	if p.region == "" {
		return nil, fmt.Errorf("producer of active-active mesh %s: Region is required", m.Name)
	}
	p.home = p.region
	cl, err := p.newClient(p.region)
	if err != nil {
		return nil, err
	}
	p.cl = cl
	return p, nil
}

func (p *Producer) newClient(region string) (*kgo.Client, error) {
	r, err := dataRegion(p.mesh, region)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	cl, err := broker.NewClient(region, r.Kafka, p.cfg.kgoOpts...)
	if err != nil {
		return nil, fmt.Errorf("producer in region %s: %w", region, err)
	}
	return cl, nil
}

// Region is the region the producer writes to now.
func (p *Producer) Region() string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.region
}

// Produce writes r asynchronously to r.Topic in the current region and
// calls promise (if not nil) with the result. A record the region must
// not take fails at once with ErrNotPrimary. While a Follower holds the
// producer paused, Produce waits until it resumes; if ctx ends first, the
// record fails with an error wrapping ErrPaused and ctx's error.
func (p *Producer) Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error)) {
	if promise == nil {
		promise = func(*kgo.Record, error) {}
	}
	for {
		if err := p.waitOpen(ctx); err != nil {
			promise(r, err)
			return
		}
		p.mu.RLock()
		// Checked again under mu: pause takes mu once after closing
		// the gate, so no record passes it after pause returns.
		if p.paused() && !p.closed {
			p.mu.RUnlock()
			continue
		}
		if err := p.check(r); err != nil {
			p.mu.RUnlock()
			promise(r, err)
			return
		}
		p.cl.Produce(ctx, r, promise)
		p.mu.RUnlock()
		return
	}
}

// waitOpen waits while the producer is paused.
func (p *Producer) waitOpen(ctx context.Context) error {
	p.gmu.Lock()
	g := p.gate
	p.gmu.Unlock()
	if g == nil {
		return nil
	}
	select {
	case <-g:
		return nil
	case <-p.done:
		return nil // check reports the close
	case <-ctx.Done():
		return fmt.Errorf("producer in region %s: %w: %w", p.Region(), ErrPaused, ctx.Err())
	}
}

func (p *Producer) paused() bool {
	p.gmu.Lock()
	defer p.gmu.Unlock()
	return p.gate != nil
}

// pause holds back every record not handed to the client yet, then waits,
// within ctx, for the answers to those in flight: once it returns, the
// region gets nothing more from this producer until resume.
func (p *Producer) pause(ctx context.Context) error {
	p.gmu.Lock()
	if p.gate == nil {
		p.gate = make(chan struct{})
	}
	p.gmu.Unlock()
	p.mu.Lock()
	//lint:ignore SA2001 an empty critical section: waits out every Produce past the gate
	p.mu.Unlock()
	return p.Flush(ctx)
}

// resume lets the records held back by pause go.
func (p *Producer) resume() {
	p.gmu.Lock()
	defer p.gmu.Unlock()
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
}

// ProduceSync writes records and waits for every result.
func (p *Producer) ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	var wg sync.WaitGroup
	out := make(kgo.ProduceResults, len(rs))
	for i, r := range rs {
		wg.Add(1)
		p.Produce(ctx, r, func(r *kgo.Record, err error) {
			out[i] = kgo.ProduceResult{Record: r, Err: err}
			wg.Done()
		})
	}
	wg.Wait()
	return out
}

// check refuses what the current region must not take and sets the
// record id.
func (p *Producer) check(r *kgo.Record) error {
	if p.closed {
		return fmt.Errorf("producer in region %s: %w", p.region, kgo.ErrClientClosed)
	}
	if r.Topic == "" {
		return fmt.Errorf("producer in region %s: the record names no topic", p.region)
	}
	if err := checkWrite(p.mesh, p.flows, p.primary, p.region, r.Topic); err != nil {
		return err
	}
	if p.cfg.recordIDs {
		if _, ok := header(r.Headers, HeaderRecordID); !ok {
			var id [16]byte
			_, _ = rand.Read(id[:]) // never fails (crypto/rand)
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderRecordID, Value: []byte(hex.EncodeToString(id[:]))})
		}
	}
	return nil
}

// Flush waits until every record produced so far has its result.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("producer in region %s: flush: %w", p.region, err)
	}
	return nil
}

// Switch makes region the one the producer writes to. In an
// active-passive mesh region becomes the primary, in a hub-spoke mesh the
// hub if it is the hub or the standby hub: Switch is how a failover
// decision reaches the producer. It first waits, within ctx, for the
// records in flight to the old region; those still unanswered when ctx
// ends fail with kgo.ErrClientClosed.
func (p *Producer) Switch(ctx context.Context, region string) error {
	if _, err := dataRegion(p.mesh, region); err != nil {
		return fmt.Errorf("producer: switch: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("producer: %w", kgo.ErrClientClosed)
	}
	switch p.mesh.Kind {
	case topology.KindActivePassive:
		p.primary = region
	case topology.KindHubSpoke:
		if region == p.mesh.Roles.Hub || region == p.mesh.Roles.StandbyHub {
			p.primary = region
		}
	}
	if region == p.region {
		return nil
	}
	cl, err := p.newClient(region)
	if err != nil {
		return err
	}
	if err := p.cl.Flush(ctx); err != nil {
		p.cfg.logger.Warn("producer switched before every record in flight to the old region was answered; those failed",
			"from", p.region, "to", region, "err", err)
	}
	p.cl.Close()
	p.cl, p.region = cl, region
	return nil
}

// Close closes the client; records not answered yet fail with
// kgo.ErrClientClosed (call Flush first to wait for them). It is
// idempotent.
func (p *Producer) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	close(p.done)
	p.cl.Close()
}
