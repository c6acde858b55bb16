package quorum

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/api"
)

// TestTopologyVersions stores topology versions on a three-node cluster
// and reads them through another node: the newest, one by number, a
// watch that delivers the newest and then each new one, a second store
// of the same version refused as a conflict, and an oversized file
// refused before anything is sent.
func TestTopologyVersions(t *testing.T) {
	_, stores, _ := cluster(t, 3)
	ctx := t.Context()
	a, b := stores[0], stores[1]
	if _, ok, err := b.LatestTopology(ctx); ok || err != nil {
		t.Fatalf("LatestTopology of an empty bucket: ok %v, err %v", ok, err)
	}
	version := func(v uint64, source string) api.TopologyVersion {
		return api.TopologyVersion{Version: v, SHA256: api.Digest([]byte(source)), AppliedAt: time.Now().UTC(), AppliedBy: "test", Source: source}
	}
	for v, src := range []string{"mesh: one\n", "mesh: two\n"} {
		if err := a.StoreTopology(ctx, version(uint64(v+1), src)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.StoreTopology(ctx, version(2, "mesh: other\n")); !errors.Is(err, ErrConflict) {
		t.Fatalf("second store of version 2: %v, want a conflict", err)
	}
	latest, ok, err := b.LatestTopology(ctx)
	if err != nil || !ok || latest.Version != 2 || latest.Source != "mesh: two\n" {
		t.Fatalf("LatestTopology = %+v, %v, %v; want version 2 of the first writer", latest, ok, err)
	}
	if first, ok, err := b.TopologyVersion(ctx, 1); err != nil || !ok || first.Source != "mesh: one\n" {
		t.Fatalf("TopologyVersion(1) = %+v, %v, %v", first, ok, err)
	}
	if _, ok, err := b.TopologyVersion(ctx, 9); ok || err != nil {
		t.Fatalf("TopologyVersion(9): ok %v, err %v; want none", ok, err)
	}
	if tv, ok := b.PeekTopology(ctx, 2); !ok || tv.Source != "mesh: two\n" {
		t.Fatalf("PeekTopology(2) = %+v, %v", tv, ok)
	}
	if _, ok := b.PeekTopology(ctx, 3); ok {
		t.Fatal("PeekTopology(3) found a version that is not stored")
	}
	w, err := b.WatchTopology(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := func() api.TopologyVersion {
		select {
		case tv := <-w:
			return tv
		case <-time.After(10 * time.Second):
			t.Fatal("the watch delivered nothing in 10s")
		}
		return api.TopologyVersion{}
	}
	if got := next(); got.Version != 2 {
		t.Fatalf("watch delivered version %d first, want the newest, 2", got.Version)
	}
	if err := a.StoreTopology(ctx, version(3, "mesh: three\n")); err != nil {
		t.Fatal(err)
	}
	if got := next(); got.Version != 3 || got.Source != "mesh: three\n" {
		t.Fatalf("watch delivered %+v, want version 3", got)
	}
	big := version(4, "mesh: x\n"+strings.Repeat("#", MaxTopologySource))
	if err := a.StoreTopology(ctx, big); err == nil || errors.Is(err, ErrConflict) || errors.Is(err, ErrNoQuorum) {
		t.Fatalf("store of an oversized file: %v, want a size error", err)
	}
}
