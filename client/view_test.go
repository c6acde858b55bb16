package client_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/geomesh/geomesh/client"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

// viewMesh is parsed only: nothing of it is reached.
const viewMesh = `
mesh: v
topology: {kind: active-active}
naming: identity
regions:
  - {name: us, kafka: {bootstrap: [NOWHERE]}, agents: [{id: us-1, gossip: NOWHERE, api: NOWHERE}]}
  - {name: eu, kafka: {bootstrap: [NOWHERE]}, agents: [{id: eu-1, gossip: NOWHERE, api: NOWHERE}]}
  - {name: ap, kafka: {bootstrap: [NOWHERE]}, agents: [{id: ap-1, gossip: NOWHERE, api: NOWHERE}]}
  - {name: w, witness: true, agents: [{id: w-1, gossip: NOWHERE, api: NOWHERE}]}
control_plane: {urls: ["nats://NOWHERE"]}
`

func viewTopology(t testing.TB) *topology.Mesh {
	t.Helper()
	m, err := topology.Parse("view.yaml", refusing(t, viewMesh))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// rec is a record as the view in region "us" reads it: written in origin
// at partition 0, offset off, with the given timestamp; a copy when origin
// is not "us". value "" means a tombstone.
func rec(origin string, off int64, ms int, key, value, id string) *kgo.Record {
	r := &kgo.Record{Topic: "t", Key: []byte(key), Timestamp: t0.Add(time.Duration(ms) * time.Millisecond), Offset: off}
	if value != "" {
		r.Value = []byte(value)
	}
	if origin != "us" {
		r.Offset = 1000 + off // its offset in us: irrelevant for a copy
		r.Headers = append(r.Headers,
			kgo.RecordHeader{Key: client.HeaderOriginRegion, Value: []byte(origin)},
			kgo.RecordHeader{Key: client.HeaderOriginPartition, Value: []byte("0")},
			kgo.RecordHeader{Key: client.HeaderOriginOffset, Value: []byte(strconv.FormatInt(off, 10))})
	}
	if id != "" {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: client.HeaderRecordID, Value: []byte(id)})
	}
	return r
}

func TestKeyedView(t *testing.T) {
	m := viewTopology(t)
	type step struct {
		r    *kgo.Record
		want client.Outcome
	}
	for _, c := range []struct {
		name   string
		opts   []client.ViewOpt
		steps  []step
		value  string // "" = key absent
		region string
	}{
		{"later timestamp wins", nil, []step{
			{rec("us", 0, 10, "k", "a", ""), client.Applied},
			{rec("eu", 0, 20, "k", "b", ""), client.Applied},
			{rec("ap", 0, 15, "k", "c", ""), client.Stale},
		}, "b", "eu"},
		{"tie: region order of the file", nil, []step{
			{rec("eu", 0, 10, "k", "b", ""), client.Applied},
			{rec("us", 0, 10, "k", "a", ""), client.Applied},
			{rec("ap", 0, 10, "k", "c", ""), client.Stale},
		}, "a", "us"},
		{"tie: RegionOrder", []client.ViewOpt{client.RegionOrder("ap", "eu", "us")}, []step{
			{rec("us", 0, 10, "k", "a", ""), client.Applied},
			{rec("ap", 0, 10, "k", "c", ""), client.Applied},
			{rec("eu", 0, 10, "k", "b", ""), client.Stale},
		}, "c", "ap"},
		{"tie in one region: later offset", nil, []step{
			{rec("eu", 5, 10, "k", "later", ""), client.Applied},
			{rec("eu", 4, 10, "k", "earlier", ""), client.Stale},
		}, "later", "eu"},
		{"tombstone deletes", nil, []step{
			{rec("us", 0, 10, "k", "a", ""), client.Applied},
			{rec("eu", 0, 20, "k", "", ""), client.Applied},
		}, "", ""},
		{"older write does not resurrect a deleted key", nil, []step{
			{rec("eu", 0, 20, "k", "", ""), client.Applied},
			{rec("us", 0, 10, "k", "a", ""), client.Stale},
		}, "", ""},
		{"newer write after a tombstone", nil, []step{
			{rec("eu", 0, 20, "k", "", ""), client.Applied},
			{rec("us", 0, 30, "k", "a", ""), client.Applied},
		}, "a", "us"},
		{"retry in another region is a duplicate", nil, []step{
			{rec("us", 0, 10, "k", "a", "id-1"), client.Applied},
			{rec("eu", 0, 12, "k", "a", "id-1"), client.Duplicate},
		}, "a", "eu"},
		{"duplicate of the same copy", nil, []step{
			{rec("eu", 3, 10, "k", "a", "id-1"), client.Applied},
			{rec("eu", 3, 10, "k", "a", "id-1"), client.Duplicate},
		}, "a", "eu"},
		{"ids are per record, not per key", nil, []step{
			{rec("us", 0, 10, "k", "a", "id-1"), client.Applied},
			{rec("us", 1, 11, "k", "b", "id-2"), client.Applied},
		}, "b", "us"},
		{"window forgets the oldest id", []client.ViewOpt{client.DedupeWindow(2)}, []step{
			{rec("us", 0, 10, "a", "1", "id-1"), client.Applied},
			{rec("us", 1, 11, "b", "2", "id-2"), client.Applied},
			{rec("us", 2, 12, "c", "3", "id-3"), client.Applied},
			{rec("eu", 0, 13, "a", "1", "id-1"), client.Applied},
			{rec("eu", 1, 14, "c", "3", "id-3"), client.Duplicate},
		}, "1", "eu"},
		{"window 0 keeps no ids", []client.ViewOpt{client.DedupeWindow(0)}, []step{
			{rec("us", 0, 10, "k", "a", "id-1"), client.Applied},
			{rec("eu", 0, 12, "k", "a", "id-1"), client.Applied},
		}, "a", "eu"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := client.NewKeyedView(m, "us", c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range c.steps {
				got, err := v.Apply(s.r)
				if err != nil || got != s.want {
					t.Fatalf("step %d: %v %v, want %v", i, got, err, s.want)
				}
			}
			key := c.steps[0].r.Key
			ver, ok := v.Get(key)
			if c.value == "" {
				if ok {
					t.Fatalf("key %s holds %q, want none", key, ver.Value)
				}
				return
			}
			if !ok || string(ver.Value) != c.value || ver.Region != c.region {
				t.Fatalf("key %s holds %q from %q (%v), want %q from %q", key, ver.Value, ver.Region, ok, c.value, c.region)
			}
		})
	}
}

