package mirror

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ProgressTopic is the compacted topic in every target cluster that holds
// how far each source partition has been copied.
const ProgressTopic = "geomesh.progress"

// progressVersion is the first byte of every progress value. A later version
// may only append fields, so that an older agent still reads the ones it
// knows during a rolling upgrade.
const (
	progressVersion = 1
	progressLen     = 1 + 4*8
)

// Progress is how far one source partition has been copied, as stored in
// ProgressTopic under the key "<source region>/<topic>/<partition>".
//
// The value is 33 bytes, big-endian:
//
//	byte  0     version (1)
//	bytes 1-8   Next: the next source offset to read
//	bytes 9-16  LastSource: source offset of the last record copied, -1 if none
//	bytes 17-24 LastTarget: target offset of that copy, -1 if none
//	bytes 25-32 LastTimestamp: that record's timestamp in unix ms, -1 if none
//
// Next may be past LastSource+1: transaction markers, aborted records,
// compaction gaps and records the loop rules filter all advance it without a
// copy. LastSource and LastTarget are the anchor that offset translation
// starts its search from.
type Progress struct {
	Next          int64
	LastSource    int64
	LastTarget    int64
	LastTimestamp int64
}

// noProgress is the state of a partition nothing has been copied from.
func noProgress(next int64) Progress {
	return Progress{Next: next, LastSource: -1, LastTarget: -1, LastTimestamp: -1}
}

// AppendTo appends the encoded value to b.
func (p Progress) AppendTo(b []byte) []byte {
	b = append(b, progressVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(p.Next))
	b = binary.BigEndian.AppendUint64(b, uint64(p.LastSource))
	b = binary.BigEndian.AppendUint64(b, uint64(p.LastTarget))
	return binary.BigEndian.AppendUint64(b, uint64(p.LastTimestamp))
}

// DecodeProgress parses a progress value.
func DecodeProgress(b []byte) (Progress, error) {
	if len(b) == 0 || b[0] == 0 {
		return Progress{}, errors.New("progress value: missing version")
	}
	if len(b) < progressLen {
		return Progress{}, fmt.Errorf("progress value: %d bytes, version %d needs at least %d", len(b), b[0], progressLen)
	}
	return Progress{
		Next:          int64(binary.BigEndian.Uint64(b[1:])),
		LastSource:    int64(binary.BigEndian.Uint64(b[9:])),
		LastTarget:    int64(binary.BigEndian.Uint64(b[17:])),
		LastTimestamp: int64(binary.BigEndian.Uint64(b[25:])),
	}, nil
}

// ProgressKey is the key of a source partition's progress record.
func ProgressKey(source, topic string, partition int32) string {
	return source + "/" + topic + "/" + strconv.FormatInt(int64(partition), 10)
}

// parseProgressKey splits a key of the given source region; ok is false for
// other regions' keys and for keys geomesh did not write. Topic names cannot
// contain '/', so the last one separates the partition.
func parseProgressKey(source string, key []byte) (Partition, bool) {
	k := string(key)
	rest, ok := strings.CutPrefix(k, source+"/")
	if !ok {
		return Partition{}, false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return Partition{}, false
	}
	p, err := strconv.ParseInt(rest[i+1:], 10, 32)
	if err != nil {
		return Partition{}, false
	}
	return Partition{Topic: rest[:i], Partition: int32(p)}, true
}

// progressPartition picks the partition of ProgressTopic a key lives in. All
// writers must agree on it, or compaction would keep one stale value per
// partition; readers do not care, they read every partition.
func progressPartition(key string, partitions int) int32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int32(h.Sum32() % uint32(partitions))
}

// ensureTopic creates topic with the broker's default replication factor
// unless it exists.
func ensureTopic(ctx context.Context, adm *kadm.Client, cluster, topic string, partitions int32, configs map[string]*string) error {
	resp, err := adm.CreateTopic(ctx, partitions, -1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("cluster %s: create topic %s: %w", cluster, topic, err)
	}
	return nil
}

