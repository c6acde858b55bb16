package history

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDoubleWriters plants fence histories of an active-passive failover
// and checks what the checker makes of them. Times are milliseconds after
// t0.
func TestDoubleWriters(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	fence := func(region, writes string, requested, at int, observer string) WriteFence {
		return WriteFence{Time: ms(at), Requested: ms(requested), Region: region, Writes: writes, Observer: observer}
	}
	// The mesh before every case: us-east accepts, eu-west refuses.
	start := []WriteFence{
		fence("us-east", WritesAccepted, 0, 5, "us-east-1"),
		fence("eu-west", WritesRefused, 0, 5, "eu-west-1"),
	}
	for _, tc := range []struct {
		name   string
		events []WriteFence
		epochs []Epoch
		want   []string // one substring per finding, in order; none for a clean history
	}{
		{name: "failover: the old primary refuses before the new one accepts",
			events: []WriteFence{
				fence("us-east", WritesRefused, 1000, 1100, "us-east-1"),
				fence("eu-west", WritesAccepted, 1101, 1150, "eu-west-1"),
			}},
		{name: "back to back: one stretch closes, to the nanosecond, as the other opens",
			events: []WriteFence{
				fence("us-east", WritesRefused, 1000, 1100, "us-east-1"),
				fence("eu-west", WritesAccepted, 1100, 1150, "eu-west-1"),
			}},
		{name: "50ms double writer: the new primary's request goes out 50ms before the old one's refusal is confirmed",
			events: []WriteFence{
				fence("eu-west", WritesAccepted, 1050, 1060, "eu-west-1"),
				fence("us-east", WritesRefused, 1000, 1100, "us-east-1"),
			},
			epochs: []Epoch{{Time: ms(900), Epoch: 2, Region: "eu-west", Role: RolePrimary, Observer: "eu-west-1"}},
			want:   []string{"double-writer: epoch 2: us-east and eu-west both accepted writes from 2026-01-01T00:00:01.05Z for 50ms"}},
		{name: "a killed or frozen agent ends nothing: its cluster still accepts",
			events: []WriteFence{fence("eu-west", WritesAccepted, 9000, 9050, "eu-west-1")},
			epochs: []Epoch{{Time: ms(1000), Epoch: 1, Region: "us-east", Role: "killed", Observer: "us-east-1"}},
			want:   []string{"until the end of the history"}},
		{name: "another region's agent fences the cluster of a dead one",
			events: []WriteFence{
				fence("us-east", WritesRefused, 8000, 8200, "eu-west-1"),
				fence("eu-west", WritesAccepted, 8201, 8250, "eu-west-1"),
			}},
		{name: "dead brokers accept nothing; restarted with the fence open, they do again",
			events: []WriteFence{
				{Time: ms(1000), Region: "us-east", Writes: ClusterDown, Observer: "test"},
				fence("eu-west", WritesAccepted, 5000, 5050, "eu-west-1"),
				{Time: ms(20000), Region: "us-east", Writes: ClusterUp, Observer: "test"},
				fence("us-east", WritesRefused, 20100, 20300, "eu-west-1"),
			},
			want: []string{"both accepted writes from 2026-01-01T00:00:20Z for 300ms"}},
		{name: "restarted brokers whose fence the new primary made while they were down",
			events: []WriteFence{
				{Time: ms(1000), Region: "us-east", Writes: ClusterDown, Observer: "test"},
				fence("eu-west", WritesAccepted, 5000, 5050, "eu-west-1"),
				fence("us-east", WritesRefused, 19000, 19900, "eu-west-1"),
				{Time: ms(20000), Region: "us-east", Writes: ClusterUp, Observer: "test"},
			}},
		{name: "a refusal requested before the acceptance was confirmed may have landed first: it ends nothing",
			events: []WriteFence{
				fence("us-east", WritesRefused, 1000, 1100, "us-east-1"),
				fence("eu-west", WritesAccepted, 1200, 1250, "eu-west-1"),
				// Failback: us-east lifts its fence while eu-west's fence of
				// us-east, sent before, lands late.
				fence("eu-west", WritesRefused, 3000, 3100, "eu-west-1"),
				fence("us-east", WritesAccepted, 3101, 3400, "us-east-1"),
				fence("us-east", WritesRefused, 3300, 3500, "eu-west-1"),
			}},
		{name: "a refusal before anything is known of the region changes nothing",
			events: []WriteFence{fence("ap-south", WritesRefused, 10, 20, "ap-south-1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := History{Fences: append(append([]WriteFence{}, start...), tc.events...), Epochs: tc.epochs}
			got := doubleWriters(h)
			if len(got) != len(tc.want) {
				t.Fatalf("findings:\n%s\nwant %d", join(got), len(tc.want))
			}
			for i, w := range tc.want {
				if s := got[i].String(); !strings.Contains(s, w) {
					t.Errorf("finding %d: %s\nwant it to say %q", i, s, w)
				}
			}
			// Check reports the same.
			n := 0
			for _, f := range Check(h, Options{}) {
				if f.Kind == DoubleWriter {
					n++
				}
			}
			if n != len(tc.want) {
				t.Errorf("Check gives %d double-writer findings, want %d", n, len(tc.want))
			}
		})
	}
}

// TestDoubleWriterWindow plants a double writer of a given length at
// every offset within the old primary's refusal and checks that each one
// of 1ms or more is caught with its length, and that none is found when
// the new primary starts at or after the refusal.
func TestDoubleWriterWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	refused := t0.Add(10 * time.Second)
	for _, overlap := range []time.Duration{-time.Second, -time.Millisecond, 0, time.Millisecond, 50 * time.Millisecond, 3 * time.Second} {
		h := History{Fences: []WriteFence{
			{Time: t0, Region: "us-east", Writes: WritesAccepted, Observer: "us-east-1"},
			{Time: refused, Requested: refused.Add(-200 * time.Millisecond), Region: "us-east", Writes: WritesRefused, Observer: "us-east-1"},
			{Time: refused.Add(time.Second), Requested: refused.Add(-overlap), Region: "eu-west", Writes: WritesAccepted, Observer: "eu-west-1"},
		}}
		got := doubleWriters(h)
		switch {
		case overlap <= 0 && len(got) != 0:
			t.Errorf("new primary %s after the refusal: %s", -overlap, join(got))
		case overlap > 0 && (len(got) != 1 || !strings.Contains(got[0].Detail, "for "+overlap.String())):
			t.Errorf("double writer of %s: %s", overlap, join(got))
		}
	}
}

func TestFencesJSONLRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 123456789, time.UTC)
	h := History{Fences: []WriteFence{
		{Time: t0, Requested: t0.Add(-time.Millisecond), Region: "us-east", Writes: WritesRefused, Observer: "eu-west-1"},
		{Time: t0.Add(time.Second), Region: "us-east", Writes: ClusterDown, Observer: "test"},
	}}
	var b bytes.Buffer
	if err := WriteJSONL(&b, h); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), `{"kind":"fence",`) {
		t.Errorf("first line %q", strings.SplitN(b.String(), "\n", 2)[0])
	}
	back, err := ReadJSONL(&b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(h.Fences, back.Fences); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
}
