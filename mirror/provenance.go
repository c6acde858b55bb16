package mirror

import (
	"bytes"
	"strconv"

	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Provenance headers, as docs/architecture.md lists them. Every copy carries
// all five, so the target log alone answers where a record came from and
// where it has been.
const (
	HeaderOriginRegion    = "geomesh-origin-region"
	HeaderOriginTopic     = "geomesh-origin-topic"
	HeaderOriginPartition = "geomesh-origin-partition"
	HeaderOriginOffset    = "geomesh-origin-offset"
	HeaderVisited         = "geomesh-visited"
)

// Forward reports whether a flow copies a record with the given headers: the
// loop rule of docs/architecture.md. A replicate flow copies only records
// that originate in its source region (a record without provenance headers
// was produced there); every other kind copies any record that has not
// visited the target yet. No flow sends a record back to a region it has
// visited, whatever its kind, because that is how a loop starts.
func Forward(f topology.Flow, headers []kgo.RecordHeader) bool {
	var origin, visited []byte
	var hasOrigin bool
	for i := range headers {
		switch headers[i].Key {
		case HeaderOriginRegion:
			origin, hasOrigin = headers[i].Value, true
		case HeaderVisited:
			visited = headers[i].Value
		}
	}
	if hasVisited(visited, f.Target) {
		return false
	}
	if f.Kind == topology.FlowReplicate && hasOrigin {
		return string(origin) == f.Source
	}
	return true
}

// hasVisited looks for region in a comma-separated list without splitting it,
// because it runs once per record.
func hasVisited(list []byte, region string) bool {
	for len(list) > 0 {
		i := bytes.IndexByte(list, ',')
		item := list
		if i >= 0 {
			item, list = list[:i], list[i+1:]
		} else {
			list = nil
		}
		if string(item) == region {
			return true
		}
	}
	return false
}

// arena hands out header slices and header values for the copies of one
// transaction from two buffers that are reset, not freed, when the
// transaction ends: building provenance headers then allocates only when a
// batch is larger than any before it. A value handed out stays valid after
// a later append grows a buffer, because it keeps the old backing array.
type arena struct {
	hdrs []kgo.RecordHeader
	buf  []byte
}

func (a *arena) reset() {
	clear(a.hdrs) // drop references into the previous batch's fetch buffers
	a.hdrs = a.hdrs[:0]
	a.buf = a.buf[:0]
}

func (a *arena) str(s string) []byte {
	start := len(a.buf)
	a.buf = append(a.buf, s...)
	return a.buf[start:len(a.buf):len(a.buf)]
}

func (a *arena) int(n int64) []byte {
	start := len(a.buf)
	a.buf = strconv.AppendInt(a.buf, n, 10)
	return a.buf[start:len(a.buf):len(a.buf)]
}

// copyHeaders returns the headers of the copy of r made by flow f: r's own
// headers, the origin headers (kept from r if it is itself a copy, else
// naming r), and the visited list extended with the target.
func (a *arena) copyHeaders(f topology.Flow, r *kgo.Record) []kgo.RecordHeader {
	start := len(a.hdrs)
	var visited []byte
	hasOrigin := false
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderVisited:
			visited = h.Value
			continue
		case HeaderOriginRegion:
			hasOrigin = true
		}
		a.hdrs = append(a.hdrs, h)
	}
	if !hasOrigin {
		a.hdrs = append(a.hdrs,
			kgo.RecordHeader{Key: HeaderOriginRegion, Value: a.str(f.Source)},
			kgo.RecordHeader{Key: HeaderOriginTopic, Value: a.str(r.Topic)},
			kgo.RecordHeader{Key: HeaderOriginPartition, Value: a.int(int64(r.Partition))},
			kgo.RecordHeader{Key: HeaderOriginOffset, Value: a.int(r.Offset)},
		)
	}
	vs := len(a.buf)
	if len(visited) == 0 {
		a.buf = append(a.buf, f.Source...)
	} else {
		a.buf = append(a.buf, visited...)
	}
	a.buf = append(a.buf, ',')
	a.buf = append(a.buf, f.Target...)
	a.hdrs = append(a.hdrs, kgo.RecordHeader{Key: HeaderVisited, Value: a.buf[vs:len(a.buf):len(a.buf)]})
	return a.hdrs[start:len(a.hdrs):len(a.hdrs)]
}

// CopyHeaders returns the headers of the copy of r that flow f writes, as a
// shard builds them (provenance kept or added, visited extended with the
// target), in a slice of its own.
func CopyHeaders(f topology.Flow, r *kgo.Record) []kgo.RecordHeader {
	var a arena
	return a.copyHeaders(f, r)
}
