package stranded

import (
	"reflect"
	"testing"

	"github.com/geomesh/geomesh/mirror"
)

func TestPlan(t *testing.T) {
	p := func(n int32) mirror.Partition { return mirror.Partition{Topic: "orders", Partition: n} }
	for _, tc := range []struct {
		name    string
		parts   []Partition
		want    []Range
		offsets int64
	}{
		{name: "nothing", parts: nil, want: nil},
		{
			name:  "caught up",
			parts: []Partition{{Partition: p(0), LogStart: 0, End: 200, Replicated: 200}},
			want:  nil,
		},
		{
			name:    "tail not replicated",
			parts:   []Partition{{Partition: p(0), LogStart: 0, End: 230, Replicated: 200}},
			want:    []Range{{Partition: p(0), From: 200, To: 230}},
			offsets: 30,
		},
		{
			name:    "never replicated: from the log start",
			parts:   []Partition{{Partition: p(1), LogStart: 40, End: 50, Replicated: -1}},
			want:    []Range{{Partition: p(1), From: 40, To: 50}},
			offsets: 10,
		},
		{
			name:    "empty partition never replicated",
			parts:   []Partition{{Partition: p(1), LogStart: 0, End: 0, Replicated: -1}},
			want:    nil,
			offsets: 0,
		},
		{
			name:    "retention removed part of the range",
			parts:   []Partition{{Partition: p(2), LogStart: 120, End: 150, Replicated: 100}},
			want:    []Range{{Partition: p(2), From: 120, To: 150, Lost: 20}},
			offsets: 30,
		},
		{
			name:    "retention removed all of it",
			parts:   []Partition{{Partition: p(2), LogStart: 150, End: 150, Replicated: 100}},
			want:    []Range{{Partition: p(2), From: 150, To: 150, Lost: 50}},
			offsets: 0,
		},
		{
			name:  "log truncated below the replicated position",
			parts: []Partition{{Partition: p(0), LogStart: 0, End: 90, Replicated: 100}},
			want:  nil,
		},
		{
			name: "several partitions, in order",
			parts: []Partition{
				{Partition: p(0), LogStart: 0, End: 12, Replicated: 10},
				{Partition: p(1), LogStart: 0, End: 7, Replicated: 7},
				{Partition: p(2), LogStart: 0, End: 5, Replicated: 0},
			},
			want: []Range{
				{Partition: p(0), From: 10, To: 12},
				{Partition: p(2), From: 0, To: 5},
			},
			offsets: 7,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, offsets := Plan(tc.parts)
			if !reflect.DeepEqual(got, tc.want) || offsets != tc.offsets {
				t.Errorf("Plan = %+v, %d offsets; want %+v, %d", got, offsets, tc.want, tc.offsets)
			}
		})
	}
}
