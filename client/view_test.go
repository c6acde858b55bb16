package client_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/client"
	"github.com/geomesh/geomesh/internal/testkit"
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

// viewRecord is a record of testdata/view.json.
type viewRecord struct {
	Key         *string           `json:"key"`
	Value       *string           `json:"value"`
	TimestampMS int64             `json:"timestamp_ms"`
	Partition   int32             `json:"partition"`
	Offset      int64             `json:"offset"`
	Headers     map[string]string `json:"headers"`
}

func (r viewRecord) kgo() *kgo.Record {
	k := &kgo.Record{Topic: "t", Timestamp: time.UnixMilli(r.TimestampMS), Partition: r.Partition, Offset: r.Offset}
	if r.Key != nil {
		k.Key = []byte(*r.Key)
	}
	if r.Value != nil {
		k.Value = []byte(*r.Value)
	}
	for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
		k.Headers = append(k.Headers, kgo.RecordHeader{Key: name, Value: []byte(r.Headers[name])})
	}
	return k
}

// TestKeyedViewTable runs testdata/view.json, the keyed view's table that
// the Java and Python libraries run too. Unknown keys fail the test.
func TestKeyedViewTable(t *testing.T) {
	var table struct {
		Doc     string   `json:"doc"`
		Regions []string `json:"regions"`
		Cases   []struct {
			Name         string   `json:"name"`
			Reader       string   `json:"reader"`
			RegionOrder  []string `json:"region_order"`
			DedupeWindow *int     `json:"dedupe_window"`
			Steps        []struct {
				Record viewRecord `json:"record"`
				Want   string     `json:"want"`
			} `json:"steps"`
			WantKeys map[string]*struct {
				Value     string `json:"value"`
				Region    string `json:"region"`
				Partition int32  `json:"partition"`
				Offset    int64  `json:"offset"`
			} `json:"want_keys"`
			WantLen int `json:"want_len"`
		} `json:"cases"`
		Errors []struct {
			Name   string     `json:"name"`
			Reader string     `json:"reader"`
			Record viewRecord `json:"record"`
			Error  string     `json:"error"`
		} `json:"errors"`
	}
	testkit.ReadStrict(t, "testdata/view.json", &table)
	m := viewTopology(t)
	if got := m.DataRegions(); !slices.Equal(got, table.Regions) {
		t.Fatalf("the table's regions %v, the mesh's %v", table.Regions, got)
	}
	if len(table.Cases) < 15 || len(table.Errors) < 2 {
		t.Fatalf("%d cases and %d error cases, want at least 15 and 2", len(table.Cases), len(table.Errors))
	}
	for _, tc := range table.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			var opts []client.ViewOpt
			if tc.RegionOrder != nil {
				opts = append(opts, client.RegionOrder(tc.RegionOrder...))
			}
			if tc.DedupeWindow != nil {
				opts = append(opts, client.DedupeWindow(*tc.DedupeWindow))
			}
			v, err := client.NewKeyedView(m, tc.Reader, opts...)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.Steps {
				got, err := v.Apply(s.Record.kgo())
				if err != nil || got.String() != s.Want {
					t.Fatalf("step %d: %v %v, want %s", i, got, err, s.Want)
				}
			}
			for key, want := range tc.WantKeys {
				ver, ok := v.Get([]byte(key))
				switch {
				case want == nil && ok:
					t.Errorf("key %s holds %q from %s, want none", key, ver.Value, ver.Region)
				case want != nil && (!ok || string(ver.Value) != want.Value || ver.Region != want.Region || ver.Partition != want.Partition || ver.Offset != want.Offset):
					t.Errorf("key %s holds %q from %s %d@%d (%v), want %+v", key, ver.Value, ver.Region, ver.Partition, ver.Offset, ok, *want)
				}
			}
			if v.Len() != tc.WantLen {
				t.Errorf("Len %d, want %d", v.Len(), tc.WantLen)
			}
		})
	}
	for _, tc := range table.Errors {
		t.Run(tc.Name, func(t *testing.T) {
			v, err := client.NewKeyedView(m, tc.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Apply(tc.Record.kgo()); err == nil || !strings.Contains(err.Error(), tc.Error) {
				t.Errorf("error %v, want one that says %q", err, tc.Error)
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
