package topics

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestListerSurvivesADeadBroker: the lister asks one broker at a time;
// when that broker fails the request, the listing still comes back,
// through the client, and every listing has the topic's shape.
func TestListerSurvivesADeadBroker(t *testing.T) {
	c := testkit.FakeCluster(t, kfake.NumBrokers(3))
	cl := testkit.Client(t, kgo.SeedBrokers(c.ListenAddrs()...))
	ctx := ctxT(t)
	testkit.CreateTopic(t, kadm.NewClient(cl), 4, 3, nil, "orders")
	l := &lister{cl: cl}
	if _, _, err := l.list(ctx); err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int32
	c.KeepControl()
	c.ControlKey(kmsg.Metadata.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		if c.CurrentNode() == 0 {
			refused.Add(1)
			return nil, errors.New("broker 0 is down"), true
		}
		return nil, nil, false
	})
	for i := range 6 {
		topics, brokers, err := l.list(ctx)
		if err != nil {
			t.Fatalf("listing %d: %v", i, err)
		}
		got := topics["orders"]
		if got.err != nil || got.parts != 4 || got.rf != 3 || brokers != 3 {
			t.Fatalf("listing %d: orders %+v, %d brokers; want 4 partitions, RF 3, 3 brokers", i, got, brokers)
		}
	}
	if refused.Load() == 0 {
		t.Error("no listing asked broker 0, so the fallback was not exercised")
	}
}
