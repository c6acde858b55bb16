package health

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Prober checks that one region's Kafka cluster answers: a metadata
// request with a timeout. It is the agent's own data-plane evidence,
// independent of gossip and of replication. Safe for concurrent use.
type Prober struct {
	region  string
	timeout time.Duration

	mu     sync.Mutex
	kafka  *topology.Kafka
	client *kgo.Client // built on first Probe; nil after Close
	closed bool
}

// NewProber returns a prober of region's cluster whose probes give up
// after timeout (default 1s: a metadata round trip across a WAN takes a
// few hundred milliseconds at worst; a cluster slower than that to answer
// its metadata is not serving its producers either). It does no I/O.
func NewProber(region string, k *topology.Kafka, timeout time.Duration) *Prober {
	if timeout <= 0 {
		timeout = time.Second
	}
	return &Prober{region: region, kafka: k, timeout: timeout}
}

// Probe asks the cluster for its metadata and returns ProbeOK if a broker
// answered within the timeout, else ProbeFailed and the reason, naming the
// region. It returns ProbeUnknown and an error if the prober cannot be
// built (bad TLS or SASL settings), is closed, or ctx ended: those say
// nothing about the region.
func (p *Prober) Probe(ctx context.Context) (Probe, error) {
	cl, err := p.clientOnce()
	if err != nil {
		return ProbeUnknown, err
	}
	pctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	// A direct request, not kadm's cached metadata: the probe must reach
	// a broker every time.
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	_, err = req.RequestWith(pctx, cl)
	switch {
	case err == nil:
		return ProbeOK, nil
	case ctx.Err() != nil:
		return ProbeUnknown, fmt.Errorf("region %s: kafka probe: %w", p.region, ctx.Err())
	default:
		return ProbeFailed, fmt.Errorf("region %s: kafka probe: no answer within %s: %w", p.region, p.timeout, err)
	}
}

func (p *Prober) clientOnce() (*kgo.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("region %s: kafka probe: prober closed", p.region)
	}
	if p.client == nil {
		cl, err := broker.NewClient(p.region, p.kafka,
			// A probe must fail within its timeout, not retry for long.
			kgo.DialTimeout(p.timeout),
			kgo.RequestRetries(0),
			kgo.RetryTimeout(p.timeout),
			kgo.MetadataMinAge(100*time.Millisecond),
		)
		if err != nil {
			return nil, err
		}
		p.client = cl
	}
	return p.client, nil
}

// Run probes every interval until ctx ends and hands each result to
// report, which must not block for long (it delays the next probe).
func (p *Prober) Run(ctx context.Context, interval time.Duration, report func(Probe, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := p.Probe(ctx)
		if ctx.Err() != nil {
			return
		}
		report(res, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close releases the connections. It is idempotent; probes after it
// return an error.
func (p *Prober) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.client != nil {
		p.client.Close()
		p.client = nil
	}
}
