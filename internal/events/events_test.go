package events

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestEvents: every event is valid JSON of about 1 KiB, the same seed
// gives the same bytes, and a batch compresses with zstd by the factor the
// benchmarks claim for application data (4–8×).
func TestEvents(t *testing.T) {
	g, again := New(7), New(7)
	var batch []byte
	total := 0
	const n = 1000
	for i := range n {
		e := g.Next(i)
		if !json.Valid(e) {
			t.Fatalf("event %d is not JSON: %s", i, e)
		}
		if !bytes.Equal(e, again.Next(i)) {
			t.Fatalf("event %d differs between two generators of one seed", i)
		}
		total += len(e)
		batch = append(batch, e...)
	}
	if avg := total / n; avg < 800 || avg > 1300 {
		t.Errorf("events average %d bytes, want about 1 KiB", avg)
	}
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	ratio := float64(len(batch)) / float64(len(enc.EncodeAll(batch, nil)))
	t.Logf("%d events, %d bytes each on average, zstd ratio %.1f", n, total/n, ratio)
	if ratio < 4 || ratio > 8 {
		t.Errorf("zstd compresses a batch %.1f×, want 4–8× like application data", ratio)
	}
}
