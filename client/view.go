package client

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Version is one version of a key in a KeyedView.
type Version struct {
	Key, Value []byte
	// Timestamp is the record's timestamp, which a copy keeps from the
	// record written in the origin region.
	Timestamp time.Time
	// Region, Partition and Offset say where the version was first
	// written: from the provenance headers of a copy, from the record
	// itself for a local one.
	Region    string
	Partition int32
	Offset    int64
	// Deleted marks a tombstone (a record with a nil value): the key is
	// gone, and an older version arriving later must not bring it back.
	Deleted bool
}

// Outcome says what Apply did with a record.
type Outcome int

const (
	// Applied: the record is now the key's version.
	Applied Outcome = iota
	// Stale: the key holds a newer version; the record lost.
	Stale
	// Duplicate: a record with the same HeaderRecordID was applied before,
	// within the dedupe window. The application must not act on it again.
	// It still took part in resolving its key (so every region ends with
	// the same version whatever order the copies arrive in), which changes
	// nothing when it is a true retry of the same write.
	Duplicate
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Stale:
		return "stale"
	case Duplicate:
		return "duplicate"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// ErrNoKey is returned for a record without a key: nothing to resolve.
var ErrNoKey = errors.New("record has no key")

// KeyedView holds the latest version of every key of topics that several
// regions write (active-active with identity naming, or a local topic and
// its prefixed copies read together). Versions of a key resolve
// last-writer-wins by origin timestamp; equal timestamps by the region
// order (RegionOrder); equal regions by origin partition and offset. The
// result depends only on the set of records applied, not on the order in
// which they arrive, so the views of all regions agree once each has
// applied every record. docs/active-active.md explains the limits.
//
// A KeyedView is not safe for concurrent use; feed it from the poll loop.
type KeyedView struct {
	local string
	rank  map[string]int
	keys  map[string]*Version
	live  int

	// ids is the dedupe window: a ring of the last ids seen and a set of
	// them.
	ids  map[string]struct{}
	ring []string
	next int
}

// NewKeyedView returns an empty view for an application reading in region
// of mesh m: records without provenance headers were written there.
func NewKeyedView(m *topology.Mesh, region string, opts ...ViewOpt) (*KeyedView, error) {
	cfg := defaults()
	cfg.regionOrder = m.DataRegions()
	for _, o := range opts {
		o.applyView(&cfg)
	}
	if _, err := dataRegion(m, region); err != nil {
		return nil, fmt.Errorf("keyed view: %w", err)
	}
	if cfg.dedupeWindow < 0 {
		return nil, fmt.Errorf("keyed view in region %s: dedupe window %d is negative", region, cfg.dedupeWindow)
	}
	v := &KeyedView{local: region, rank: map[string]int{}, keys: map[string]*Version{},
		ids: map[string]struct{}{}, ring: make([]string, cfg.dedupeWindow)}
	for i, r := range cfg.regionOrder {
		if _, ok := v.rank[r]; !ok {
			v.rank[r] = i
		}
	}
	return v, nil
}

// Apply resolves r against the key's current version.
func (v *KeyedView) Apply(r *kgo.Record) (Outcome, error) {
	if r.Key == nil {
		return 0, fmt.Errorf("keyed view: topic %s partition %d offset %d: %w", r.Topic, r.Partition, r.Offset, ErrNoKey)
	}
	ver, err := v.version(r)
	if err != nil {
		return 0, err
	}
	dup := false
	if id, _ := header(r.Headers, HeaderRecordID); len(id) > 0 && len(v.ring) > 0 {
		dup = v.seen(string(id))
	}
	k := string(r.Key)
	cur, ok := v.keys[k]
	won := !ok || v.newer(ver, cur)
	if won {
		if !ok || cur.Deleted {
			v.live++
		}
		if ver.Deleted {
			v.live--
		}
		v.keys[k] = ver
	}
	switch {
	case dup:
		return Duplicate, nil
	case won:
		return Applied, nil
	}
	return Stale, nil
}

// version reads where a record was first written.
func (v *KeyedView) version(r *kgo.Record) (*Version, error) {
	ver := &Version{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Deleted: r.Value == nil,
		Region: v.local, Partition: r.Partition, Offset: r.Offset}
	origin, ok := header(r.Headers, HeaderOriginRegion)
	if !ok {
		return ver, nil
	}
	ver.Region = string(origin)
	p, _ := header(r.Headers, HeaderOriginPartition)
	o, _ := header(r.Headers, HeaderOriginOffset)
	part, err1 := strconv.ParseInt(string(p), 10, 32)
	off, err2 := strconv.ParseInt(string(o), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("keyed view: topic %s partition %d offset %d: bad provenance headers: %w", r.Topic, r.Partition, r.Offset, err)
	}
	ver.Partition, ver.Offset = int32(part), off
	return ver, nil
}

// newer reports whether a wins over b.
func (v *KeyedView) newer(a, b *Version) bool {
	if !a.Timestamp.Equal(b.Timestamp) {
		return a.Timestamp.After(b.Timestamp)
	}
	if a.Region != b.Region {
		ra, aok := v.rank[a.Region]
		rb, bok := v.rank[b.Region]
		switch {
		case aok && bok:
			return ra < rb
		case aok != bok:
			return aok
		}
		return a.Region < b.Region
	}
	if a.Partition != b.Partition {
		return a.Partition > b.Partition
	}
	return a.Offset > b.Offset
}

// seen reports whether id is in the window, and puts it there.
func (v *KeyedView) seen(id string) bool {
	if _, ok := v.ids[id]; ok {
		return true
	}
	if old := v.ring[v.next]; old != "" {
		delete(v.ids, old)
	}
	v.ring[v.next] = id
	v.next = (v.next + 1) % len(v.ring)
	v.ids[id] = struct{}{}
	return false
}

// Get returns the key's version; ok is false when the key was never
// written or its version is a tombstone.
func (v *KeyedView) Get(key []byte) (ver Version, ok bool) {
	cur, ok := v.keys[string(key)]
	if !ok || cur.Deleted {
		return Version{}, false
	}
	return *cur, true
}

// Len is the number of keys with a live (not deleted) version.
func (v *KeyedView) Len() int { return v.live }

// Each calls fn with every live version, in no particular order, until fn
// returns false.
func (v *KeyedView) Each(fn func(Version) bool) {
	for _, cur := range v.keys {
		if !cur.Deleted && !fn(*cur) {
			return
		}
	}
}
