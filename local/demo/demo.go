package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/local"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Result is what a demo run found, record by record.
type Result struct {
	Topology string `json:"topology"`
	Mesh     string `json:"mesh"`
	// Produced counts the records written into source regions.
	Produced int `json:"produced"`
	// Expected counts the copies the plan implies (a record reaches every
	// region its flows lead to, over several hops in hub-spoke).
	Expected int `json:"expected"`
	// Replicated counts the distinct expected copies found on targets.
	Replicated int `json:"replicated"`
	// Lost counts expected copies not found before the deadline.
	Lost int `json:"lost"`
	// Duplicated counts copies found more than once, and copies found
	// where the plan sends none.
	Duplicated int `json:"duplicated"`
	// OutOfOrder counts copies that arrived before a copy of an earlier
	// record of the same source partition on the same target partition.
	OutOfOrder int `json:"out_of_order"`
	// P50 and P99 replication latency: from the source record's timestamp
	// to the moment a read_committed consumer of the target received it.
	P50LatencyMs float64 `json:"p50_replication_latency_ms"`
	P99LatencyMs float64 `json:"p99_replication_latency_ms"`
	Seconds      float64 `json:"seconds"`
	// Routes lists what the demo checked: topic by region.
	Routes []Route `json:"routes"`
	// GroupSync is what group offset sync did with a group the demo
	// committed on the source of every flow that selects groups.
	GroupSync []GroupSync `json:"group_sync"`
	// Failover is set when a region was failed (RunFailover); its fields
	// are the result's own in JSON.
	*Failover
}

// Route is one (region, topic) the demo produced into or read from.
type Route struct {
	Region   string `json:"region"`
	Topic    string `json:"topic"`
	Produced int    `json:"produced,omitempty"`
	Expected int    `json:"expected,omitempty"`
	Received int    `json:"received,omitempty"`
}

// demoPartitions is the partition count of the topics the demo creates.
const demoPartitions = 3

type place struct{ region, topic string }

// demoRecord identifies a produced record: origin, source topic and
// sequence number, which the value carries.
type demoRecord struct {
	origin, topic string
	seq           int
}

// Run starts m as a local mesh on free ports (package local), produces
// records into every source region, waits for their copies on every
// region the plan sends them to and checks them one by one; then it
// checks group offset sync. The agents log to log.
func Run(ctx context.Context, m *topology.Mesh, records int, log *slog.Logger) (*Result, error) {
	return RunFailover(ctx, m, records, "", log)
}

