package offsets

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/geomesh/geomesh/mirror"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchPartitionBytes bounds one probe's fetch. A probe needs one record;
// the broker still returns at least one whole batch however large, and the
// rest of what comes back serves the scan past other origins' records.
const fetchPartitionBytes = 256 << 10

// partitionReader is a Log over one target partition, read with single
// Fetch requests sent straight to the partition leader over a shared
// client: no consumer, no background fetching, one round trip per probe.
// It keeps the last fetch's records, so scanning forward past records of
// other origins costs a fetch per batch, not per record. Not safe for
// concurrent use; the client is.
type partitionReader struct {
	cl        *kgo.Client
	cluster   string
	topic     string
	topicID   [16]byte
	partition int32
	leader    int32
	// origin is the source partition whose copies count.
	originRegion, originTopic string
	originPartition           []byte

	buf     []Record // visible records of the last fetch, in offset order
	bufFrom int64    // the last fetch covered [bufFrom, bufNext)
	bufNext int64
	// relocate finds the partition's leader again after it moved.
	relocate func(ctx context.Context) (leader int32, err error)
}

var _ Log = (*partitionReader)(nil)

// ReadAt implements Log.
func (r *partitionReader) ReadAt(ctx context.Context, offset int64) (Record, bool, error) {
	for {
		if offset >= r.bufFrom && offset < r.bufNext {
			for _, rec := range r.buf {
				if rec.Offset >= offset {
					return rec, true, nil
				}
			}
			offset = r.bufNext
		}
		more, err := r.fetch(ctx, offset)
		if err != nil || !more {
			return Record{}, false, err
		}
	}
}

// fetch reads from offset; more is false when the partition has nothing at
// or after offset below its last stable offset.
func (r *partitionReader) fetch(ctx context.Context, offset int64) (more bool, err error) {
	for attempt := 0; ; attempt++ {
		rp, err := r.request(ctx, offset)
		if err == nil {
			err = kerr.ErrorForCode(rp.ErrorCode)
		}
		switch {
		case err == nil:
		case errors.Is(err, kerr.OffsetOutOfRange) && offset < rp.LogStartOffset:
			// Retention removed what was asked for: reading at the start
			// is what a consumer at offset would get.
			offset = rp.LogStartOffset
			continue
		case attempt < 3 && isStaleLeader(err):
			if r.leader, err = r.relocate(ctx); err != nil {
				return false, err
			}
			continue
		default:
			return false, fmt.Errorf("cluster %s: fetch topic %s partition %d at offset %d: %w", r.cluster, r.topic, r.partition, offset, err)
		}
		fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
			KeepControlRecords: true,
			Offset:             offset,
			IsolationLevel:     kgo.ReadCommitted(),
			Topic:              r.topic,
			Partition:          r.partition,
		}, rp, kgo.DefaultDecompressor(), nil)
		if fp.Err != nil {
			return false, fmt.Errorf("cluster %s: decode topic %s partition %d at offset %d: %w", r.cluster, r.topic, r.partition, offset, fp.Err)
		}
		if next <= offset {
			return false, nil // at the last stable offset
		}
		r.buf = r.buf[:0]
		for _, rec := range fp.Records {
			if rec.Attrs.IsControl() || rec.Offset < offset {
				continue
			}
			r.buf = append(r.buf, r.record(rec))
		}
		r.bufFrom, r.bufNext = offset, next
		return true, nil
	}
}

func isStaleLeader(err error) bool {
	return errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.FencedLeaderEpoch) ||
		errors.Is(err, kerr.UnknownLeaderEpoch) || errors.Is(err, kerr.LeaderNotAvailable) ||
		errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID)
}

func (r *partitionReader) request(ctx context.Context, offset int64) (*kmsg.FetchResponseTopicPartition, error) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 0 // answer at once: a probe below the end always finds data
	req.MinBytes = 1
	req.MaxBytes = fetchPartitionBytes
	req.IsolationLevel = 1 // read_committed: the broker stops at the last stable offset
	req.SessionEpoch = -1  // no fetch session
	t := kmsg.NewFetchRequestTopic()
	t.Topic, t.TopicID = r.topic, r.topicID
	p := kmsg.NewFetchRequestTopicPartition()
	p.Partition = r.partition
	p.FetchOffset = offset
	p.PartitionMaxBytes = fetchPartitionBytes
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	kr, err := r.cl.Broker(int(r.leader)).Request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: fetch topic %s partition %d at offset %d: %w", r.cluster, r.topic, r.partition, offset, err)
	}
	resp := kr.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		if rt.Topic != r.topic && rt.TopicID != r.topicID {
			continue
		}
		for j := range rt.Partitions {
			if rt.Partitions[j].Partition == r.partition {
				return &rt.Partitions[j], nil
			}
		}
	}
	return nil, fmt.Errorf("cluster %s: fetch topic %s partition %d: partition missing from the response", r.cluster, r.topic, r.partition)
}

// record reduces a fetched record to what the search needs: whether it is
// a copy of the translated source partition, and of which offset.
func (r *partitionReader) record(rec *kgo.Record) Record {
	out := Record{Offset: rec.Offset, Origin: -1}
	var region, topic, part, off []byte
	for _, h := range rec.Headers {
		switch h.Key {
		case mirror.HeaderOriginRegion:
			region = h.Value
		case mirror.HeaderOriginTopic:
			topic = h.Value
		case mirror.HeaderOriginPartition:
			part = h.Value
		case mirror.HeaderOriginOffset:
			off = h.Value
		}
	}
	if string(region) != r.originRegion || string(topic) != r.originTopic || string(part) != string(r.originPartition) {
		return out
	}
	o, err := strconv.ParseInt(string(off), 10, 64)
	if err != nil {
		return out // not a copy geomesh wrote
	}
	out.Copy, out.Origin = true, o
	return out
}
