package demo

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/geomesh/geomesh/client"
	"github.com/geomesh/geomesh/topology"
)

// demoApp is the demo's application during a failover: a producer and a
// consumer group that follow the mesh through the client library
// (client.Follower), writing and reading records with ids of their own.
type demoApp struct {
	topic    string
	prod     *client.Producer
	cons     *client.Consumer
	follower *client.Follower
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the consumer
	pwg      sync.WaitGroup // the producer
	halt     atomic.Bool    // the producer stops
	once     sync.Once

	mu       sync.Mutex
	acked    map[string]string // id → region that acknowledged it
	consumed map[string]int
	firstAck map[string]time.Time // region → first acknowledgement
}

const (
	// demoAppBatch records are produced every demoAppPace: a steady
	// 500 records/s, bounded by demoAppMax.
	demoAppBatch = 10
	demoAppPace  = 20 * time.Millisecond
	demoAppMax   = 100_000
	// demoAppPrefix starts the value (the id) of every record of the
	// application.
	demoAppPrefix = "app/"
)

// startDemoApp starts producing into topic and consuming it, until stop.
func startDemoApp(ctx context.Context, m *topology.Mesh, topic string) (*demoApp, error) {
	quick := client.KgoOpts(kgo.RecordDeliveryTimeout(2*time.Second), kgo.MetadataMinAge(200*time.Millisecond))
	prod, err := client.NewProducer(m, quick)
	if err != nil {
		return nil, err
	}
	cons, err := client.NewConsumer(m, demoAppGroup, client.Topics(topic), quick, client.CommitTimeout(time.Second),
		client.KgoOpts(kgo.AutoCommitInterval(500*time.Millisecond)))
	if err != nil {
		prod.Close()
		return nil, err
	}
	f, err := client.NewFollower(m, []client.Followed{prod, cons}, client.FollowInterval(200*time.Millisecond))
	if err != nil {
		prod.Close()
		_ = cons.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	a := &demoApp{topic: topic, prod: prod, cons: cons, follower: f, cancel: cancel,
		acked: map[string]string{}, consumed: map[string]int{}, firstAck: map[string]time.Time{}}
	f.Start(ctx)
	a.pwg.Go(func() { a.produce(ctx) })
	a.wg.Go(func() { a.consume(ctx) })
	return a, nil
}

func (a *demoApp) produce(ctx context.Context) {
	t := time.NewTicker(demoAppPace)
	defer t.Stop()
	for n := 0; n < demoAppMax && !a.halt.Load(); n += demoAppBatch {
		rs := make([]*kgo.Record, demoAppBatch)
		for i := range rs {
			id := fmt.Sprintf("%s%d", demoAppPrefix, n+i)
			rs[i] = &kgo.Record{Topic: a.topic, Key: []byte(id), Value: []byte(id)}
		}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		res := a.prod.ProduceSync(pctx, rs...)
		cancel()
		region := a.prod.Region()
		now := time.Now()
		a.mu.Lock()
		for _, r := range res {
			if r.Err == nil {
				a.acked[string(r.Record.Value)] = region
				if _, ok := a.firstAck[region]; !ok {
					a.firstAck[region] = now
				}
			}
		}
		a.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *demoApp) consume(ctx context.Context) {
	for ctx.Err() == nil {
		recs, _ := a.cons.Poll(ctx)
		a.mu.Lock()
		for _, r := range recs {
			// The topic holds the demo's replication records too.
			if id := string(r.Value); strings.HasPrefix(id, demoAppPrefix) {
				a.consumed[id]++
			}
		}
		a.mu.Unlock()
	}
}

// ackedIn counts the records region acknowledged.
func (a *demoApp) ackedIn(region string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, r := range a.acked {
		if r == region {
			n++
		}
	}
	return n
}

// consumerIn is the region the application's consumer group reads in.
func (a *demoApp) consumerIn() string { return a.cons.Region() }

// firstAckElsewhere is when a region other than region first
// acknowledged a record.
func (a *demoApp) firstAckElsewhere(region string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for r, at := range a.firstAck {
		if r != region {
			return at, true
		}
	}
	return time.Time{}, false
}

// finish stops the producer, waits up to timeout until every
// acknowledged record not in skip was read, and stops the application.
func (a *demoApp) finish(ctx context.Context, skip map[string]bool, timeout time.Duration) {
	a.halt.Store(true)
	a.pwg.Wait()
	_ = pollUntil(ctx, timeout, func() error {
		a.mu.Lock()
		defer a.mu.Unlock()
		for id := range a.acked {
			if a.consumed[id] == 0 && !skip[id] {
				return fmt.Errorf("record %s not read yet", id)
			}
		}
		return nil
	})
	a.close()
}

// close stops the application; it is idempotent.
func (a *demoApp) close() {
	a.once.Do(func() {
		a.halt.Store(true)
		a.cancel()
		a.pwg.Wait()
		a.wg.Wait()
		a.follower.Close()
		a.prod.Close()
		_ = a.cons.Close()
	})
}

// score returns the acknowledged records never read (apart from those
// in skip) and the records read more than once.
func (a *demoApp) score(skip map[string]bool) (acked, consumed, lost, duplicated int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id := range a.acked {
		if a.consumed[id] == 0 && !skip[id] {
			lost++
		}
	}
	for _, n := range a.consumed {
		consumed++
		if n > 1 {
			duplicated += n - 1
		}
	}
	return len(a.acked), consumed, lost, duplicated
}
