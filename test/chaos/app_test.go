//go:build linux

package chaos

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	gmclient "github.com/geomesh/geomesh/client"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/test/chaos/history"
	"github.com/geomesh/geomesh/topology"
)

// application is what the failover scenarios drive and measure: a
// producer and a consumer group that follow the mesh, in Go (app) or in
// another language (driver, conformance_test.go), recording into an
// appLog.
type application interface {
	// log is what the application did so far.
	log() *appLog
	// stopProducer stops the producer and waits until it has recorded
	// its last batch.
	stopProducer()
	// stop ends the application, once: the producer, the consumer and
	// the follower stop and the clients close.
	stop()
}

// appLog is what an application did, as the scenarios read it: its
// history, when each region acknowledged its batches, and its follower's
// events. Safe for concurrent use.
type appLog struct {
	name     string // of its consumer group (app-NAME) and in its record ids
	rec      *history.Recorder
	switches atomic.Int64 // names records whose region a switch made uncertain

	mu      sync.Mutex
	acks    map[string][]time.Time // region → acknowledgement times, in order
	follows []follow
}

// follow is one event of an application's follower.
type follow struct {
	at       time.Time
	kind     string // epoch, paused, switched, resumed, failed
	client   string // producer, "consumer group G"
	epoch    uint64
	from, to string
	took     time.Duration
	err      string
}

func newAppLog(name string, rec *history.Recorder) *appLog {
	return &appLog{name: name, rec: rec, acks: map[string][]time.Time{}}
}

// region names where records went, or one name of their own when a
// switch happened while they were produced, so the checker never orders
// them against another region's.
func (l *appLog) region(before, after string) string {
	if before == after {
		return after
	}
	return fmt.Sprintf("switching-%d", l.switches.Add(1))
}

// acked notes that region acknowledged a batch at.
func (l *appLog) acked(region string, at time.Time) {
	l.mu.Lock()
	l.acks[region] = append(l.acks[region], at)
	l.mu.Unlock()
}

func (l *appLog) followed(f follow) {
	l.mu.Lock()
	l.follows = append(l.follows, f)
	l.mu.Unlock()
}

// firstFollow is the first follower event of kind, of a client whose
// name starts with client, at or after since.
func (l *appLog) firstFollow(kind, client string, since time.Time) (follow, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.follows {
		if f.kind == kind && strings.HasPrefix(f.client, client) && !f.at.Before(since) {
			return f, true
		}
	}
	return follow{}, false
}

// firstAck is when region first acknowledged a batch after since.
func (l *appLog) firstAck(region string, since time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, at := range l.acks[region] {
		if at.After(since) {
			return at, true
		}
	}
	return time.Time{}, false
}

// waitAcked waits until region acknowledged n more batches.
func (l *appLog) waitAcked(t *testing.T, region string, n int) {
	t.Helper()
	l.mu.Lock()
	base := len(l.acks[region])
	l.mu.Unlock()
	poll.Until(t, 60*time.Second, func() error {
		l.mu.Lock()
		got := len(l.acks[region]) - base
		l.mu.Unlock()
		if got < n {
			return fmt.Errorf("%s acknowledged %d more batches, want %d", region, got, n)
		}
		return nil
	})
}

// drain gives the consumer up to 60s to read what was acknowledged
// last, once the producer has stopped.
func (l *appLog) drain(t *testing.T) {
	deadline := time.Now().Add(60 * time.Second)
	for len(history.Check(l.rec.History(), history.Options{})) > 0 && time.Now().Before(deadline) {
		if !sleep(t.Context(), 500*time.Millisecond) {
			return
		}
	}
}

// app is the Go application: a producer and a consumer group in the app
// namespace that follow the mesh with a client.Follower, reaching the
// agents and brokers through the WAN relays.
type app struct {
	*appLog
	prod     *gmclient.Producer
	cons     *gmclient.Consumer
	follower *gmclient.Follower
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the consumer
	pwg      sync.WaitGroup // the producer
	once     sync.Once
	halted   atomic.Bool // the producer stops
}

func (a *app) log() *appLog { return a.appLog }

