package offsets

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSyncHealthPerGroup syncs two groups from one kfake cluster to
// another through a live copy. The target is a fresh kfake cluster, which
// answers GROUP_ID_NOT_FOUND to the offsets of a group it does not know:
// the groups must be created there all the same. Then the target refuses
// every commit of one group (a missing ACL): that group must count as
// failed, with its error, while the other keeps syncing, and the time
// since every group was in step must grow. Once the target accepts the
// group again, it is synced and the status is clean.
func TestSyncHealthPerGroup(t *testing.T) {
	const topic, parts, per = "orders", 3, 40
	src := fakeCluster(t)
	var refuse atomic.Bool
	dstCluster := testkit.FakeCluster(t)
	testkit.RefuseOffsetCommits(dstCluster, "billing", refuse.Load)
	dst := testkit.ClientFactory(kgo.SeedBrokers(dstCluster.ListenAddrs()...))
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	srcCl, dstCl := newClient(t, src), newClient(t, dst)
	srcAdm, dstAdm := kadm.NewClient(srcCl), kadm.NewClient(dstCl)
	for _, adm := range []*kadm.Client{srcAdm, dstAdm} {
		testkit.CreateTopic(t, adm, parts, 1, nil, topic)
	}
	prod := newClient(t, src, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(parts) {
		for i := range per {
			if err := prod.ProduceSync(ctx, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}

	flow := topology.Flow{Source: "us", Target: "eu", Kind: topology.FlowReplicate, Naming: topology.NamingIdentity,
		Topics: topology.MustSelection([]string{topic}, nil), Groups: topology.MustSelection([]string{".*"}, nil)}
	var ps []mirror.Partition
	for p := range int32(parts) {
		ps = append(ps, mirror.Partition{Topic: topic, Partition: p})
	}
	sh := mirror.NewShard(mirror.ShardConfig{Mesh: "m", Flow: flow, Partitions: ps,
		Source: src, Target: dst})
	var wg sync.WaitGroup
	shCtx, stopShard := context.WithCancel(ctx)
	wg.Go(func() { _ = sh.Run(shCtx) })
	defer func() { stopShard(); sh.Close(); wg.Wait() }()
	poll.Until(t, 30*time.Second, func() error {
		for _, p := range sh.Status().Partitions {
			if p.HighWatermark != per || p.Lag != 0 {
				return fmt.Errorf("%s/%d: hwm %d lag %d", p.Topic, p.Partition, p.HighWatermark, p.Lag)
			}
		}
		return nil
	})

	tr := NewTranslator(Config{Flow: flow, Source: srcCl, Target: dstCl, NewTargetClient: dst})
	tr.Start(ctx)
	defer tr.Close()
	for i, g := range []string{"audit", "billing"} {
		os := kadm.Offsets{}
		for p := range int32(parts) {
			os.AddOffset(topic, p, int64(10+10*i)+int64(p), -1)
		}
		if err := srcAdm.CommitAllOffsets(ctx, g, os); err != nil {
			t.Fatal(err)
		}
	}
	var failures recordObserver
	sy := NewSyncer(SyncConfig{Translator: tr, Observer: &failures})

	// inStep checks that a group's offsets on the target are its
	// translated source offsets.
	inStep := func(group string) error {
		want, err := tr.TranslateGroup(ctx, group)
		if err != nil {
			return err
		}
		have, err := dstAdm.FetchOffsets(ctx, group)
		if err != nil {
			return fmt.Errorf("target offsets of %s: %w", group, err)
		}
		for _, w := range want {
			if w.State != Copied {
				return fmt.Errorf("%s %s/%d: translation %+v", group, w.Topic, w.Partition, w)
			}
			if o, ok := have.Lookup(w.TargetTopic, w.Partition); !ok || o.At != w.TargetOffset {
				return fmt.Errorf("%s %s/%d at %d on the target, want %d", group, w.TargetTopic, w.Partition, o.At, w.TargetOffset)
			}
		}
		return nil
	}

	// Neither group exists on the target yet: both are created there.
	poll.Until(t, 20*time.Second, func() error {
		if _, err := sy.Round(ctx); err != nil {
			return err
		}
		return errors.Join(inStep("audit"), inStep("billing"))
	})
	if st := sy.Status(); len(st.Failing) != 0 || st.Groups != 2 || st.Error != "" || st.Committed != 2*parts || st.InStepAge > 5 {
		t.Fatalf("status after a clean sync: %+v", st)
	}

	// The target refuses billing's commits; audit moves on the source.
	refuse.Store(true)
	for _, g := range []string{"audit", "billing"} {
		os := kadm.Offsets{}
		for p := range int32(parts) {
			os.AddOffset(topic, p, 30+int64(p), -1)
		}
		if err := srcAdm.CommitAllOffsets(ctx, g, os); err != nil {
			t.Fatal(err)
		}
	}
	_, err := sy.Round(ctx)
	if err == nil || !strings.Contains(err.Error(), "billing") || strings.Contains(err.Error(), "audit") {
		t.Fatalf("round with billing refused: err %v, want one naming billing only", err)
	}
	first := sy.Status()
	if len(first.Failing) != 1 {
		t.Fatalf("failing groups %+v, want billing", first.Failing)
	}
	f := first.Failing[0]
	if f.Group != "billing" || f.Class != SyncClassAuthorization || !strings.Contains(f.Error, "GROUP_AUTHORIZATION_FAILED") ||
		!strings.Contains(f.Error, "cluster eu") || f.LastSynced.IsZero() {
		t.Fatalf("billing's failure: %+v", f)
	}
	if err := inStep("audit"); err != nil {
		t.Fatalf("audit while billing fails: %v", err)
	}
	// More rounds: billing keeps failing and the time since every group
	// was in step keeps growing, although audit syncs in every round.
	poll.Until(t, 20*time.Second, func() error {
		_, _ = sy.Round(ctx)
		st := sy.Status()
		if st.InStep != f.LastSynced || len(st.Failing) != 1 || st.Failing[0].Since != f.Since {
			t.Fatalf("status while billing fails: %+v (first failure %+v)", st, f)
		}
		if st.InStepAge < 1 || !st.LastRound.After(first.LastRound) {
			return fmt.Errorf("in step %.2fs ago, last round %v", st.InStepAge, st.LastRound)
		}
		return nil
	})
	if len(failures.classes) < 2 || slices.ContainsFunc(failures.classes, func(c string) bool { return c != SyncClassAuthorization }) {
		t.Fatalf("observer saw failures %v, want authorization only, at least 2", failures.classes)
	}
	if err := inStep("billing"); err == nil {
		t.Fatal("billing is in step on the target although every commit was refused")
	}

	// The target accepts billing again: it is synced, nothing fails.
	refuse.Store(false)
	poll.Until(t, 20*time.Second, func() error {
		if _, err := sy.Round(ctx); err != nil {
			return err
		}
		return inStep("billing")
	})
	if st := sy.Status(); len(st.Failing) != 0 || st.Error != "" || st.InStepAge > 2 || !st.InStep.After(f.Since) {
		t.Fatalf("status after billing synced again: %+v", st)
	}

	// The flow stops (its target was promoted): the groups move on the
	// source, and rounds commit nothing on the target, yet count as in
	// step; once the flow copies again, they sync.
	var active atomic.Bool
	idle := NewSyncer(SyncConfig{Translator: tr, Active: active.Load})
	before, err := dstAdm.FetchOffsets(ctx, "audit")
	if err != nil {
		t.Fatal(err)
	}
	moved := kadm.Offsets{}
	for p := range int32(parts) {
		moved.AddOffset(topic, p, 35+int64(p), -1)
	}
	if err := srcAdm.CommitAllOffsets(ctx, "audit", moved); err != nil {
		t.Fatal(err)
	}
	if n, err := idle.Round(ctx); n != 0 || err != nil {
		t.Fatalf("round of a stopped flow: %d committed, %v", n, err)
	}
	after, err := dstAdm.FetchOffsets(ctx, "audit")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before.Offsets(), after.Offsets()) {
		t.Fatalf("a stopped flow's round moved audit on the target: %v → %v", before.Offsets(), after.Offsets())
	}
	if st := idle.Status(); len(st.Failing) != 0 || st.Error != "" || st.InStepAge > 2 {
		t.Fatalf("status of a stopped flow: %+v", st)
	}
	active.Store(true)
	poll.Until(t, 20*time.Second, func() error {
		if _, err := idle.Round(ctx); err != nil {
			return err
		}
		return inStep("audit")
	})
}
