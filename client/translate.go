package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

// errNoFlow marks an answer that no retry changes: the agent has no flow
// from the old region, or refuses the request.
var errNoFlow = errors.New("the agent cannot translate from this region")

// offsetMap is target topic → partition → offset.
type offsetMap map[string]map[int32]int64

func (o offsetMap) set(topic string, p int32, at int64) {
	if o[topic] == nil {
		o[topic] = map[int32]int64{}
	}
	o[topic][p] = at
}

// translate asks the agents of region to for the group's committed offsets
// in region from, translated, until every partition of the consumer's
// topics is translated or ctx ends. A partition the copier has not reached
// yet ("behind") or that an open transaction hides for a moment is asked
// again; those are the normal states right after a final commit.
func (c *Consumer) translate(ctx context.Context, from, to string, topics map[string]bool) (offsetMap, error) {
	r, _ := c.mesh.Region(to)
	var last error
	for {
		for _, a := range r.Agents {
			res, err := c.askAgent(ctx, a.API, from)
			if errors.Is(err, errNoFlow) {
				return nil, err
			}
			if err != nil {
				last = fmt.Errorf("agent %s: %w", a.ID, err)
				continue
			}
			out, ends, err := translated(res, topics, c.resumeHint(to))
			if err == nil {
				err = c.afterLastCopies(ctx, from, to, ends, out)
			}
			if err == nil {
				return out, nil
			}
			last = fmt.Errorf("agent %s: %w", a.ID, err)
			break // the agent answered; asking its peers now would not help
		}
		if err := sleep(ctx); err != nil {
			return nil, fmt.Errorf("translate group %s from region %s to %s: %w (last: %v)", c.group, from, to, err, last)
		}
	}
}