// startApp starts the application name: its producer (batches of 5
// records, each batch given 3s) and its consumer group app-NAME, both recording into rec, until stop or
// ctx ends. The owner wg waits for them.
func startApp(t *testing.T, ctx context.Context, owner *sync.WaitGroup, m *failoverMesh, mesh *topology.Mesh, rec *history.Recorder, name string) *app {
	t.Helper()
	dial := gmclient.KgoOpts(kgo.Dialer(m.app.Dial), kgo.RecordDeliveryTimeout(2*time.Second), kgo.MetadataMinAge(500*time.Millisecond))
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: m.app.Dial}}
	prod, err := gmclient.NewProducer(mesh, dial)
	if err != nil {
		t.Fatal(err)
	}
	// An unreachable old region gets 1s for the final commit; then the
	// consumer resumes from the offsets the agents synced (every second),
	// of commits every 500ms, so it reads again what it read since.
	cons, err := gmclient.NewConsumer(mesh, "app-"+name, gmclient.Topics("orders"), dial, gmclient.CommitTimeout(time.Second), gmclient.HTTPClient(hc),
		gmclient.KgoOpts(kgo.AutoCommitInterval(500*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	a := &app{appLog: newAppLog(name, rec), prod: prod, cons: cons}
	a.follower, err = gmclient.NewFollower(mesh, []gmclient.Followed{prod, cons}, gmclient.HTTPClient(hc),
		gmclient.FollowInterval(200*time.Millisecond), gmclient.OnEvent(func(ev gmclient.FollowEvent) {
			t.Logf("follower: %s %s epoch %d %s %s→%s %s %v", ev.Kind, ev.Client, ev.Epoch, ev.Decision, ev.From, ev.To, ev.Took, ev.Err)
			f := follow{at: time.Now(), kind: string(ev.Kind), client: ev.Client, epoch: ev.Epoch, from: ev.From, to: ev.To, took: ev.Took}
			if ev.Err != nil {
				f.err = ev.Err.Error()
			}
			a.followed(f)
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	a.cancel = cancel
	a.follower.Start(ctx)
	a.pwg.Go(func() { a.produce(ctx) })
	a.wg.Go(func() { a.consume(ctx) })
	owner.Go(func() {
		<-ctx.Done()
		a.stop()
	})
	return a
}

func (a *app) stop() {
	a.once.Do(func() {
		a.stopProducer()
		a.cancel()
		a.wg.Wait()
		a.follower.Close()
		a.prod.Close()
		_ = a.cons.Close()
	})
}

func (a *app) stopProducer() {
	a.halted.Store(true)
	a.pwg.Wait()
}

func (a *app) produce(ctx context.Context) {
	for i := 0; ctx.Err() == nil && !a.halted.Load(); i++ {
		rs := make([]*kgo.Record, 5)
		for j := range rs {
			id := fmt.Sprintf("%s/%d-%d", a.name, i, j)
			rs[j] = &kgo.Record{Topic: "orders", Key: []byte(id), Value: []byte(id)}
		}
		before := a.prod.Region()
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		res := a.prod.ProduceSync(pctx, rs...)
		pcancel()
		now := time.Now()
		region := a.region(before, a.prod.Region())
		ok := false
		for _, r := range res {
			a.rec.Produced(history.Produce{Time: now, Region: region, Topic: "orders", Partition: r.Record.Partition,
				Offset: r.Record.Offset, ID: string(r.Record.Value), Acked: r.Err == nil})
			ok = ok || r.Err == nil
		}
		if ok {
			a.acked(region, now)
		} else if !sleep(ctx, 50*time.Millisecond) {
			return
		}
		sleep(ctx, 20*time.Millisecond)
	}
}

func (a *app) consume(ctx context.Context) {
	for ctx.Err() == nil {
		before := a.cons.Region()
		pctx, pcancel := context.WithTimeout(ctx, 250*time.Millisecond)
		rs, _ := a.cons.Poll(pctx)
		pcancel()
		region := a.region(before, a.cons.Region())
		now := time.Now()
		for _, r := range rs {
			a.rec.Consumed(history.Consume{Time: now, Region: region, Topic: r.Topic, Partition: r.Partition,
				Offset: r.Offset, ID: string(r.Value), ReadCommitted: true})
		}
	}
}
