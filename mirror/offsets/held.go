package offsets

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/geomesh/geomesh/mirror"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The states of a HeldPartition.
const (
	// Synced: TargetOffset is the group's offset committed on the target,
	// by group sync or by an earlier translate --apply.
	Synced State = "synced"
	// Unsynced: the target holds copies of the partition but no offset of
	// the group; a consumer starting there begins at its
	// auto.offset.reset.
	Unsynced State = "unsynced"
)

// heldScanLimit bounds how many records after a group's offset Held reads
// to find the first copy of the source partition, past local records and
// other regions' copies.
const heldScanLimit = 1 << 16

// HeldPartition is what the target cluster holds about one partition of a
// group, read without the source. Translation's fields keep their meaning
// where they can: TargetOffset is the group's committed offset on the
// target (-1 when Unsynced), OriginOffset the source offset of the first
// copy a consumer resuming there reads (-1 if none), and SourceOffset the
// source offset the consumer resumes at: OriginOffset, or CopiedTo when
// the group has read every copy (-1 when unknown).
type HeldPartition struct {
	Translation
	// CopiedTo is the copier's committed next source offset
	// (mirror.Progress.Next): every source record before it was copied,
	// or skipped on purpose (markers, aborted records). -1 when the copier
	// committed nothing for the partition.
	CopiedTo int64 `json:"copied_to"`
	// LastCopy is the source timestamp of the last record copied; zero
	// when none was.
	LastCopy time.Time `json:"last_copy,omitzero"`
	// AtMostRepeated bounds the copies at or after TargetOffset: records
	// the group may have read in the source after its offset there was
	// last synced, which a consumer resuming at TargetOffset reads again.
	// It counts source offsets, markers and aborted records included,
	// hence "at most". -1 when unknown.
	AtMostRepeated int64 `json:"at_most_repeated"`
}

// Held is the answer of Translator.Held.
type Held struct {
	Partitions []HeldPartition
	// NewestCopy is the newest source timestamp the copier committed from
	// the flow's source, over all its partitions, the source's heartbeat
	// topic included (a beat every second while the source's agents run):
	// the target holds the source's records up to about then. Zero when
	// nothing was copied.
	NewestCopy time.Time
}

// Held answers for a group from the target cluster alone, for when the
// source region cannot be asked: per partition of the flow's topics the
// group holds offsets on, the group's committed offset on the target, the
// first source record a consumer resuming there reads, how far the copier
// got, and how many copies past the offset the group may have read in the
// source already. Unlike Translate it cannot say where the group is in the
// source now, only where it was when its offset on the target was
// committed; with group sync running that is at most a sync interval
// before the source stopped answering, unless sync was failing.
func (t *Translator) Held(ctx context.Context, group string) (Held, error) {
	f := t.Flow()
	committed, err := t.dstAdm.FetchOffsets(ctx, group)
	if err == nil {
		err = committed.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return Held{}, nil // never committed on the target
	}
	if err != nil {
		return Held{}, fmt.Errorf("cluster %s: offsets of group %s: %w", f.Target, group, err)
	}
	progress, err := t.prog.withPrefix(ctx, f.Source+"/")
	if err != nil {
		return Held{}, err
	}
	var out Held
	copied := map[string]map[int32]mirror.Progress{} // source topic → partition → progress
	for key, p := range progress {
		topic, part, ok := parseProgressKey(strings.TrimPrefix(key, f.Source+"/"))
		if !ok {
			continue
		}
		if p.LastTimestamp >= 0 {
			if ts := time.UnixMilli(p.LastTimestamp); ts.After(out.NewestCopy) {
				out.NewestCopy = ts
			}
		}
		if !f.Selects(topic) {
			continue // the source's heartbeats: no group reads them
		}
		if copied[topic] == nil {
			copied[topic] = map[int32]mirror.Progress{}
		}
		copied[topic][part] = p
	}
	// Topics the group holds offsets for on the target, by source name,
	// with every partition either side knows.
	parts := map[string]map[int32]bool{}
	sourceOf := map[string]string{}
	for topic := range copied {
		sourceOf[f.TargetTopic(topic)] = topic
	}
	committed.Each(func(o kadm.OffsetResponse) {
		src, ok := sourceOf[o.Topic]
		if !ok || o.Err != nil || o.At < 0 {
			return
		}
		if parts[src] == nil {
			parts[src] = map[int32]bool{}
			for p := range copied[src] {
				parts[src][p] = true
			}
		}
		parts[src][o.Partition] = true
	})
	if len(parts) == 0 {
		return out, nil
	}
	var targets []string
	for src := range parts {
		targets = append(targets, f.TargetTopic(src))
	}
	slices.Sort(targets)
	info, err := t.targetInfo(ctx, targets)
	if err != nil {
		return Held{}, err
	}
	for _, tt := range targets {
		src := sourceOf[tt]
		for _, p := range slices.Sorted(maps.Keys(parts[src])) {
			hp := HeldPartition{
				Translation: Translation{Topic: src, Partition: p, TargetTopic: tt, TargetOffset: -1, SourceOffset: -1, OriginOffset: -1, State: Unsynced},
				CopiedTo:    -1, AtMostRepeated: -1,
			}
			prog, hasProgress := copied[src][p]
			if hasProgress {
				hp.CopiedTo = prog.Next
				if prog.LastTimestamp >= 0 {
					hp.LastCopy = time.UnixMilli(prog.LastTimestamp)
				}
			}
			o, ok := committed.Lookup(tt, p)
			if !ok || o.Err != nil || o.At < 0 {
				out.Partitions = append(out.Partitions, hp)
				continue
			}
			hp.State, hp.TargetOffset = Synced, o.At
			if !hasProgress {
				out.Partitions = append(out.Partitions, hp)
				continue
			}
			var first Record
			found := false
			if pi, ok := info[mirror.Partition{Topic: tt, Partition: p}]; ok && o.At <= prog.LastTarget {
				rd := t.reader(src, tt, p, pi)
				first, found, err = firstCopy(ctx, rd, o.At, prog.LastTarget, heldScanLimit)
				if err != nil {
					hp.Error = err.Error()
					out.Partitions = append(out.Partitions, hp)
					continue
				}
			}
			hp.SourceOffset, hp.OriginOffset, hp.AtMostRepeated = resumeHeld(prog, first, found)
			out.Partitions = append(out.Partitions, hp)
		}
	}
	return out, nil
}

