package health

import (
	"fmt"
	"sort"
)

// Status is a consumer group's verdict, in rising order of severity.
type Status int

// The statuses a group can have. The words are Burrow's (its STALL and
// STOP read STALLED and STOPPED here), so that runbooks written for Burrow
// apply.
const (
	// StatusOK: caught up at least once within the window, or its
	// committed offsets move and its lag does not grow at every step.
	StatusOK Status = iota
	// StatusWarn: offsets move but lag grew at every step of the window
	// (the consumers fall behind), or a committed offset went backwards
	// (someone rewound the group).
	StatusWarn
	// StatusStalled: the group has members but not one committed offset
	// of a lagging partition moved during the whole window: the consumers
	// are alive and stuck (a poison record, a blocked downstream).
	StatusStalled
	// StatusStopped: as stalled, but no member is left: nobody consumes.
	StatusStopped
)

// Statuses lists every status in order, for metrics that export one
// series per status.
var Statuses = []Status{StatusOK, StatusWarn, StatusStalled, StatusStopped}

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusWarn:
		return "WARN"
	case StatusStalled:
		return "STALLED"
	case StatusStopped:
		return "STOPPED"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Sample is one observation of a group's partition.
type Sample struct {
	Committed int64 // the group's committed offset
	End       int64 // the partition's end offset (high watermark)
}

// Lag is the records between the committed offset and the end, never
// negative (the end is listed after the commit is fetched, but a
// partition can be truncated under a group).
func (s Sample) Lag() int64 { return max(s.End-s.Committed, 0) }

// EvaluatePartition judges one partition of a group from its window of
// samples, oldest first, the way Burrow does: the trend over the window
// decides, not one threshold on the newest lag, so a large but shrinking
// backlog is OK and a small one that never moves is not. A window shorter
// than full is not judged (OK): a group seen for the first time has no
// trend yet. active says whether the group has members now.
func EvaluatePartition(w []Sample, full int, active bool) (Status, string) {
	for _, s := range w {
		if s.Lag() == 0 {
			return StatusOK, "caught up within the window"
		}
	}
	if len(w) < full {
		return StatusOK, fmt.Sprintf("%d of %d samples", len(w), full)
	}
	for i := 1; i < len(w); i++ {
		if w[i].Committed < w[i-1].Committed {
			return StatusWarn, fmt.Sprintf("committed offset went back from %d to %d", w[i-1].Committed, w[i].Committed)
		}
	}
	first, last := w[0], w[len(w)-1]
	if first.Committed == last.Committed {
		if !active {
			return StatusStopped, fmt.Sprintf("no members; offset %d unchanged over %d samples, lag %d", last.Committed, len(w), last.Lag())
		}
		return StatusStalled, fmt.Sprintf("offset %d unchanged over %d samples, lag %d", last.Committed, len(w), last.Lag())
	}
	growing := true
	for i := 1; i < len(w); i++ {
		if w[i].Lag() <= w[i-1].Lag() {
			growing = false
			break
		}
	}
	if growing {
		return StatusWarn, fmt.Sprintf("lag grew at every sample, from %d to %d", first.Lag(), last.Lag())
	}
	return StatusOK, "offsets move"
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// EvaluateGroup judges a group by its worst partition and says which
// partition that is; a group with no committed partitions is OK.
func EvaluateGroup(windows map[TopicPartition][]Sample, full int, active bool) (Status, string) {
	tps := make([]TopicPartition, 0, len(windows))
	for tp := range windows {
		tps = append(tps, tp)
	}
	// Sorted, so that of equally bad partitions the same one is named
	// every time.
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	worst, why := StatusOK, "no committed offsets"
	for i, tp := range tps {
		s, r := EvaluatePartition(windows[tp], full, active)
		if i == 0 || s > worst {
			worst, why = s, fmt.Sprintf("%s/%d: %s", tp.Topic, tp.Partition, r)
		}
	}
	return worst, why
}
