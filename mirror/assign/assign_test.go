package assign

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"testing"
)

func shardIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("m/us-east/eu-west/%d", i)
	}
	return out
}

// TestOwnerPinned pins concrete results. If this fails the hash changed,
// which would make agents of two releases disagree on ownership during a
// rolling upgrade: change the hash only with a plan for that.
func TestOwnerPinned(t *testing.T) {
	members := []string{"agent-1", "agent-2", "agent-3"}
	tests := []struct {
		shard string
		want  string
	}{
		{"m/us-east/eu-west/0", "agent-3"},
		{"m/us-east/eu-west/1", "agent-1"},
		{"m/us-east/eu-west/2", "agent-3"},
		{"m/us-east/eu-west/3", "agent-2"},
		{"x", "agent-2"},
	}
	for _, tt := range tests {
		if got := Owner(tt.shard, members); got != tt.want {
			t.Errorf("Owner(%q) = %q, want %q", tt.shard, got, tt.want)
		}
	}
	if got, want := weight("a", "b"), uint64(12355895974393876011); got != want {
		t.Errorf("weight(a, b) = %d, want %d", got, want)
	}
}

// TestFNVMatchesStdlib checks the hand-written FNV-1a against hash/fnv, so
// the frozen definition really is FNV-1a.
func TestFNVMatchesStdlib(t *testing.T) {
	for _, s := range []string{"", "a", "agent-1\x00m/us-east/eu-west/0", "ünïcode"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got, want := fnvString(fnvOffset64, s), h.Sum64(); got != want {
			t.Errorf("fnvString(%q) = %x, want %x", s, got, want)
		}
		if got, want := fnvBytes(fnvOffset64, []byte(s)), h.Sum64(); got != want {
			t.Errorf("fnvBytes(%q) = %x, want %x", s, got, want)
		}
	}
}

func TestOwnerEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		shard   string
		members []string
		want    string
	}{
		{"no members", "s", nil, ""},
		{"empty members", "s", []string{}, ""},
		{"one member", "s", []string{"a"}, "a"},
		{"duplicates", "s", []string{"a", "a"}, "a"},
		{"empty member name", "s", []string{""}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Owner(tt.shard, tt.members); got != tt.want {
				t.Errorf("Owner = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAssignEdgeCases(t *testing.T) {
	if got := Assign([]string{"s"}, nil); len(got) != 0 {
		t.Errorf("Assign with no members = %v, want empty", got)
	}
	got := Assign(nil, []string{"a", "b", "a"})
	if len(got) != 2 || got["a"] == nil || got["b"] == nil || len(got["a"])+len(got["b"]) != 0 {
		t.Errorf("Assign with no shards = %#v, want a and b with empty lists", got)
	}
	got = Assign([]string{"s", "s", "t"}, []string{"a"})
	if want := []string{"s", "t"}; !slices.Equal(got["a"], want) {
		t.Errorf("Assign with duplicate shards = %v, want a: %v", got, want)
	}
}

// randomMembers returns n distinct member names from r.
func randomMembers(r *rand.Rand, n int) []string {
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		m := fmt.Sprintf("agent-%x", r.Uint32())
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}

// owners inverts an assignment into shard → owner, failing the test if a
// shard is owned twice.
func owners(t *testing.T, a map[string][]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for m, shards := range a {
		for _, s := range shards {
			if prev, dup := out[s]; dup {
				t.Fatalf("shard %q owned by %q and %q", s, prev, m)
			}
			out[s] = m
		}
	}
	return out
}

// The property tests draw member sets from a fixed seed: the test is
// reproducible, and a change that breaks a property fails every run.
const trials = 200

func TestPropertyExactlyOnceAndDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shards := shardIDs(64)
	for range trials {
		members := randomMembers(r, 1+r.IntN(7))
		a := Assign(shards, members)
		own := owners(t, a)
		if len(own) != len(shards) {
			t.Fatalf("members %v: %d shards owned, want %d", members, len(own), len(shards))
		}
		for s, m := range own {
			if Owner(s, members) != m {
				t.Fatalf("Assign and Owner disagree on %q", s)
			}
		}
		// Order of members must not matter: agents learn the list in
		// different orders.
		shuffled := slices.Clone(members)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		b := Assign(shards, shuffled)
		for m, list := range a {
			if !slices.Equal(list, b[m]) {
				t.Fatalf("members %v vs %v: %q owns %v vs %v", members, shuffled, m, list, b[m])
			}
		}
	}
}

func TestPropertyMinimalMovementOnLeave(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	shards := shardIDs(64)
	for range trials {
		members := randomMembers(r, 2+r.IntN(6))
		gone := members[r.IntN(len(members))]
		rest := slices.DeleteFunc(slices.Clone(members), func(m string) bool { return m == gone })
		before := owners(t, Assign(shards, members))
		after := owners(t, Assign(shards, rest))
		for _, s := range shards {
			if before[s] != gone && after[s] != before[s] {
				t.Fatalf("%q left but shard %q moved from %q to %q", gone, s, before[s], after[s])
			}
			if after[s] == gone {
				t.Fatalf("shard %q still owned by departed %q", s, gone)
			}
		}
	}
}

func TestPropertyMinimalMovementOnJoin(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	shards := shardIDs(64)
	moved, want := 0, 0.0
	for range trials {
		members := randomMembers(r, 1+r.IntN(6))
		// A joiner to n members takes 1/(n+1) of the shards in
		// expectation.
		want += float64(len(shards)) / float64(len(members)+1)
		joiner := fmt.Sprintf("joiner-%x", r.Uint32())
		before := owners(t, Assign(shards, members))
		after := owners(t, Assign(shards, append(slices.Clone(members), joiner)))
		for _, s := range shards {
			if after[s] != before[s] {
				if after[s] != joiner {
					t.Fatalf("%q joined but shard %q moved from %q to %q", joiner, s, before[s], after[s])
				}
				moved++
			}
		}
	}
	// Summed over the trials the shards taken must be near the
	// expectation.
	if f := float64(moved) / want; f < 0.9 || f > 1.1 {
		t.Errorf("joiners took %d shards, expected about %.0f", moved, want)
	}
}

// TestBalance64Over3 checks that 64 shards over 3 members split fairly. With
// independent weights each member's count is Binomial(64, 1/3): mean 21.3,
// standard deviation 3.8, so [10, 33] is three deviations either side.
func TestBalance64Over3(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	shards := shardIDs(64)
	for range trials {
		members := randomMembers(r, 3)
		for m, list := range Assign(shards, members) {
			if len(list) < 10 || len(list) > 33 {
				t.Errorf("members %v: %q owns %d of 64 shards, want 10..33", members, m, len(list))
			}
		}
	}
	// The names an operator is likely to use.
	for m, list := range Assign(shards, []string{"agent-1", "agent-2", "agent-3"}) {
		t.Logf("%s owns %d shards", m, len(list))
		if len(list) < 10 || len(list) > 33 {
			t.Errorf("%q owns %d of 64 shards, want 10..33", m, len(list))
		}
	}
}

func BenchmarkAssign64x5(b *testing.B) {
	shards := shardIDs(64)
	members := []string{"a", "b", "c", "d", "e"}
	for b.Loop() {
		Assign(shards, members)
	}
}
