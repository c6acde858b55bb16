package topics

import (
	"context"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// listedTopic is what a pass needs of one topic of either cluster.
type listedTopic struct {
	internal bool
	// err is the topic's error in the listing (typically a topic being
	// created or deleted at that moment).
	err error
	// parts is the partition count; rf the largest replica set, since a
	// reassignment in flight briefly adds replicas.
	parts, rf int
}

// lister lists a cluster's topics and counts its brokers. A listing through
// kgo's Client.Request is also stored, partition by partition, in the
// client's metadata cache, and kadm turns it into a map per topic; at
// 10,000 partitions both together cost more than the request. A request
// to one broker skips both, and it is never answered from a cache, so a
// topic created a moment ago is seen at once.
type lister struct {
	cl *kgo.Client
	// next rotates the broker asked, so a broker that is down costs one
	// failed try per pass at most and not every pass.
	next atomic.Uint32
}

func (l *lister) list(ctx context.Context) (topics map[string]listedTopic, brokers int, err error) {
	req := kmsg.NewPtrMetadataRequest() // nil Topics: every topic
	var resp *kmsg.MetadataResponse
	if bs := l.cl.DiscoveredBrokers(); len(bs) > 0 {
		b := bs[int(l.next.Add(1))%len(bs)]
		resp, err = req.RequestWith(ctx, b)
	}
	if resp == nil || err != nil {
		// No broker known yet, or this one failed: the client picks
		// a live broker and retries.
		if resp, err = req.RequestWith(ctx, l.cl); err != nil {
			return nil, 0, err
		}
	}
	out := make(map[string]listedTopic, len(resp.Topics))
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		st := listedTopic{internal: t.IsInternal, err: kerr.ErrorForCode(t.ErrorCode), parts: len(t.Partitions)}
		for _, p := range t.Partitions {
			st.rf = max(st.rf, len(p.Replicas))
		}
		out[*t.Topic] = st
	}
	return out, len(resp.Brokers), nil
}
