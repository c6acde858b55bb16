package offsets

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeCluster starts a kfake cluster for the test and returns a factory of
// its clients.
func fakeCluster(t *testing.T) mirror.ClientFactory {
	t.Helper()
	return testkit.ClientFactory(kgo.SeedBrokers(testkit.FakeCluster(t).ListenAddrs()...))
}

func newClient(t *testing.T, f mirror.ClientFactory, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := f(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// fakeCopier writes copies of source partition orders/0 and their
// progress in one transaction each, as a mirror shard does.
type fakeCopier struct {
	cl *kgo.Client
}

func (c fakeCopier) copy(ctx context.Context, source int64) (target int64, err error) {
	if err := c.cl.BeginTransaction(); err != nil {
		return -1, err
	}
	rec := &kgo.Record{Topic: "orders", Partition: 0, Value: fmt.Appendf(nil, "copy of %d", source), Headers: []kgo.RecordHeader{
		{Key: mirror.HeaderOriginRegion, Value: []byte("src")},
		{Key: mirror.HeaderOriginTopic, Value: []byte("orders")},
		{Key: mirror.HeaderOriginPartition, Value: []byte("0")},
		{Key: mirror.HeaderOriginOffset, Value: fmt.Append(nil, source)},
	}}
	if err := c.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return -1, err
	}
	key := mirror.ProgressKey("src", "orders", 0)
	p := mirror.Progress{Next: source + 1, LastSource: source, LastTarget: rec.Offset, LastTimestamp: -1}
	if err := c.cl.ProduceSync(ctx, &kgo.Record{Topic: mirror.ProgressTopic, Partition: mirror.ProgressPartition(key, 1), Key: []byte(key), Value: p.AppendTo(nil)}).FirstErr(); err != nil {
		return -1, err
	}
	return rec.Offset, c.cl.EndTransaction(ctx, kgo.TryCommit)
}

// TestTranslatorUnstableRetry: another writer's transaction, opened on the
// target partition before the copier's last copy, hides that copy from
// read_committed readers. A translation waits for it, up to StableWait,
// and then fails with ErrUnstable; a caught-up group waits too. When the
// transaction ends during the wait, the answer is taken from the target
// and the progress as they are then: the copier committed another copy
// meanwhile, and the caught-up group's answer is that copy, not the end of
// the partition past it.
func TestTranslatorUnstableRetry(t *testing.T) {
	ctx := t.Context()
	src, dst := fakeCluster(t), fakeCluster(t)
	for _, f := range []mirror.ClientFactory{src, dst} {
		testkit.CreateTopic(t, kadm.NewClient(newClient(t, f)), 1, 1, nil, "orders")
	}
	if err := mirror.EnsureProgressTopic(ctx, kadm.NewClient(newClient(t, dst)), "dst"); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "orders", Value: fmt.Appendf(nil, "%d", i)})
	}
	if err := newClient(t, src).ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// A local writer's transaction at offset 0, then the copy of source
	// offset 5 at offset 1, committed with its progress.
	local := newClient(t, dst, kgo.TransactionalID("local"))
	if err := local.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := local.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("local")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cp := fakeCopier{cl: newClient(t, dst, kgo.TransactionalID("copier"))}
	if at, err := cp.copy(ctx, 5); err != nil || at != 1 {
		t.Fatalf("copy of 5 at %d: %v", at, err)
	}

	flow := topology.Flow{Source: "src", Target: "dst", Kind: topology.FlowReplicate, Naming: topology.NamingIdentity,
		Topics: topology.MustSelection([]string{"orders"}, nil), Regions: []string{"src", "dst"}}
	translator := func(wait time.Duration) *Translator {
		tr := NewTranslator(Config{Flow: flow, Source: newClient(t, src), Target: newClient(t, dst), NewTargetClient: dst, StableWait: wait})
		tr.Start(ctx)
		t.Cleanup(tr.Close)
		return tr
	}
	reqs := []Request{{Topic: "orders", Partition: 0, Offset: 5}, {Topic: "orders", Partition: 0, Offset: 6}}

	// The transaction outlasts StableWait.
	start := time.Now()
	got, err := translator(300*time.Millisecond).Translate(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range got {
		if tr.State != "" || !strings.Contains(tr.Error, ErrUnstable.Error()) {
			t.Errorf("group offset %d with the transaction open: %+v, want the error %q", tr.SourceOffset, tr, ErrUnstable)
		}
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("gave up after %s, before StableWait", took)
	}

	// The copier commits the copy of 6 while the translation waits, then
	// the local transaction ends.
	events := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		if _, err := cp.copy(ctx, 6); err != nil {
			events <- fmt.Errorf("copy of 6: %w", err)
			return
		}
		time.Sleep(300 * time.Millisecond)
		events <- local.EndTransaction(ctx, kgo.TryCommit)
	}()
	start = time.Now()
	got, err = translator(20*time.Second).Translate(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-events; err != nil {
		t.Fatal(err)
	}
	want := []struct {
		offset, origin int64
	}{{1, 5}, {3, 6}}
	for i, tr := range got {
		if tr.Error != "" || tr.State != Copied || tr.TargetOffset != want[i].offset || tr.OriginOffset != want[i].origin {
			t.Errorf("group offset %d: %+v, want the copy of %d at %d", tr.SourceOffset, tr, want[i].origin, want[i].offset)
		}
	}
	t.Logf("answered %s after the call; the transaction ended after 600 ms", time.Since(start).Round(time.Millisecond))
}
