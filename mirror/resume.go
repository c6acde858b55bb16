package mirror

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// resumeDepth is how many records at the end of a target partition
// resumeFromCopies reads for copies of the source partition: a copy topic
// fed by one region ends with them; a topic that mixes origins may hide
// them deeper, and then the flow's own progress stands.
const resumeDepth = 1000

// resumeTimeout bounds the read of the target partitions' ends.
const resumeTimeout = 15 * time.Second

// copiedBy is the newest copy of a source partition found in a target
// partition: its provenance and where it is.
type copiedBy struct {
	origin    int64 // the source offset it copies
	target    int64 // its own offset
	timestamp int64
}

// resumeFromCopies starts partitions after the copies that another flow
// already wrote of their records into the same target partition. After a
// hub fails over, the spokes' flows into the new hub find there what the
// standby flow copied from the old hub (the provenance names the spoke's
// partition and offset, kept across hops), and at failback the flows into
// the old hub what came back to it; without this each such record would
// be copied a second time. A partition is read only when its target
// holds more than its own progress accounts for: no progress and a
// non-empty target, or committed records past the flow's last copy and
// the transaction marker after it.
//
// It returns how many partitions moved; consume is updated for them.
func (ss *session) resumeFromCopies(ctx context.Context, consume map[string]map[int32]kgo.Offset) (int, error) {
	topics := map[string]bool{}
	for _, ps := range ss.parts {
		topics[ps.target] = true
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	ctx, cancel := context.WithTimeout(ctx, resumeTimeout)
	defer cancel()
	// The last stable offsets: a transaction another producer holds open
	// (an application writing into the same topic) would keep a reader
	// from ever reaching the high watermark.
	ends, err := ss.dstAd.ListCommittedOffsets(ctx, names...)
	if err != nil {
		return 0, fmt.Errorf("cluster %s: end offsets of the copies: %w", ss.cfg.Flow.Target, err)
	}
	starts, err := ss.dstAd.ListStartOffsets(ctx, names...)
	if err != nil {
		return 0, fmt.Errorf("cluster %s: start offsets of the copies: %w", ss.cfg.Flow.Target, err)
	}
	read := map[string]map[int32]kgo.Offset{}
	until := map[Partition]int64{}
	for p, ps := range ss.parts {
		if ps.paused {
			continue
		}
		end, ok := ends.Lookup(ps.target, p.Partition)
		start, ok2 := starts.Lookup(ps.target, p.Partition)
		if !ok || !ok2 || end.Err != nil || start.Err != nil || end.Offset <= start.Offset {
			continue
		}
		// The flow's own last copy is followed by its commit marker.
		if c := ps.committed; c.LastTarget >= 0 && end.Offset <= c.LastTarget+2 {
			continue
		}
		if read[ps.target] == nil {
			read[ps.target] = map[int32]kgo.Offset{}
		}
		read[ps.target][p.Partition] = kgo.NewOffset().At(max(start.Offset, end.Offset-resumeDepth))
		until[Partition{Topic: ps.target, Partition: p.Partition}] = end.Offset
	}
	if len(read) == 0 {
		return 0, nil
	}
	found, err := ss.newestCopies(ctx, read, until)
	if err != nil {
		return 0, err
	}
	moved := 0
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	for p, ps := range ss.parts {
		c, ok := found[p]
		if !ok || c.origin < ps.committed.Next {
			continue
		}
		ps.committed = Progress{Next: c.origin + 1, LastSource: c.origin, LastTarget: c.target, LastTimestamp: c.timestamp}
		ps.pending = ps.committed
		consume[p.Topic][p.Partition] = kgo.NewOffset().At(c.origin + 1)
		if st := ss.s.prog[p]; st != nil {
			st.committed = ps.committed
		}
		moved++
	}
	return moved, nil
}

// newestCopies reads the target partitions of read up to until and
// returns, by source partition of this flow, the newest copy of it found.
func (ss *session) newestCopies(ctx context.Context, read map[string]map[int32]kgo.Offset, until map[Partition]int64) (map[Partition]copiedBy, error) {
	cl, err := ss.cfg.Target(kgo.ConsumePartitions(read), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.FetchMaxWait(250*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("cluster %s: reader of the copies: %w", ss.cfg.Flow.Target, err)
	}
	defer cl.Close()
	found := map[Partition]copiedBy{}
	left := len(until)
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			// What was read stands; the rest resume from their progress.
			return found, nil
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			ferr = fmt.Errorf("cluster %s: reading %s[%d]: %w", ss.cfg.Flow.Target, t, p, err)
		})
		if ferr != nil {
			return nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			tp := Partition{Topic: r.Topic, Partition: r.Partition}
			end, ok := until[tp]
			if !ok {
				return
			}
			if r.Offset+1 >= end {
				delete(until, tp)
				left--
			}
			if src, off, ok := ss.originOf(r); ok {
				found[src] = copiedBy{origin: off, target: r.Offset, timestamp: r.Timestamp.UnixMilli()}
			}
		})
	}
	return found, nil
}

// originOf returns the source partition of this flow and the offset that
// r is a copy of, if r is one.
func (ss *session) originOf(r *kgo.Record) (Partition, int64, bool) {
	var region, topic string
	part, off := int64(-1), int64(-1)
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderOriginRegion:
			region = string(h.Value)
		case HeaderOriginTopic:
			topic = string(h.Value)
		case HeaderOriginPartition:
			part, _ = strconv.ParseInt(string(h.Value), 10, 32)
		case HeaderOriginOffset:
			off, _ = strconv.ParseInt(string(h.Value), 10, 64)
		}
	}
	if region != ss.cfg.Flow.Source || topic == "" || part < 0 || off < 0 {
		return Partition{}, 0, false
	}
	p := Partition{Topic: topic, Partition: int32(part)}
	ps, ok := ss.parts[p]
	if !ok || ps.target != r.Topic || p.Partition != r.Partition {
		return Partition{}, 0, false
	}
	return p, off, true
}
