package health

import (
	"strings"
	"testing"
)

// w builds a window from (committed, end) pairs.
func w(pairs ...int64) []Sample {
	var out []Sample
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, Sample{Committed: pairs[i], End: pairs[i+1]})
	}
	return out
}

func TestEvaluatePartition(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window []Sample
		active bool
		want   Status
		reason string
	}{
		{"empty window", nil, true, StatusOK, "0 of 4"},
		{"not full, lagging and still", w(10, 50, 10, 60), true, StatusOK, "2 of 4"},
		{"caught up once", w(10, 50, 10, 60, 60, 60, 60, 90), true, StatusOK, "caught up"},
		{"caught up once, no members", w(60, 60, 60, 70, 60, 80, 60, 90), false, StatusOK, "caught up"},
		{"big backlog shrinking", w(0, 10000, 2000, 10500, 4000, 11000, 6000, 11500), true, StatusOK, "offsets move"},
		{"lag flat while moving", w(0, 100, 10, 110, 20, 120, 30, 130), true, StatusOK, "offsets move"},
		{"lag grows every step", w(0, 100, 10, 120, 20, 140, 30, 160), true, StatusWarn, "lag grew"},
		{"lag grows but dips once", w(0, 100, 10, 120, 30, 125, 40, 160), true, StatusOK, "offsets move"},
		{"rewound", w(50, 100, 60, 100, 20, 100, 30, 100), true, StatusWarn, "went back from 60 to 20"},
		{"stuck with members", w(10, 100, 10, 120, 10, 140, 10, 160), true, StatusStalled, "offset 10 unchanged over 4 samples, lag 150"},
		{"stuck with constant lag", w(10, 100, 10, 100, 10, 100, 10, 100), true, StatusStalled, "lag 90"},
		{"stuck, no members", w(10, 100, 10, 120, 10, 140, 10, 160), false, StatusStopped, "no members"},
		{"moved in the middle then back to start is a rewind", w(10, 100, 20, 100, 10, 100, 10, 100), true, StatusWarn, "went back"},
		{"end below committed counts as caught up", w(120, 100, 120, 100, 120, 100, 120, 100), true, StatusOK, "caught up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := EvaluatePartition(tc.window, 4, tc.active)
			if got != tc.want || !strings.Contains(why, tc.reason) {
				t.Errorf("EvaluatePartition = %v %q, want %v with %q", got, why, tc.want, tc.reason)
			}
		})
	}
}

func TestEvaluateGroup(t *testing.T) {
	windows := map[TopicPartition][]Sample{
		{"orders", 0}: w(0, 10, 5, 10, 10, 10),
		{"orders", 1}: w(0, 10, 0, 20, 0, 30),
		{"audit", 2}:  w(0, 10, 0, 20, 0, 30),
		{"audit", 0}:  w(0, 10, 2, 20, 4, 30),
	}
	for _, tc := range []struct {
		active bool
		want   Status
		reason string
	}{
		// audit/2 and orders/1 are equally bad: the first in order is named.
		{true, StatusStalled, "audit/2: offset 0 unchanged"},
		{false, StatusStopped, "audit/2: no members"},
	} {
		got, why := EvaluateGroup(windows, 3, tc.active)
		if got != tc.want || !strings.HasPrefix(why, tc.reason) {
			t.Errorf("active=%v: EvaluateGroup = %v %q, want %v %q", tc.active, got, why, tc.want, tc.reason)
		}
	}
	if got, why := EvaluateGroup(nil, 3, false); got != StatusOK || why != "no committed offsets" {
		t.Errorf("empty group: %v %q", got, why)
	}
	if got, _ := EvaluateGroup(map[TopicPartition][]Sample{{"audit", 0}: w(0, 10, 2, 20, 4, 30)}, 3, true); got != StatusWarn {
		t.Errorf("falling behind: %v, want WARN", got)
	}
}

func TestStatusString(t *testing.T) {
	var names []string
	for _, s := range Statuses {
		names = append(names, s.String())
	}
	if got := strings.Join(names, ","); got != "OK,WARN,STALLED,STOPPED" {
		t.Errorf("statuses %s", got)
	}
}
