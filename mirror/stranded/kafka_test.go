package stranded

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRealKafkaReplay proves on Apache Kafka what matters beyond kfake:
// the stranded range of partition 0 holds plain records, a committed and
// an aborted transaction, and read_committed settles only the committed
// records. They are replayed after what the new primary took since the
// failover, in source order, once; a second settlement finds none.
func TestRealKafkaReplay(t *testing.T) {
	usC := kafkatest.Start(t, kafkatest.Options{Brokers: 1})
	euC := kafkatest.Start(t, kafkatest.Options{Brokers: 1})
	us, eu := usC.Bootstrap(), euC.Bootstrap()
	testkit.CreateTopic(t, kadm.NewClient(client(t, us)), 2, 1, nil, "orders")
	testkit.CreateTopic(t, kadm.NewClient(client(t, eu)), 2, 1, nil, "orders")

	rec := func(p int32, v string) *kgo.Record {
		return &kgo.Record{Topic: "orders", Partition: p, Value: []byte(v)}
	}
	var plain []*kgo.Record
	for i := range 5 {
		plain = append(plain, rec(0, fmt.Sprintf("us/0/plain-%d", i)))
	}
	produce(t, us, plain...)
	txn := client(t, us, kgo.TransactionalID("app"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, commit := range []bool{true, false} {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := txn.ProduceSync(t.Context(), rec(0, fmt.Sprintf("us/0/txn-%v-%d", commit, i))).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := txn.EndTransaction(t.Context(), kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	produce(t, us, rec(1, "us/1/plain-0"), rec(1, "us/1/plain-1"))
	// The flow had copied offsets 0 and 1 of partition 0, nothing of 1.
	writeProgress(t, eu, "orders", map[int32]int64{0: 2})
	produce(t, eu, rec(0, "eu/new"))

	cfg := Config{
		Mesh: "it", Policy: topology.StrandedReplay,
		Flow:   topology.Flow{Source: "us", Target: "eu", Kind: topology.FlowReplicate, Naming: topology.NamingIdentity, Topics: topology.MustSelection([]string{"orders"}, nil)},
		Source: factory(us), Target: factory(eu), Logger: testkit.Logger(t, slog.LevelInfo),
	}
	rep, err := Settle(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 8 {
		t.Fatalf("settled %+v, want 8 records: 3 plain and 3 committed in partition 0, 2 in partition 1", rep)
	}
	again, err := Settle(t.Context(), cfg)
	if err != nil || again.Records != 0 {
		t.Fatalf("second settlement: %+v, %v; want nothing", again, err)
	}
	got := map[int32][]string{}
	for _, r := range readAll(t, eu, "orders") {
		got[r.Partition] = append(got[r.Partition], string(r.Value))
	}
	want0 := "[eu/new us/0/plain-2 us/0/plain-3 us/0/plain-4 us/0/txn-true-0 us/0/txn-true-1 us/0/txn-true-2]"
	if fmt.Sprint(got[0]) != want0 || fmt.Sprint(got[1]) != "[us/1/plain-0 us/1/plain-1]" {
		t.Errorf("eu's orders after replay: %v, want partition 0 %s", got, want0)
	}
	ends, err := kadm.NewClient(client(t, us)).ListEndOffsets(t.Context(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	prog, _, err := mirror.ReadProgress(t.Context(), factory(eu), kadm.NewClient(client(t, eu)), "eu", "us",
		[]mirror.Partition{{Topic: "orders", Partition: 0}, {Topic: "orders", Partition: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(2) {
		end, _ := ends.Lookup("orders", p)
		if got := prog[mirror.Partition{Topic: "orders", Partition: p}]; got.Next != end.Offset {
			t.Errorf("progress of orders/%d: %+v, want next %d (the end, past both markers)", p, got, end.Offset)
		}
	}
	t.Logf("replayed %d records; progress of orders/0 ends at %d", rep.Records, prog[mirror.Partition{Topic: "orders", Partition: 0}].Next)
}
