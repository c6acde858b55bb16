package mirror

import (
	"testing"

	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCopyCodec(t *testing.T) {
	for _, c := range []struct {
		setting    topology.Compression
		seen, want codec
		follow     bool
	}{
		{topology.CompressionSource, codecNone, codecNone, true},
		{topology.CompressionSource, codecLZ4, codecLZ4, true},
		{"", codecZstd, codecZstd, true},
		{topology.CompressionNone, codecZstd, codecNone, false},
		{topology.CompressionGzip, codecNone, codecGzip, false},
		{topology.CompressionSnappy, codecZstd, codecSnappy, false},
		{topology.CompressionLZ4, codecNone, codecLZ4, false},
		{topology.CompressionZstd, codecSnappy, codecZstd, false},
	} {
		got, follow := copyCodec(c.setting, c.seen)
		if got != c.want || follow != c.follow {
			t.Errorf("copyCodec(%q, %v) = %v, %v; want %v, %v", c.setting, c.seen, got, follow, c.want, c.follow)
		}
	}
}

func TestStronger(t *testing.T) {
	order := []codec{codecNone, codecSnappy, codecLZ4, codecGzip, codecZstd}
	for i, a := range order {
		for j, b := range order {
			want := a
			if j > i {
				want = b
			}
			if got := stronger(a, b); got != want {
				t.Errorf("stronger(%v, %v) = %v, want %v", a, b, got, want)
			}
		}
		if got := stronger(a, codec(7)); got != a {
			t.Errorf("stronger(%v, 7) = %v: an undefined codec won", a, got)
		}
	}
}

func TestStrongestIn(t *testing.T) {
	rec := func(c codec) *kgo.Record {
		return &kgo.Record{Attrs: kgo.NewRecordAttrs(kgo.RecordAttrsOpts{Codec: kgo.CompressionCodecType(c)})}
	}
	fs := kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "a", Partitions: []kgo.FetchPartition{
		{Partition: 0, Records: []*kgo.Record{rec(codecNone), rec(codecLZ4)}},
		{Partition: 1, Records: []*kgo.Record{rec(codecSnappy)}},
	}}}}}
	if got, data := strongestIn(fs, codecNone); got != codecLZ4 || !data {
		t.Errorf("strongest = %v, %v; want lz4, true", got, data)
	}
	if got, _ := strongestIn(fs, codecZstd); got != codecZstd {
		t.Errorf("strongest from zstd = %v, want zstd: a session never steps down", got)
	}
	marker := &kgo.Record{Attrs: kgo.NewRecordAttrs(kgo.RecordAttrsOpts{Control: true, Codec: kgo.CompressionCodecType(codecZstd)})}
	markers := kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "a", Partitions: []kgo.FetchPartition{{Records: []*kgo.Record{marker}}}}}}}
	if got, data := strongestIn(markers, codecNone); got != codecNone || data {
		t.Errorf("markers only: %v, %v; want none, false: control batches say nothing of the data", got, data)
	}
}
