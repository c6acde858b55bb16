package mirror

import (
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

// codec is a record batch's compression as Kafka writes it in the batch
// attributes (kgo.RecordAttrs.CompressionType).
type codec uint8

const (
	codecNone codec = iota
	codecGzip
	codecSnappy
	codecLZ4
	codecZstd
)

var codecNames = [...]string{codecNone: "none", codecGzip: "gzip", codecSnappy: "snappy", codecLZ4: "lz4", codecZstd: "zstd"}

func (c codec) String() string {
	if int(c) < len(codecNames) {
		return codecNames[c]
	}
	return "unknown"
}

// strength orders codecs by how small they make typical records. When a
// shard's source batches carry several codecs, its copies take the
// strongest, so that no topic's copies take more bytes than its source.
var strength = [...]int{codecNone: 0, codecSnappy: 1, codecLZ4: 2, codecGzip: 3, codecZstd: 4}

// stronger returns the stronger of two codecs; a codec Kafka does not
// define (a corrupt attribute) never wins.
func stronger(a, b codec) codec {
	if int(b) >= len(strength) || (int(a) < len(strength) && strength[a] >= strength[b]) {
		return a
	}
	return b
}

// copyCodec is the codec a session writes copies with: the flow's own
// choice, or under compression: source the strongest the shard has seen
// in its source batches so far (none before the first fetch).
func copyCodec(c topology.Compression, seen codec) (cc codec, follow bool) {
	switch c {
	case topology.CompressionNone:
		return codecNone, false
	case topology.CompressionGzip:
		return codecGzip, false
	case topology.CompressionSnappy:
		return codecSnappy, false
	case topology.CompressionLZ4:
		return codecLZ4, false
	case topology.CompressionZstd:
		return codecZstd, false
	}
	return seen, true
}

// producerCodec is the franz-go option value of c.
func (c codec) producerCodec() kgo.CompressionCodec {
	switch c {
	case codecGzip:
		return kgo.GzipCompression()
	case codecSnappy:
		return kgo.SnappyCompression()
	case codecLZ4:
		return kgo.Lz4Compression()
	case codecZstd:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// strongestIn returns the strongest of c and the codecs of the data
// batches in fs, and whether fs holds any data record. Transaction
// markers come in uncompressed control batches, which say nothing about
// the data's codec.
func strongestIn(fs kgo.Fetches, c codec) (codec, bool) {
	data := false
	fs.EachRecord(func(r *kgo.Record) {
		if !r.Attrs.IsControl() {
			c, data = stronger(c, codec(r.Attrs.CompressionType())), true
		}
	})
	return c, data
}
