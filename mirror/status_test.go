package mirror

import (
	"math"
	"testing"
	"time"
)

// TestLagMatchesStatus: Lag, which walks the progress map, sums what
// Status reports partition by partition, for caught-up, behind, never
// fetched, pending and paused partitions.
func TestLagMatchesStatus(t *testing.T) {
	now := time.Now()
	ms := func(ago time.Duration) int64 { return now.Add(-ago).UnixMilli() }
	parts := []Partition{{"a", 0}, {"a", 1}, {"a", 2}, {"b", 0}, {"b", 1}, {"c", 0}}
	s := NewShard(ShardConfig{Partitions: parts})
	s.prog[Partition{"a", 0}] = &partStatus{committed: Progress{Next: 10, LastTimestamp: ms(time.Minute)}, hwm: 10, logStart: 0, oldestTS: -1}
	s.prog[Partition{"a", 1}] = &partStatus{committed: Progress{Next: 4, LastTimestamp: ms(3 * time.Second)}, hwm: 10, logStart: 0, oldestTS: -1}
	s.prog[Partition{"a", 2}] = &partStatus{committed: noProgress(-1), hwm: 7, logStart: 2, oldestTS: -1}
	s.prog[Partition{"b", 0}] = &partStatus{committed: Progress{Next: 1, LastTimestamp: ms(time.Hour)}, hwm: 5, logStart: 0, oldestTS: ms(8 * time.Second)}
	s.prog[Partition{"b", 1}] = &partStatus{committed: Progress{Next: 3, LastTimestamp: ms(time.Second)}, hwm: 6, logStart: 0, oldestTS: -1}
	s.paused[Partition{"b", 1}] = &pauseState{offset: 3, timestamp: now.Add(-20 * time.Second)}
	s.paused[Partition{"c", 0}] = &pauseState{offset: 0, timestamp: now.Add(-time.Hour)}

	var wantRecords int64
	var wantSeconds float64
	wantPaused := 0
	for _, p := range s.Status().Partitions {
		wantRecords += p.Lag
		wantSeconds = max(wantSeconds, p.LagSeconds)
		if p.Paused {
			wantPaused++
		}
	}
	records, seconds, paused := s.Lag()
	if records != wantRecords || paused != wantPaused || math.Abs(seconds-wantSeconds) > 0.5 {
		t.Errorf("Lag() = %d records, %.1f s, %d paused; Status sums to %d, %.1f s, %d", records, seconds, paused, wantRecords, wantSeconds, wantPaused)
	}
	// 0 + 6 + 5 + 4 + 3: the paused b/1 counts from its pause (20 s), the
	// largest; c/0 is paused with nothing fetched.
	if records != 18 || paused != 2 || seconds < 19 || seconds > 21 {
		t.Errorf("Lag() = %d records, %.1f s, %d paused; want 18, 20 s, 2", records, seconds, paused)
	}
}