func (c *Consumer) askAgent(ctx context.Context, addr, from string) (*api.TranslateResponse, error) {
	res, err := api.NewClient(c.mesh, api.ClientOptions{HTTP: c.cfg.httpClient}).Translate(ctx, addr, c.group, from)
	if api.StatusOf(err) == http.StatusBadRequest {
		return nil, fmt.Errorf("translate group %s from %s at agent %s: %w: %v", c.group, from, addr, errNoFlow, err)
	}
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// translated keeps the partitions of the consumer's topics, or says which
// one is not translated yet. hint, if not nil, may answer for a partition
// instead of the agent (see Consumer.resumeHint). ends are the partitions
// the agent answered "end" for.
func translated(res *api.TranslateResponse, topics map[string]bool, hint func(api.Translation) (string, int32, int64, bool)) (out offsetMap, ends []api.Translation, err error) {
	out = offsetMap{}
	for _, t := range res.Partitions {
		if !topics[t.Topic] {
			continue
		}
		if hint != nil {
			if topic, p, at, ok := hint(t); ok {
				out.set(topic, p, at)
				continue
			}
		}
		switch t.State {
		case api.TranslationEnd:
			ends = append(ends, t)
			out.set(t.TargetTopic, t.Partition, t.TargetOffset)
		case api.TranslationCopied, api.TranslationTruncated:
			out.set(t.TargetTopic, t.Partition, t.TargetOffset)
		case "":
			return nil, nil, fmt.Errorf("topic %s partition %d: %s", t.Topic, t.Partition, t.Error)
		default:
			return nil, nil, fmt.Errorf("topic %s partition %d at %d: %s", t.Topic, t.Partition, t.SourceOffset, t.State)
		}
	}
	return out, ends, nil
}

// scanLimit bounds how far back afterLastCopies looks for the last copy.
const scanLimit = 1 << 16

// afterLastCopies corrects the agent's "end" answers of an active-passive
// mesh after a planned switch or a failover. "end" is the target's last
// stable offset: right for a standby, which takes no writes of its own,
// but the consumer moves to a region that has become primary, and the
// producers that followed the flip may already have written there. Those
// records sit after the last copy from the old region, and the group has
// not read them: it resumes right after that copy. It is found by reading
// back from the answer, up to scanLimit records; a partition with no copy
// in that range keeps the agent's answer.
func (c *Consumer) afterLastCopies(ctx context.Context, from, to string, ends []api.Translation, out offsetMap) error {
	if c.mesh.Kind != topology.KindActivePassive || len(ends) == 0 {
		return nil
	}
	r, _ := c.mesh.Region(to)
	pending := ends
	for back := int64(64); len(pending) > 0; back *= 4 {
		spans := map[scanKey][2]int64{}
		for _, t := range pending {
			spans[scanKey{t.TargetTopic, t.Partition}] = [2]int64{max(t.TargetOffset-back, 0), t.TargetOffset}
		}
		found, err := lastCopies(ctx, to, r, from, spans, c.cfg.kgoOpts)
		if err != nil {
			return err
		}
		var next []api.Translation
		for _, t := range pending {
			k := scanKey{t.TargetTopic, t.Partition}
			if at, ok := found[k]; ok {
				out.set(t.TargetTopic, t.Partition, at+1)
			} else if spans[k][0] > 0 && back < scanLimit {
				next = append(next, t)
			}
		}
		pending = next
	}
	return nil
}

type scanKey struct {
	topic     string
	partition int32
}

// lastCopies reads the span [start, end) of each partition in region to
// and returns, per partition, the offset of the last record there copied
// from region from; one client reads them all, built with the consumer's
// kgo options.
func lastCopies(ctx context.Context, to string, r *topology.Region, from string, spans map[scanKey][2]int64, opts []kgo.Opt) (map[scanKey]int64, error) {
	starts := map[string]map[int32]kgo.Offset{}
	for k, sp := range spans {
		if starts[k.topic] == nil {
			starts[k.topic] = map[int32]kgo.Offset{}
		}
		starts[k.topic][k.partition] = kgo.NewOffset().At(sp[0])
	}
	cl, err := broker.NewClient(to, r.Kafka, append(slices.Clone(opts), kgo.ConsumePartitions(starts),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(200*time.Millisecond))...)
	if err != nil {
		return nil, fmt.Errorf("region %s: %w", to, err)
	}
	defer cl.Close()
	found := map[scanKey]int64{}
	done := map[scanKey]bool{}
	wait := 2 * time.Second // the first fetch also connects
	for len(done) < len(spans) {
		// A poll that returns nothing has reached the ends: records up to
		// them are stable (an end is a last stable offset), and the
		// offsets just below are often transaction markers, never
		// returned.
		pctx, cancel := context.WithTimeout(ctx, wait)
		fs := cl.PollFetches(pctx)
		cancel()
		wait = 300 * time.Millisecond
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		n := 0 // records of partitions not done: new writes after an end do not count
		fs.EachRecord(func(rec *kgo.Record) {
			k := scanKey{rec.Topic, rec.Partition}
			if done[k] {
				return
			}
			n++
			end := spans[k][1]
			if rec.Offset >= end-1 {
				done[k] = true
			}
			if rec.Offset >= end {
				return
			}
			if o, ok := header(rec.Headers, HeaderOriginRegion); ok && string(o) == from {
				found[k] = rec.Offset
			}
		})
		if n == 0 {
			break
		}
	}
	return found, nil
}

// lastRecords is, per topic and partition, the provenance of the last
// record Poll returned there.
type lastRecords map[string]map[int32]lastRecord

type lastRecord struct {
	offset int64
	// The origin of a copy; region is empty for a record produced here.
	region, topic string
	partition     int32
	originOffset  int64
}

// note remembers r as the last record of its partition.
func (l *lastRecords) note(r *kgo.Record) {
	if *l == nil {
		*l = lastRecords{}
	}
	if (*l)[r.Topic] == nil {
		(*l)[r.Topic] = map[int32]lastRecord{}
	}
	lr := lastRecord{offset: r.Offset}
	if o, off, ok := provenance(r); ok {
		lr.region, lr.topic, lr.partition, lr.originOffset = o.region, o.topic, o.partition, off
	}
	(*l)[r.Topic][r.Partition] = lr
}

// origin names the partition a record was first written to.
type origin struct {
	region, topic string
	partition     int32
}

// provenance returns the origin and origin offset a copy carries in its
// headers; ok is false for a record produced where it is.
func provenance(r *kgo.Record) (o origin, offset int64, ok bool) {
	region, ok1 := header(r.Headers, HeaderOriginRegion)
	topic, ok2 := header(r.Headers, HeaderOriginTopic)
	part, err1 := strconv.ParseInt(string(headerValue(r.Headers, HeaderOriginPartition)), 10, 32)
	off, err2 := strconv.ParseInt(string(headerValue(r.Headers, HeaderOriginOffset)), 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return origin{}, 0, false
	}
	return origin{region: string(region), topic: string(topic), partition: int32(part)}, off, true
}

// readBefore is, after a switch away from a region that could not be
// reached, the origin offset of the last record this instance read there,
// per origin partition. The group resumes in the new region from offsets
// synced a while before, so the copies of those records, and of the ones
// before them, come again; Poll drops them.
type readBefore map[origin]int64

// readBefore returns the last records read in region (where l was noted)
// by their origin.
func (l lastRecords) readBefore(region string) readBefore {
	rb := readBefore{}
	for topic, parts := range l {
		for p, lr := range parts {
			if lr.region == "" {
				rb[origin{region: region, topic: topic, partition: p}] = lr.offset
			} else {
				rb[origin{region: lr.region, topic: lr.topic, partition: lr.partition}] = lr.originOffset
			}
		}
	}
	return rb
}

// filter returns the records of rs, read in region, that are not copies
// of records read before, and counts the others. A copy keeps its
// origin's order, so an origin partition is forgotten at its first record
// past the one read before.
func (rb readBefore) filter(region string, rs []*kgo.Record) (kept []*kgo.Record, dropped int) {
	kept = rs[:0]
	for _, r := range rs {
		o, off, ok := provenance(r)
		if !ok {
			o, off = origin{region: region, topic: r.Topic, partition: r.Partition}, r.Offset
		}
		last, seen := rb[o]
		switch {
		case seen && off <= last:
			dropped++
			continue
		case seen:
			delete(rb, o)
		}
		kept = append(kept, r)
	}
	return kept, dropped
}

func headerValue(hs []kgo.RecordHeader, key string) []byte {
	v, _ := header(hs, key)
	return v
}

// resumeHint answers, for a switch to region to, the partitions whose
// last record consumed is a copy of a record of to: the group resumes
// right after the original, in the topic the consumer reads there. The
// agent cannot answer for those when the flow back to to never copied
// them (they came from to): the copies that reach the old region between
// a planned switch's flip and the consumer's move, or, after a failover
// and its failback, the old region's records read as copies.
func (c *Consumer) resumeHint(to string) func(api.Translation) (string, int32, int64, bool) {
	reads := map[string]bool{}
	if names, err := c.Topics(to); err == nil {
		for _, n := range names {
			reads[n] = true
		}
	}
	return func(t api.Translation) (string, int32, int64, bool) {
		lr, ok := c.last[t.Topic][t.Partition]
		// Only when this instance read up to the group's final offset:
		// another member's partitions are the agent's to translate.
		if !ok || lr.region != to || lr.offset+1 != t.SourceOffset || !reads[lr.topic] {
			return "", 0, 0, false
		}
		return lr.topic, lr.partition, lr.originOffset + 1, true
	}
}
