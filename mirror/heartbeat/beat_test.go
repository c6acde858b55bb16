package heartbeat

import (
	"errors"
	"testing"
	"time"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, b := range []Beat{
		{Region: "us-east", Agent: "us-east-1", Time: time.Unix(1700000000, 123456789), Seq: 1},
		{Region: "eu-west", Agent: "", Time: time.Unix(0, 0), Seq: 1 << 62},
		{Region: "ap", Agent: "a", Time: time.Unix(-5, 0), Seq: 0},
	} {
		got, err := Decode(Encode(b))
		if err != nil {
			t.Fatalf("Decode(Encode(%+v)): %v", b, err)
		}
		if got.Region != b.Region || got.Agent != b.Agent || !got.Time.Equal(b.Time) || got.Seq != b.Seq {
			t.Errorf("round trip %+v -> %+v", b, got)
		}
	}
	if n := len(Encode(Beat{Region: "us-east", Agent: "us-east-12345", Time: time.Now(), Seq: 100000})); n > 40 {
		t.Errorf("encoded beat is %d bytes, want a small record", n)
	}
}

func TestDecodeMalformed(t *testing.T) {
	good := Encode(Beat{Region: "us-east", Agent: "a1", Time: time.Unix(1, 0), Seq: 7})
	for _, tc := range []struct {
		name  string
		value []byte
		want  string
	}{
		{"empty", nil, "malformed heartbeat: empty value"},
		{"newer version", append([]byte{2}, good[1:]...), "malformed heartbeat: version 2, this reader knows 1"},
		{"truncated", good[:len(good)-1], "malformed heartbeat: truncated sequence"},
		{"trailing", append(append([]byte(nil), good...), 0), "malformed heartbeat: 1 trailing bytes"},
		{"huge region length", []byte{1, 0xff, 0xff, 0x03}, "malformed heartbeat: region length 65535 exceeds the 0 bytes left"},
		{"empty region", Encode(Beat{Time: time.Unix(1, 0)}), "malformed heartbeat: empty region"},
	} {
		_, err := Decode(tc.value)
		if err == nil || err.Error() != tc.want || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestLatency(t *testing.T) {
	b := Beat{Region: "us-east", Time: time.Unix(100, 0)}
	if got := Latency(b, time.Unix(100, 250e6)); got != 250*time.Millisecond {
		t.Errorf("Latency = %v, want 250ms", got)
	}
}

func TestTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	beat := func(region, agent string, seq uint64, ms int) Beat {
		return Beat{Region: region, Agent: agent, Seq: seq, Time: at(ms)}
	}
	type step struct {
		beat         Beat
		arrive       int // ms
		wantLatency  time.Duration
		wantAccepted bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
		now   int // ms, for Regions
		want  []RegionState
	}{
		{
			name: "latency and age per region",
			steps: []step{
				{beat("us-east", "a", 1, 0), 120, 120 * time.Millisecond, true},
				{beat("ap-south", "b", 1, 0), 300, 300 * time.Millisecond, true},
				{beat("us-east", "a", 2, 1000), 1080, 80 * time.Millisecond, true},
			},
			now: 5000,
			want: []RegionState{
				{Region: "ap-south", Last: beat("ap-south", "b", 1, 0), Arrived: at(300), Latency: 300 * time.Millisecond, Age: 5 * time.Second},
				{Region: "us-east", Last: beat("us-east", "a", 2, 1000), Arrived: at(1080), Latency: 80 * time.Millisecond, Age: 4 * time.Second},
			},
		},
		{
			name: "duplicate and older copies ignored",
			steps: []step{
				{beat("us-east", "a", 5, 5000), 5100, 100 * time.Millisecond, true},
				{beat("us-east", "a", 5, 5000), 9000, 4000 * time.Millisecond, false},
				{beat("us-east", "a", 4, 4000), 9000, 5000 * time.Millisecond, false},
			},
			now: 6000,
			want: []RegionState{
				{Region: "us-east", Last: beat("us-east", "a", 5, 5000), Arrived: at(5100), Latency: 100 * time.Millisecond, Age: time.Second},
			},
		},
		{
			name: "gaps are lost beats, restarts counted",
			steps: []step{
				{beat("us-east", "a", 1, 0), 10, 10 * time.Millisecond, true},
				{beat("us-east", "a", 4, 3000), 3010, 10 * time.Millisecond, true}, // 2, 3 lost
				{beat("us-east", "a", 1, 9000), 9010, 10 * time.Millisecond, true}, // same agent restarted
				{beat("us-east", "b", 2, 10000), 10010, 10 * time.Millisecond, true},
			},
			now: 10010,
			want: []RegionState{
				{Region: "us-east", Last: beat("us-east", "b", 2, 10000), Arrived: at(10010), Latency: 10 * time.Millisecond, Age: 10 * time.Millisecond, Lost: 2, Restarts: 2},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker()
			for i, s := range tc.steps {
				lat, ok := tr.Observe(s.beat, at(s.arrive))
				if lat != s.wantLatency || ok != s.wantAccepted {
					t.Errorf("step %d: Observe = %v, %v; want %v, %v", i, lat, ok, s.wantLatency, s.wantAccepted)
				}
			}
			got := tr.Regions(at(tc.now))
			if len(got) != len(tc.want) {
				t.Fatalf("Regions = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("Regions[%d] = %+v\nwant %+v", i, got[i], tc.want[i])
				}
				age, ok := tr.Age(got[i].Region, at(tc.now))
				if !ok || age != tc.want[i].Age {
					t.Errorf("Age(%s) = %v, %v", got[i].Region, age, ok)
				}
			}
		})
	}
	if _, ok := NewTracker().Age("nowhere", t0); ok {
		t.Error("Age of an unseen region reported ok")
	}
}
