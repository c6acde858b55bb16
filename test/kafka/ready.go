package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pollInterval is how often readiness is probed; a node start takes
// seconds, so finer polling would only burn the CPU the JVMs need.
const pollInterval = 200 * time.Millisecond

// waitReady polls until every running node is ready (see probe), up to
// Options.StartTimeout. It fails fast, wrapping errPortTaken when that is
// the cause, if a node's process exits.
func (c *Cluster) waitReady(ctx context.Context) error {
	begin := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()

	var running []*node
	var ids []int32
	for _, n := range c.nodes {
		if n.proc != nil {
			running = append(running, n)
			ids = append(ids, int32(n.id))
		}
	}
	// One client per node, seeded with that node only, so each probe
	// asks that node and not whichever one kgo would pick.
	clients := make([]*kgo.Client, len(running))
	for i, n := range running {
		opts := []kgo.Opt{kgo.SeedBrokers(n.addr()), kgo.DialTimeout(time.Second)}
		if c.opts.Dial != nil {
			opts = append(opts, kgo.Dialer(c.opts.Dial))
		}
		if c.pki != nil {
			opts = append(opts, c.pki.adminOptions()...)
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return fmt.Errorf("kafkatest: client for broker %d: %w", n.id, err)
		}
		defer cl.Close()
		clients[i] = cl
	}

	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	notReady := make([]error, len(running))
	for {
		done := true
		for i, n := range running {
			if n.proc.exited() {
				return c.exitError(n)
			}
			notReady[i] = c.probe(ctx, clients[i], ids)
			if notReady[i] != nil {
				done = false
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			var errs []error
			for i, n := range running {
				if notReady[i] != nil {
					errs = append(errs, fmt.Errorf("kafkatest: broker %d at %s not ready after %s (%w): %w; log %s:\n%s",
						n.id, n.addr(), time.Since(begin).Round(time.Millisecond), ctx.Err(), notReady[i], n.logPath(), tail(n.logPath(), 40)))
				}
			}
			return errors.Join(errs...)
		case <-tick.C:
		}
	}
}

// probe asks one node for metadata and reports why it is not ready yet:
// the node must belong to this cluster, know a controller, list every
// running node, and see every replica on a running node in its
// partition's ISR.
func (c *Cluster) probe(ctx context.Context, cl *kgo.Client, running []int32) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// Nil topics asks for all topics, internal ones included.
	resp, err := cl.SeedBrokers()[0].Request(ctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		return err
	}
	md := resp.(*kmsg.MetadataResponse)
	if md.ClusterID == nil || *md.ClusterID != c.clusterID {
		return fmt.Errorf("cluster id %v, want %s (another cluster on this port?)", md.ClusterID, c.clusterID)
	}
	if md.ControllerID < 0 {
		return errors.New("no controller known")
	}
	var listed []int32
	for _, b := range md.Brokers {
		listed = append(listed, b.NodeID)
	}
	for _, id := range running {
		if !slices.Contains(listed, id) {
			return fmt.Errorf("metadata lists brokers %v, not yet %d", listed, id)
		}
	}
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			for _, r := range p.Replicas {
				if slices.Contains(running, r) && !slices.Contains(p.ISR, r) {
					return fmt.Errorf("replica %d of %s[%d] not in ISR %v", r, topicName(t.Topic), p.Partition, p.ISR)
				}
			}
		}
	}
	return nil
}

// exitError describes a node whose process ended while it should be
// starting, wrapping errPortTaken if its log shows a bind failure.
func (c *Cluster) exitError(n *node) error {
	log := tail(n.logPath(), 40)
	err := fmt.Errorf("kafkatest: broker %d exited while starting (%v); log %s:\n%s", n.id, n.proc.err, n.logPath(), log)
	if strings.Contains(log, "Address already in use") {
		return fmt.Errorf("%w: %w", errPortTaken, err)
	}
	return err
}

func topicName(s *string) string {
	if s == nil {
		return "<unnamed topic>"
	}
	return *s
}
