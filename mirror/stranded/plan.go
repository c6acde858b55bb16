package stranded

import "github.com/geomesh/geomesh/mirror"

// Partition is what is known of one source partition of the old primary
// when it settles: its log as it is now and how far the flow to the new
// primary had copied it.
type Partition struct {
	mirror.Partition
	// LogStart and End bound the partition's log on the old primary:
	// the log start offset and the high watermark.
	LogStart, End int64
	// Replicated is the next source offset the flow had still to copy
	// (mirror.Progress.Next), -1 when it never committed progress for
	// the partition.
	Replicated int64
}

// Range is the stranded part of one partition: offsets [From, To) of
// the old primary's log never reached the new primary. The offsets
// include transaction markers and aborted records, which read_committed
// skips; only the records read count as stranded.
type Range struct {
	mirror.Partition
	From, To int64
	// Lost counts offsets past the replicated position that retention
	// removed from the old primary before it could settle them.
	Lost int64
}

// Offsets is the number of offsets the range covers.
func (r Range) Offsets() int64 { return r.To - r.From }

// Plan gives the stranded range of every partition that has one, in the
// order given, and the offsets they cover in all. A partition the flow
// never copied is stranded from its log start. A replicated position
// past the end (the log was truncated after an unclean leader election)
// strands nothing: there is nothing left to read.
func Plan(parts []Partition) (ranges []Range, offsets int64) {
	for _, p := range parts {
		from := p.Replicated
		var lost int64
		if from < p.LogStart {
			if from >= 0 {
				lost = p.LogStart - from
			}
			from = p.LogStart
		}
		if from >= p.End && lost == 0 {
			continue
		}
		r := Range{Partition: p.Partition, From: from, To: max(from, p.End), Lost: lost}
		ranges = append(ranges, r)
		offsets += r.Offsets()
	}
	return ranges, offsets
}
