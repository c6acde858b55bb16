package heartbeat

import (
	"sort"
	"sync"
	"time"
)

// Tracker keeps the newest beat of every origin region seen by a reader.
// It does no I/O and takes the time as an argument, so it is tested with
// tables. Safe for concurrent use: a reader goroutine observes while the
// status API reads.
type Tracker struct {
	mu      sync.Mutex
	regions map[string]*RegionState
}

// RegionState is what a Tracker knows of one origin region.
type RegionState struct {
	Region string
	// Last is the newest beat observed.
	Last Beat
	// Arrived is when Last was observed.
	Arrived time.Time
	// Latency is Latency(Last, Arrived): the replication latency of the
	// newest beat when it arrived.
	Latency time.Duration
	// Age is now minus Last.Time, as of the call that returned this state:
	// how old the newest data from the region is, which keeps growing
	// while replication is stalled.
	Age time.Duration
	// Lost counts beats never observed: gaps in one agent's sequence.
	Lost uint64
	// Restarts counts how often the region's writer started over (a new
	// agent id, or the sequence falling back).
	Restarts uint64
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{regions: make(map[string]*RegionState)}
}

// Observe records a beat that arrived at now. It returns the beat's
// latency and whether it was newer than the region's last beat; an older
// or equal beat (a copy delivered twice, or re-read after a restart of the
// reader) changes nothing.
func (t *Tracker) Observe(b Beat, now time.Time) (time.Duration, bool) {
	lat := Latency(b, now)
	t.mu.Lock()
	defer t.mu.Unlock()
	rs, ok := t.regions[b.Region]
	if !ok {
		t.regions[b.Region] = &RegionState{Region: b.Region, Last: b, Arrived: now, Latency: lat}
		return lat, true
	}
	if !b.Time.After(rs.Last.Time) {
		return lat, false
	}
	switch {
	case b.Agent != rs.Last.Agent || b.Seq <= rs.Last.Seq:
		rs.Restarts++
	case b.Seq > rs.Last.Seq+1:
		rs.Lost += b.Seq - rs.Last.Seq - 1
	}
	rs.Last, rs.Arrived, rs.Latency = b, now, lat
	return lat, true
}

// Age returns how old the newest beat of region is at now, and false if
// the region was never seen.
func (t *Tracker) Age(region string, now time.Time) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rs, ok := t.regions[region]
	if !ok {
		return 0, false
	}
	return now.Sub(rs.Last.Time), true
}

// Regions returns the state of every region seen, sorted by name, with
// Age computed at now.
func (t *Tracker) Regions(now time.Time) []RegionState {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]RegionState, 0, len(t.regions))
	for _, rs := range t.regions {
		c := *rs
		c.Age = now.Sub(c.Last.Time)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Region < out[j].Region })
	return out
}