// RunFailover is Run, then, if failRegion is set, the loss of that
// region (its agent and embedded cluster stop) and what the mesh does
// about it; see failover.go.
func RunFailover(ctx context.Context, m *topology.Mesh, records int, failRegion string, log *slog.Logger) (*Result, error) {
	if failRegion != "" {
		if _, ok := m.Region(failRegion); !ok {
			return nil, fmt.Errorf("demo: region to fail: %w", m.NoRegion(failRegion))
		}
	}
	if records < 1 {
		return nil, fmt.Errorf("demo: records must be at least 1, got %d", records)
	}
	start := time.Now()
	mesh, err := local.Start(ctx, m, local.Options{Logger: log, Ephemeral: true})
	if err != nil {
		return nil, err
	}
	defer mesh.Close()
	m = mesh.Topology()

	flows := topology.Plan(m)
	sources := demoSources(flows)
	expect := expectedCopies(flows, sources)
	res := &Result{Topology: string(m.Kind), Mesh: m.Name}

	// Source topics first: topic sync creates their copies, and the
	// consumers below start on the copies before any record exists, so
	// that receive times measure replication, not the demo's own delay.
	for _, p := range sortedPlaces(sources) {
		if err := createTopic(ctx, m, p); err != nil {
			return nil, err
		}
	}
	col := newCollector()
	var wg sync.WaitGroup
	cctx, stop := context.WithCancel(ctx)
	defer func() { stop(); wg.Wait() }()
	for _, p := range sortedPlaces(expect) {
		if err := waitTopic(ctx, m, p); err != nil {
			return nil, err
		}
		cl, err := consumer(m, p)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			col.consume(cctx, p, cl)
		}()
	}
	for _, p := range sortedPlaces(sources) {
		if err := produce(ctx, m, p, records); err != nil {
			return nil, err
		}
		res.Produced += records
		res.Routes = append(res.Routes, Route{Region: p.region, Topic: p.topic, Produced: records})
	}

	for _, want := range expect {
		res.Expected += len(want) * records
	}
	if err := col.waitFor(ctx, expect, res.Expected, 45*time.Second); err != nil {
		return nil, err
	}
	stop()
	wg.Wait()
	col.score(res, expect, records)
	if res.GroupSync, err = demoGroupSync(ctx, m, sources); err != nil {
		return nil, err
	}
	if failRegion != "" {
		if err := failDemoRegion(ctx, mesh, failRegion, sources, res); err != nil {
			return nil, err
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// demoSources picks, for every region that a flow reads from, one literal
// topic name each of its flows selects, so that every flow carries data.
func demoSources(flows []topology.Flow) map[place]bool {
	out := map[place]bool{}
	for _, f := range flows {
		for _, pat := range f.Topics.Include {
			if regexp.QuoteMeta(pat) == pat && f.Selects(pat) {
				out[place{f.Source, pat}] = true
				break
			}
		}
	}
	return out
}

// expectedCopies follows records from their source topics along the
// flows, applying the same naming and loop rules as the mirror engine, and
// returns for every (region, topic) which source topics' records land
// there.
func expectedCopies(flows []topology.Flow, sources map[place]bool) map[place][]place {
	out := map[place][]place{}
	type hop struct {
		at      place
		origin  place
		visited []string
	}
	var queue []hop
	for src := range sources {
		queue = append(queue, hop{at: src, origin: src, visited: []string{src.region}})
	}
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		for _, f := range flows {
			if f.Source != h.at.region || !f.Selects(h.at.topic) {
				continue
			}
			var hdrs []kgo.RecordHeader
			if h.at != h.origin {
				hdrs = []kgo.RecordHeader{
					{Key: mirror.HeaderOriginRegion, Value: []byte(h.origin.region)},
					{Key: mirror.HeaderVisited, Value: []byte(strings.Join(h.visited, ","))},
				}
			}
			if !mirror.Forward(f, hdrs) {
				continue
			}
			next := place{f.Target, f.TargetTopic(h.at.topic)}
			out[next] = append(out[next], h.origin)
			queue = append(queue, hop{at: next, origin: h.origin, visited: append(slices.Clone(h.visited), f.Target)})
		}
	}
	return out
}

func sortedPlaces[V any](m map[place]V) []place {
	out := make([]place, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].region != out[j].region {
			return out[i].region < out[j].region
		}
		return out[i].topic < out[j].topic
	})
	return out
}

func regionClient(m *topology.Mesh, region string, opts ...kgo.Opt) (*kgo.Client, error) {
	r, _ := m.Region(region)
	return broker.NewClient(region, r.Kafka, opts...)
}

func createTopic(ctx context.Context, m *topology.Mesh, p place) error {
	cl, err := regionClient(m, p.region)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, demoPartitions, -1, nil, p.topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("region %s: create topic %s: %w", p.region, p.topic, err)
	}
	return nil
}

