package secure

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/test/internal/agenttest"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kgo"
)

// replicateRecords is how many records each mechanism's case copies:
// enough for several transactions of the copy and every partition.
const replicateRecords = 200

// replicateTimeout bounds the copy of one case, from the first record
// produced to the last read on west, agent start included.
const replicateTimeout = 60 * time.Second

// TestReplicateOverEachMechanism runs one agent per mechanism copying an
// active-passive mesh east → west, both clusters reached with that
// mechanism (SASL_SSL with PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and GSSAPI
// against the KDC, and mTLS), and checks that west holds exactly the
// records produced on east, read_committed: same partition, in order,
// once each, with keys, values and headers, and provenance naming east
// and the source offset.
func TestReplicateOverEachMechanism(t *testing.T) {
	t.Setenv(passwordEnv, geomeshPass)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, mech := range mechanisms {
		t.Run(mech, func(t *testing.T) {
			mesh := "repl-" + strings.ToLower(mech)
			topic := mesh + "-orders"
			testkit.CreateTopic(t, admin(t, east), 3, 1, nil, topic)
			path := meshFile(t, mesh, "", func(c *kafkatest.Cluster) *topology.Kafka {
				return kafkaAs(t, c, mech, topology.Secret{Ref: "env:" + passwordEnv})
			})
			begin := time.Now()
			agenttest.Start(t, path, log, "west")
			want := produceNumbered(t, east, topic, mech, replicateRecords)
			got, arrived := consumeCommitted(t, west, topic, len(want), begin.Add(replicateTimeout))
			took := arrived.Sub(begin)
			checkCopies(t, want, got)
			t.Logf("%s: %d records on 3 partitions copied east → west in %s (agent start included), read_committed, in order, once each",
				mech, len(got), took.Round(time.Millisecond))
		})
	}
}

// produceNumbered writes n keyed records with headers to topic on c and
// returns them as written, with partitions and offsets, ordered by
// partition then offset.
func produceNumbered(t *testing.T, c *kafkatest.Cluster, topic, label string, n int) []*kgo.Record {
	t.Helper()
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: topic, Key: []byte("key-" + strconv.Itoa(i%17)), Value: []byte(fmt.Sprintf("%s record %d", label, i)),
			Headers: []kgo.RecordHeader{{Key: "seq", Value: []byte(strconv.Itoa(i))}, {Key: "mechanism", Value: []byte(label)}}}
	}
	testkit.Produce(t, testkit.Client(t, c.ClientOptions()...), rs...)
	slices.SortFunc(rs, func(a, b *kgo.Record) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return rs
}

// consumeCommitted reads topic on c with read_committed until it holds n
// records, then for another second to catch any beyond n, and returns
// them ordered by partition then offset, and when the n-th arrived. It
// fails the test if n have not arrived by deadline.
func consumeCommitted(t *testing.T, c *kafkatest.Cluster, topic string, n int, deadline time.Time) ([]*kgo.Record, time.Time) {
	t.Helper()
	cl := testkit.Client(t, append(c.ClientOptions(), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	var got []*kgo.Record
	var arrived, extraUntil time.Time
	for {
		now := time.Now()
		if len(got) >= n && extraUntil.IsZero() {
			arrived, extraUntil = now, now.Add(time.Second)
		}
		if !extraUntil.IsZero() && now.After(extraUntil) {
			break
		}
		if extraUntil.IsZero() && now.After(deadline) {
			t.Fatalf("%s on west: %d of %d records by the deadline", topic, len(got), n)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(topic string, p int32, err error) {
			if ctx.Err() == nil {
				t.Fatalf("fetch %s[%d] on west: %v", topic, p, err)
			}
		})
		got = append(got, fs.Records()...)
	}
	// Records of one partition arrive in offset order; sorting by
	// partition keeps that order within each.
	slices.SortStableFunc(got, func(a, b *kgo.Record) int { return int(a.Partition - b.Partition) })
	return got, arrived
}

// checkCopies compares the copies with the records produced, one by one.
func checkCopies(t *testing.T, want, got []*kgo.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("west holds %d records, want exactly %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		w, g := want[i], got[i]
		var own []kgo.RecordHeader
		prov := map[string]string{}
		for _, h := range g.Headers {
			if strings.HasPrefix(h.Key, "geomesh-") {
				prov[h.Key] = string(h.Value)
			} else {
				own = append(own, h)
			}
		}
		switch {
		case g.Partition != w.Partition || string(g.Key) != string(w.Key) || string(g.Value) != string(w.Value):
			t.Fatalf("copy %d: partition %d key %q value %q, want partition %d key %q value %q",
				i, g.Partition, g.Key, g.Value, w.Partition, w.Key, w.Value)
		case !slices.EqualFunc(own, w.Headers, func(a, b kgo.RecordHeader) bool { return a.Key == b.Key && string(a.Value) == string(b.Value) }):
			t.Fatalf("copy %d: headers %v, want %v", i, own, w.Headers)
		case prov[mirror.HeaderOriginRegion] != "east" || prov[mirror.HeaderOriginOffset] != strconv.FormatInt(w.Offset, 10):
			t.Fatalf("copy %d: provenance %v, want origin east at offset %d", i, prov, w.Offset)
		}
	}
}
