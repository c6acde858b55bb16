package stranded

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clientOpts reach seeds, with fresh metadata for the topics that
// settlement creates.
func clientOpts(seeds []string) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.MetadataMinAge(50 * time.Millisecond)}
}

func factory(seeds []string) mirror.ClientFactory {
	return testkit.ClientFactory(clientOpts(seeds)...)
}

func client(t *testing.T, seeds []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return testkit.Client(t, append(clientOpts(seeds), opts...)...)
}

// produce writes rs, each to the partition it names, to seeds.
func produce(t *testing.T, seeds []string, rs ...*kgo.Record) {
	t.Helper()
	testkit.Produce(t, client(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner())), rs...)
}

// readAll reads a topic with read_committed to its end.
func readAll(t *testing.T, seeds []string, topic string) []*kgo.Record {
	t.Helper()
	adm := kadm.NewClient(client(t, seeds))
	ends, err := adm.ListEndOffsets(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	cl := client(t, seeds, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v left", topic, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	return out
}

// writeProgress commits progress records for partitions of topic as a
// flow us→eu would have.
func writeProgress(t *testing.T, seeds []string, topic string, next map[int32]int64) {
	t.Helper()
	adm := kadm.NewClient(client(t, seeds))
	if err := mirror.EnsureProgressTopic(t.Context(), adm, "eu"); err != nil {
		t.Fatal(err)
	}
	cl := client(t, seeds, kgo.TransactionalID("test-progress"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p, n := range next {
		key := mirror.ProgressKey("us", topic, p)
		v := mirror.Progress{Next: n, LastSource: n - 1, LastTarget: n - 1, LastTimestamp: 1}.AppendTo(nil)
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: mirror.ProgressTopic, Partition: mirror.ProgressPartition(key, 1), Key: []byte(key), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(t.Context(), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
}

// TestSettle: the old primary us holds 10 records in each of 3
// partitions; the flow us→eu had copied partition 0 to offset 7,
// partition 1 entirely and partition 2 not at all, and us's offset 8 of
// partition 0 is a copy of an eu record. 12 records are stranded, under
// every policy; a second settlement finds none, and the flow's progress
// ends past them.
func TestSettle(t *testing.T) {
	for _, policy := range []topology.Stranded{topology.StrandedQuarantine, topology.StrandedReplay, topology.StrandedDrop} {
		t.Run(string(policy), func(t *testing.T) {
			us, eu := testkit.FakeCluster(t).ListenAddrs(), testkit.FakeCluster(t).ListenAddrs()
			testkit.CreateTopic(t, kadm.NewClient(client(t, us)), 3, 1, nil, "orders")
			testkit.CreateTopic(t, kadm.NewClient(client(t, eu)), 3, 1, nil, "orders")
			var rs []*kgo.Record
			for p := range int32(3) {
				for i := range 10 {
					r := &kgo.Record{Topic: "orders", Partition: p, Key: []byte("k"), Value: fmt.Appendf(nil, "us/%d/%d", p, i)}
					if p == 0 && i == 8 {
						r.Headers = []kgo.RecordHeader{
							{Key: mirror.HeaderOriginRegion, Value: []byte("eu")},
							{Key: mirror.HeaderVisited, Value: []byte("eu,us")},
						}
					}
					rs = append(rs, r)
				}
			}
			produce(t, us, rs...)
			writeProgress(t, eu, "orders", map[int32]int64{0: 7, 1: 10})
			// Written on the new primary since the failover.
			produce(t, eu, &kgo.Record{Topic: "orders", Partition: 0, Value: []byte("eu/new")})

			cfg := Config{
				Mesh: "t", Policy: policy,
				Flow:   topology.Flow{Source: "us", Target: "eu", Kind: topology.FlowReplicate, Naming: topology.NamingIdentity, Topics: topology.MustSelection([]string{"orders"}, nil)},
				Source: factory(us), Target: factory(eu), MaxRecords: 5, Logger: testkit.Logger(t, slog.LevelInfo),
			}
			rep, err := Settle(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Records != 12 || rep.Topics["orders"] != 12 || rep.Policy != policy {
				t.Fatalf("report %+v, want 12 records of orders under %s", rep, policy)
			}
			again, err := Settle(t.Context(), cfg)
			if err != nil || again.Records != 0 {
				t.Fatalf("second settlement: %+v, %v; want nothing settled", again, err)
			}

			// Exactly the 12, with provenance, where the policy puts them.
			dest := map[topology.Stranded]string{topology.StrandedQuarantine: "orders.stranded", topology.StrandedReplay: "orders"}[policy]
			if dest != "" {
				var got []*kgo.Record
				for _, r := range readAll(t, eu, dest) {
					if headerValue(r, mirror.HeaderOriginRegion) == "us" {
						got = append(got, r)
					}
				}
				seen := map[string]bool{}
				for _, r := range got {
					p, off := headerValue(r, mirror.HeaderOriginPartition), headerValue(r, mirror.HeaderOriginOffset)
					want := "us/" + p + "/" + off
					if string(r.Value) != want || strconv.Itoa(int(r.Partition)) != p || headerValue(r, mirror.HeaderOriginTopic) != "orders" || headerValue(r, mirror.HeaderVisited) != "us,eu" {
						t.Errorf("copy %s/%d@%d %q: provenance %s/%s/%s@%s visited %q", r.Topic, r.Partition, r.Offset, r.Value,
							headerValue(r, mirror.HeaderOriginRegion), headerValue(r, mirror.HeaderOriginTopic), p, off, headerValue(r, mirror.HeaderVisited))
					}
					if seen[want] {
						t.Errorf("%s copied twice", want)
					}
					seen[want] = true
				}
				if len(got) != 12 || seen["us/0/8"] || !seen["us/0/7"] || !seen["us/0/9"] || !seen["us/2/0"] {
					t.Errorf("%s holds %d copies from us (%v), want 12: 0@7, 0@9, 2@0-9", dest, len(got), seen)
				}
			}
			if policy == topology.StrandedReplay {
				// After what the new primary took since the failover.
				p0 := []string{}
				for _, r := range readAll(t, eu, "orders") {
					if r.Partition == 0 {
						p0 = append(p0, string(r.Value))
					}
				}
				if fmt.Sprint(p0) != "[eu/new us/0/7 us/0/9]" {
					t.Errorf("partition 0 of eu's orders: %v", p0)
				}
			}
			if policy == topology.StrandedDrop {
				if n := len(readAll(t, eu, "orders")); n != 1 {
					t.Errorf("drop wrote to orders: %d records, want the 1 of eu", n)
				}
			}

			// The flow resumes past them.
			prog, _, err := mirror.ReadProgress(t.Context(), factory(eu), kadm.NewClient(client(t, eu)), "eu", "us",
				[]mirror.Partition{{Topic: "orders", Partition: 0}, {Topic: "orders", Partition: 1}, {Topic: "orders", Partition: 2}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for p := range int32(3) {
				if got := prog[mirror.Partition{Topic: "orders", Partition: p}]; got.Next != 10 {
					t.Errorf("progress of orders/%d: %+v, want next 10", p, got)
				}
			}
			if p0 := prog[mirror.Partition{Topic: "orders", Partition: 0}]; policy == topology.StrandedReplay && (p0.LastSource != 9 || p0.LastTarget != 2) {
				t.Errorf("replay anchor of orders/0: %+v, want source 9 at target 2", p0)
			} else if p2 := prog[mirror.Partition{Topic: "orders", Partition: 2}]; policy == topology.StrandedReplay && (p2.LastSource != 9 || p2.LastTarget != offsetOf(t, eu, "us/2/9")) {
				t.Errorf("replay anchor of orders/2: %+v, want source 9 at the offset of its copy", p2)
			} else if policy != topology.StrandedReplay && (p0.LastSource != 6 || p0.LastTarget != 6) {
				t.Errorf("anchor of orders/0 moved: %+v, want source 6 at target 6", p0)
			}
		})
	}
}

// TestSettleErrors: bad configuration and an unreachable new primary end
// in errors that name the flow or the cluster, and settle nothing.
func TestSettleErrors(t *testing.T) {
	us := testkit.FakeCluster(t).ListenAddrs()
	flow := topology.Flow{Source: "us", Target: "eu", Kind: topology.FlowReplicate, Naming: topology.NamingIdentity, Topics: topology.MustSelection([]string{"orders"}, nil)}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing clients", Config{Mesh: "t", Flow: flow}, "stranded records us→eu: missing [source and target clients]"},
		{"unknown policy", Config{Mesh: "t", Flow: flow, Policy: "keep", Source: factory(us), Target: factory(us)}, `stranded records us→eu: unknown policy "keep"`},
		{"new primary unreachable", Config{Mesh: "t", Flow: flow, Source: factory(us), Target: factory([]string{testkit.RefusedAddr(t)})}, "cluster eu: init producer id geomesh.t.us.eu.stranded: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Settle(ctx, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || rep.Records != 0 {
				t.Errorf("Settle = %+v, %v; want an error containing %q", rep, err, tc.want)
			}
		})
	}
}

// offsetOf is the offset of the record with the given value in eu's orders.
func offsetOf(t *testing.T, seeds []string, value string) int64 {
	t.Helper()
	for _, r := range readAll(t, seeds, "orders") {
		if string(r.Value) == value {
			return r.Offset
		}
	}
	t.Fatalf("no record %q in orders", value)
	return -1
}
