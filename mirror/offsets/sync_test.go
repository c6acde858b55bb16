package offsets

import "testing"

// TestShouldCommitNeverBackwards pins group sync's rule: a group moves
// forward on the target; it moves back only when its source offset moved
// back (reset on the source) and the target still holds what this syncer
// put there, never because a translation came out lower. Each case is a
// sequence of rounds of one syncer; a restart is a new syncer.
func TestShouldCommitNeverBackwards(t *testing.T) {
	type round struct {
		partition int32
		source    int64 // the group's committed source offset
		target    int64 // its translation
		has       bool  // the target group holds an offset
		current   int64 // which
		want      bool
	}
	tests := []struct {
		name   string
		rounds []round
	}{{
		name:   "no offset on the target yet",
		rounds: []round{{source: 100, target: 20, want: true}},
	}, {
		name:   "forward",
		rounds: []round{{source: 100, target: 20, has: true, current: 10, want: true}},
	}, {
		name:   "equal",
		rounds: []round{{source: 100, target: 20, has: true, current: 20}},
	}, {
		// After a restart the syncer knows nothing it committed: the
		// group may have been consumed on the target since.
		name:   "behind, after a restart",
		rounds: []round{{source: 50, target: 10, has: true, current: 20}},
	}, {
		name: "behind after a reset on the source",
		rounds: []round{
			{source: 100, target: 20, has: true, current: 20},
			{source: 50, target: 10, has: true, current: 20, want: true},
		},
	}, {
		name: "behind without a reset on the source",
		rounds: []round{
			{source: 100, target: 20, has: true, current: 20},
			{source: 100, target: 15, has: true, current: 20},
			{source: 120, target: 15, has: true, current: 20},
		},
	}, {
		name: "a reset on the source after the group was consumed on the target",
		rounds: []round{
			{source: 100, target: 20, has: true, current: 20},
			{source: 50, target: 10, has: true, current: 25},
		},
	}, {
		name: "forward, then a reset on the source before the commit was seen",
		rounds: []round{
			// The commit's outcome is not the rule's to record: it
			// may have failed, leaving 10 from someone else.
			{source: 100, target: 20, has: true, current: 10, want: true},
			{source: 50, target: 5, has: true, current: 10},
		},
	}, {
		name: "the source moved on without a new copy, then back",
		rounds: []round{
			{source: 100, target: 20, has: true, current: 20},
			{source: 120, target: 20, has: true, current: 20},
			{source: 110, target: 15, has: true, current: 20, want: true},
		},
	}, {
		name: "a reset on the source after a restart, once synced again",
		rounds: []round{
			{source: 50, target: 10, has: true, current: 20},
			{source: 100, target: 20, has: true, current: 20},
			{source: 50, target: 10, has: true, current: 20, want: true},
		},
	}, {
		name: "partitions are judged apart",
		rounds: []round{
			{partition: 0, source: 100, target: 20, has: true, current: 20},
			{partition: 1, source: 50, target: 10, has: true, current: 20},
			{partition: 0, source: 50, target: 10, has: true, current: 20, want: true},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSyncer(SyncConfig{Translator: NewTranslator(Config{})})
			for i, r := range tc.rounds {
				k := syncKey{group: "g", topic: "orders", partition: r.partition}
				tr := Translation{Topic: "orders", Partition: r.partition, SourceOffset: r.source, TargetTopic: "orders", TargetOffset: r.target, State: Copied}
				if got := s.shouldCommit(k, tr, r.has, r.current); got != r.want {
					t.Fatalf("round %d %+v: commit %v, want %v", i, r, got, r.want)
				}
			}
		})
	}
}