func TestKeyedViewErrors(t *testing.T) {
	m := viewTopology(t)
	if _, err := client.NewKeyedView(m, "w"); err == nil {
		t.Error("a view in a witness region was accepted")
	}
	if _, err := client.NewKeyedView(m, "us", client.DedupeWindow(-1)); err == nil {
		t.Error("a negative window was accepted")
	}
	v, _ := client.NewKeyedView(m, "us")
	if _, err := v.Apply(&kgo.Record{Topic: "t", Value: []byte("x")}); !errors.Is(err, client.ErrNoKey) {
		t.Errorf("record without key: %v", err)
	}
	bad := rec("eu", 0, 1, "k", "v", "")
	bad.Headers[2].Value = []byte("x")
	if _, err := v.Apply(bad); err == nil {
		t.Error("bad provenance accepted")
	}
}

// TestKeyedViewConverges applies the same writes, as each region reads
// them, in random orders: every view ends with the same version of every
// key, and Len counts the live keys.
func TestKeyedViewConverges(t *testing.T) {
	m := viewTopology(t)
	rng := rand.New(rand.NewPCG(1, 2))
	regions := []string{"us", "eu", "ap"}
	type write struct {
		origin         string
		off            int64
		ms             int
		key, value, id string
	}
	for round := range 200 {
		var writes []write
		next := map[string]int64{}
		for range 30 {
			w := write{origin: regions[rng.IntN(3)], ms: rng.IntN(5), key: fmt.Sprintf("k%d", rng.IntN(4)), value: fmt.Sprintf("v%d", rng.IntN(100))}
			w.off = next[w.origin]
			next[w.origin]++
			if rng.IntN(6) == 0 {
				w.value = "" // tombstone
			}
			if rng.IntN(3) == 0 {
				w.id = fmt.Sprintf("id-%d", rng.IntN(5)) // retried writes
			}
			writes = append(writes, w)
		}
		var want map[string]string
		for _, reader := range regions {
			v, err := client.NewKeyedView(m, reader)
			if err != nil {
				t.Fatal(err)
			}
			for _, i := range rng.Perm(len(writes)) {
				w := writes[i]
				r := rec(w.origin, w.off, w.ms, w.key, w.value, w.id)
				if w.origin == reader { // a local record: no provenance
					r = &kgo.Record{Topic: "t", Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Offset: w.off}
					if w.id != "" {
						r.Headers = []kgo.RecordHeader{{Key: client.HeaderRecordID, Value: []byte(w.id)}}
					}
				} else if w.origin == "us" { // rec writes us records as local ones
					r.Offset = 1000 + w.off
					r.Headers = append(r.Headers,
						kgo.RecordHeader{Key: client.HeaderOriginRegion, Value: []byte("us")},
						kgo.RecordHeader{Key: client.HeaderOriginPartition, Value: []byte("0")},
						kgo.RecordHeader{Key: client.HeaderOriginOffset, Value: []byte(strconv.FormatInt(w.off, 10))})
				}
				if _, err := v.Apply(r); err != nil {
					t.Fatal(err)
				}
			}
			got := map[string]string{}
			v.Each(func(ver client.Version) bool {
				got[string(ver.Key)] = fmt.Sprintf("%s@%s/%d", ver.Value, ver.Region, ver.Offset)
				return true
			})
			if v.Len() != len(got) {
				t.Fatalf("round %d: Len %d, %d live keys", round, v.Len(), len(got))
			}
			if want == nil {
				want = got
			} else if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("round %d: region %s resolved %v, another region %v", round, reader, got, want)
			}
		}
	}
}
