package mirror

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaDefaultMaxMessageBytes is Kafka's max.message.bytes default, used for
// a topic whose limit could not be read.
const kafkaDefaultMaxMessageBytes = 1048588

// topicInfo is what the shard must know of a target topic to tell, before
// producing, whether the target can take a record. A record the broker
// refuses inside a transaction dooms the whole transaction; checking first
// turns it into a decision about one partition.
type topicInfo struct {
	exists     bool
	partitions int32
	maxBytes   int
}

// topicLimits caches topicInfo of target topics. The producer's batch-size
// function reads it from franz-go's goroutines, hence the lock.
type topicLimits struct {
	mu sync.Mutex
	m  map[string]topicInfo
}

func (l *topicLimits) get(topic string) (topicInfo, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ti, ok := l.m[topic]
	return ti, ok
}

// batchMax is the producer's per-topic batch cap: a batch larger than the
// topic's max.message.bytes would be refused whole, records that would fit
// alone included. franz-go reads it once per partition per client; the shard
// builds a new client whenever a limit it relies on changed.
func (l *topicLimits) batchMax(topic string) int32 {
	ti, ok := l.get(topic)
	if !ok || !ti.exists {
		return 1000012 // franz-go's own default
	}
	return int32(min(max(ti.maxBytes, 512), 1<<30))
}

// load reads partition counts and max.message.bytes of topics from the
// target cluster and replaces their entries.
func (l *topicLimits) load(ctx context.Context, adm *kadm.Client, cluster string, topics ...string) error {
	if len(topics) == 0 {
		return nil
	}
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("cluster %s: metadata of %v: %w", cluster, topics, err)
	}
	fresh := make(map[string]topicInfo, len(topics))
	var existing []string
	for _, t := range topics {
		d, ok := details[t]
		switch {
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			fresh[t] = topicInfo{}
		case d.Err != nil:
			return fmt.Errorf("cluster %s: metadata of topic %s: %w", cluster, t, d.Err)
		default:
			fresh[t] = topicInfo{exists: true, partitions: int32(len(d.Partitions)), maxBytes: kafkaDefaultMaxMessageBytes}
			existing = append(existing, t)
		}
	}
	if len(existing) > 0 {
		rcs, err := adm.DescribeTopicConfigs(ctx, existing...)
		if err != nil {
			return fmt.Errorf("cluster %s: configs of %v: %w", cluster, existing, err)
		}
		for _, rc := range rcs {
			if rc.Err != nil {
				return fmt.Errorf("cluster %s: configs of topic %s: %w", cluster, rc.Name, rc.Err)
			}
			for _, c := range rc.Configs {
				if c.Key != "max.message.bytes" || c.Value == nil {
					continue
				}
				if n, err := strconv.Atoi(*c.Value); err == nil {
					ti := fresh[rc.Name]
					ti.maxBytes = n
					fresh[rc.Name] = ti
				}
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[string]topicInfo)
	}
	for t, ti := range fresh {
		l.m[t] = ti
	}
	return nil
}

// recordBatchOverhead is the size of a v2 record batch header, which the
// broker counts against max.message.bytes.
const recordBatchOverhead = 61

// batchSize is the size of a batch holding only r with the given headers,
// uncompressed: what the broker compares with max.message.bytes when the
// record is sent alone, and what franz-go compares with its batch cap.
func batchSize(r *kgo.Record, headers []kgo.RecordHeader) int {
	body := 1 + 1 + 1 // attributes, timestamp delta 0, offset delta 0
	if r.Key == nil {
		body += varintLen(-1)
	} else {
		body += varintLen(int64(len(r.Key))) + len(r.Key)
	}
	if r.Value == nil {
		body += varintLen(-1)
	} else {
		body += varintLen(int64(len(r.Value))) + len(r.Value)
	}
	body += varintLen(int64(len(headers)))
	for _, h := range headers {
		body += varintLen(int64(len(h.Key))) + len(h.Key) + varintLen(int64(len(h.Value))) + len(h.Value)
	}
	return recordBatchOverhead + varintLen(int64(body)) + body
}

// varintLen is the length of n as a zig-zag varint.
func varintLen(n int64) int {
	u := uint64(n<<1) ^ uint64(n>>63)
	l := 1
	for u >= 0x80 {
		u >>= 7
		l++
	}
	return l
}