// readProgress returns the latest committed progress of the wanted
// partitions, read with read_committed up to the end of ProgressTopic as it
// was when called. Reading to the high watermark, not the last stable
// offset, matters: another shard's open transaction can hold the last stable
// offset below a progress record this shard committed later.
//
// It returns the number of partitions of ProgressTopic too, which writers
// need to place keys.
func readProgress(ctx context.Context, newClient ClientFactory, adm *kadm.Client, cluster, source string, want map[Partition]bool, log *slog.Logger) (map[Partition]Progress, int, error) {
	ends, err := adm.ListEndOffsets(ctx, ProgressTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, 0, fmt.Errorf("cluster %s: end offsets of %s: %w", cluster, ProgressTopic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, ProgressTopic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, 0, fmt.Errorf("cluster %s: start offsets of %s: %w", cluster, ProgressTopic, err)
	}
	nparts := len(ends[ProgressTopic])
	if nparts == 0 {
		return nil, 0, fmt.Errorf("cluster %s: topic %s has no partitions", cluster, ProgressTopic)
	}
	out := make(map[Partition]Progress)
	remaining := make(map[int32]int64) // partition → end offset still to reach
	from := make(map[int32]kgo.Offset)
	for p, end := range ends[ProgressTopic] {
		start := starts[ProgressTopic][p].Offset
		if end.Offset > start {
			remaining[p] = end.Offset
			from[p] = kgo.NewOffset().At(start)
		}
	}
	if len(remaining) == 0 {
		return out, nparts, nil
	}
	cl, err := newClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{ProgressTopic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Markers tell us we passed the end even when the last records
		// before it belong to an aborted transaction.
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return nil, 0, fmt.Errorf("cluster %s: progress reader: %w", cluster, err)
	}
	defer cl.Close()
	waitLogged := time.Now()
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		for _, fe := range fs.Errors() {
			return nil, 0, fmt.Errorf("cluster %s: read %s partition %d: %w", cluster, ProgressTopic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			tp, ok := parseProgressKey(source, r.Key)
			if !ok || !want[tp] {
				return
			}
			if r.Value == nil { // a tombstone: an operator reset the partition
				delete(out, tp)
				return
			}
			p, err := DecodeProgress(r.Value)
			if err != nil {
				log.Warn("ignoring unreadable progress record", "cluster", cluster, "key", string(r.Key), "offset", r.Offset, "err", err)
				return
			}
			out[tp] = p
		})
		if len(remaining) > 0 && time.Since(waitLogged) > 10*time.Second {
			// An open transaction of a dead agent holds read_committed
			// back until the broker times it out.
			log.Info("still reading progress, waiting for open transactions to end", "cluster", cluster, "partitions", len(remaining))
			waitLogged = time.Now()
		}
	}
	return out, nparts, nil
}

// ReadProgress returns the latest committed progress of the given source
// partitions of region source in the cluster behind newClient and adm,
// read as a restarting shard reads it (see readProgress), and the number
// of partitions of ProgressTopic. The caller must have fenced any writer of
// those keys first (InitProducerID), or the answer may be stale at once.
func ReadProgress(ctx context.Context, newClient ClientFactory, adm *kadm.Client, cluster, source string, parts []Partition, log *slog.Logger) (map[Partition]Progress, int, error) {
	want := make(map[Partition]bool, len(parts))
	for _, p := range parts {
		want[p] = true
	}
	if err := EnsureProgressTopic(ctx, adm, cluster); err != nil {
		return nil, 0, err
	}
	return readProgress(ctx, newClient, adm, cluster, source, want, log)
}

// EnsureProgressTopic creates ProgressTopic in a cluster unless it exists.
func EnsureProgressTopic(ctx context.Context, adm *kadm.Client, cluster string) error {
	compact := "compact"
	return ensureTopic(ctx, adm, cluster, ProgressTopic, 1, map[string]*string{"cleanup.policy": &compact})
}

// ProgressPartition is the partition of ProgressTopic (of the given
// number of partitions) that every writer puts key in.
func ProgressPartition(key string, partitions int) int32 { return progressPartition(key, partitions) }