// waitTopic waits until topic sync has created a copy topic.
func waitTopic(ctx context.Context, m *topology.Mesh, p place) error {
	cl, err := regionClient(m, p.region)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	err = pollUntil(ctx, 20*time.Second, func() error {
		td, err := adm.ListTopics(ctx, p.topic)
		if err != nil {
			return err
		}
		if t, ok := td[p.topic]; !ok || t.Err != nil {
			return errors.New("not created yet")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("region %s: topic %s: %w", p.region, p.topic, err)
	}
	return nil
}

func consumer(m *topology.Mesh, p place) (*kgo.Client, error) {
	return regionClient(m, p.region,
		kgo.ConsumeTopics(p.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(50*time.Millisecond),
	)
}

// produce writes records in small paced batches, so that the latency the
// demo reports is that of steady traffic, not of one burst.
func produce(ctx context.Context, m *topology.Mesh, p place, records int) error {
	cl, err := regionClient(m, p.region, kgo.DefaultProduceTopic(p.topic), kgo.ProducerLinger(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	const batch = 100
	// Paced, so that latency is measured on a stream, not on one burst
	// that the copy catches up with all at once.
	pace := time.NewTicker(5 * time.Millisecond)
	defer pace.Stop()
	for i := 0; i < records; i += batch {
		var rs []*kgo.Record
		for j := i; j < min(i+batch, records); j++ {
			rs = append(rs, &kgo.Record{
				Key:   []byte(strconv.Itoa(j % 16)),
				Value: []byte(p.region + "/" + p.topic + "/" + strconv.Itoa(j)),
			})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			return fmt.Errorf("region %s: produce to %s: %w", p.region, p.topic, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-pace.C:
		}
	}
	return nil
}

// collector gathers what the consumers of the targets receive.
type collector struct {
	mu      sync.Mutex
	seen    map[place]map[demoRecord]int
	order   map[string]int // last seq per target partition and origin
	ooo     int
	latency []time.Duration
	strange int // records that are not demo records
}

func newCollector() *collector {
	return &collector{seen: map[place]map[demoRecord]int{}, order: map[string]int{}}
}

func (c *collector) consume(ctx context.Context, p place, cl *kgo.Client) {
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		now := time.Now()
		c.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			parts := strings.Split(string(r.Value), "/")
			seq, err := strconv.Atoi(parts[len(parts)-1])
			if len(parts) != 3 || err != nil {
				c.strange++
				return
			}
			rec := demoRecord{origin: parts[0], topic: parts[1], seq: seq}
			if c.seen[p] == nil {
				c.seen[p] = map[demoRecord]int{}
			}
			c.seen[p][rec]++
			key := fmt.Sprintf("%s|%s|%d|%s|%s", p.region, p.topic, r.Partition, rec.origin, rec.topic)
			if last, ok := c.order[key]; ok && seq < last {
				c.ooo++
			}
			c.order[key] = seq
			if c.seen[p][rec] == 1 {
				c.latency = append(c.latency, now.Sub(r.Timestamp))
			}
		})
		c.mu.Unlock()
	}
}

// waitFor waits until n distinct expected copies have arrived or the
// timeout passes; what is missing then counts as lost. It fails only
// when ctx ends.
func (c *collector) waitFor(ctx context.Context, expect map[place][]place, n int, timeout time.Duration) error {
	_ = pollUntil(ctx, timeout, func() error {
		if got := c.distinct(expect); got < n {
			return fmt.Errorf("%d of %d copies received", got, n)
		}
		return nil
	})
	return ctx.Err()
}

// distinct counts distinct expected copies received so far.
func (c *collector) distinct(expect map[place][]place) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for p, got := range c.seen {
		origins := expect[p]
		for rec := range got {
			if slices.Contains(origins, place{rec.origin, rec.topic}) {
				n++
			}
		}
	}
	return n
}

func (c *collector) score(res *Result, expect map[place][]place, records int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range sortedPlaces(expect) {
		origins := expect[p]
		got := c.seen[p]
		route := Route{Region: p.region, Topic: p.topic, Expected: len(origins) * records}
		for _, o := range origins {
			for seq := range records {
				n := got[demoRecord{origin: o.region, topic: o.topic, seq: seq}]
				switch {
				case n == 0:
					res.Lost++
				default:
					res.Replicated++
					route.Received++
					res.Duplicated += n - 1
				}
			}
		}
		res.Routes = append(res.Routes, route)
	}
	for p, got := range c.seen {
		for rec, n := range got {
			if !slices.Contains(expect[p], place{rec.origin, rec.topic}) {
				res.Duplicated += n
			}
		}
	}
	res.Duplicated += c.strange
	res.OutOfOrder = c.ooo
	slices.Sort(c.latency)
	res.P50LatencyMs = quantileMs(c.latency, 0.50)
	res.P99LatencyMs = quantileMs(c.latency, 0.99)
}

func quantileMs(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return float64(sorted[i].Microseconds()) / 1000
}