// resumeHeld says which source offset a consumer resuming at the group's
// target offset reads first, and how many source offsets of copies lie at
// or after it. first is the first copy of the source partition at or
// after that offset, when found.
func resumeHeld(p mirror.Progress, first Record, found bool) (source, origin, atMost int64) {
	if found {
		return first.Origin, first.Origin, max(p.LastSource+1-first.Origin, 0)
	}
	// Past the last copy (the group read everything copied), or the
	// copies at or after the offset are gone (retention or compaction on
	// the target): what is left to read starts at the copier's next.
	return p.Next, -1, 0
}

// firstCopy reads the log from offset for the first copy of the source
// partition, up to target offset last and at most limit records.
func firstCopy(ctx context.Context, log Log, offset, last int64, limit int) (Record, bool, error) {
	for range limit {
		r, ok, err := log.ReadAt(ctx, offset)
		if err != nil || !ok || r.Offset > last {
			return Record{}, false, err
		}
		if r.Copy {
			return r, true, nil
		}
		offset = r.Offset + 1
	}
	return Record{}, false, fmt.Errorf("no copy within %d records after offset %d", limit, offset)
}

// parseProgressKey splits "<topic>/<partition>", the end of a progress
// key (mirror.ProgressKey); topic names cannot hold a slash.
func parseProgressKey(s string) (topic string, partition int32, ok bool) {
	topic, p, ok := strings.Cut(s, "/")
	if !ok {
		return "", 0, false
	}
	n, err := strconv.ParseInt(p, 10, 32)
	return topic, int32(n), err == nil
}

// withPrefix waits until the view holds everything committed to the
// progress topic before the call, and returns the progress of every key
// with the prefix.
func (v *progressView) withPrefix(ctx context.Context, prefix string) (map[string]mirror.Progress, error) {
	if _, err := v.sync(ctx, nil); err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	out := map[string]mirror.Progress{}
	for k, p := range v.values {
		if strings.HasPrefix(k, prefix) {
			out[k] = p
		}
	}
	return out, nil
}

// reader is a Log over target partition p of topic tt, whose copies of
// source topic src count.
func (t *Translator) reader(src, tt string, p int32, pi partInfo) *partitionReader {
	f := t.Flow()
	tp := mirror.Partition{Topic: tt, Partition: p}
	return &partitionReader{
		cl: t.cfg.Target, cluster: f.Target, topic: tt, topicID: pi.topicID, partition: p, leader: pi.leader,
		originRegion: f.Source, originTopic: src, originPartition: strconv.AppendInt(nil, int64(p), 10),
		bufFrom: -1, bufNext: -1,
		relocate: func(ctx context.Context) (int32, error) {
			info, err := t.targetInfo(ctx, []string{tt})
			if err != nil {
				return -1, err
			}
			return info[tp].leader, nil
		},
	}
}
