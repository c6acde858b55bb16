package assign

import (
	"slices"
)

// FNV-1a 64-bit parameters (see hash/fnv). Written out rather than using
// hash/fnv so the hash of a few bytes needs no allocation and its definition
// is visibly frozen here.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

func fnvBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime64
	}
	return h
}

// mix64 is the MurmurHash3 finalizer. FNV-1a alone diffuses the last bytes
// of short inputs poorly into the high bits, and rendezvous hashing compares
// whole 64-bit weights, so the finalizer makes every input bit affect every
// output bit.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// weight is the rendezvous weight of member for shard. The zero byte
// separates the two strings so that ("ab", "c") and ("a", "bc") differ.
func weight(member, shard string) uint64 {
	h := fnvString(fnvOffset64, member)
	h = fnvBytes(h, []byte{0})
	h = fnvString(h, shard)
	return mix64(h)
}

// Owner returns the member that owns shard: the one with the highest
// rendezvous weight. Ties, which need a 64-bit collision, go to the
// lexically smallest name so that the result never depends on the order of
// members. It returns "" when members is empty. Duplicates in members are
// harmless.
func Owner(shard string, members []string) string {
	var (
		best  string
		bestW uint64
		found bool
	)
	for _, m := range members {
		w := weight(m, shard)
		if !found || w > bestW || (w == bestW && m < best) {
			best, bestW, found = m, w, true
		}
	}
	return best
}

// Assign maps every member to the shards it owns, each list sorted. Every
// distinct member is a key, with an empty (non-nil) list if it owns nothing,
// so a caller can range over the result to stop the shards of every member
// including its own. Each shard appears exactly once in the result unless
// members is empty, in which case the result is empty. Duplicate shards are
// reported once.
func Assign(shards []string, members []string) map[string][]string {
	out := make(map[string][]string, len(members))
	for _, m := range members {
		if _, ok := out[m]; !ok {
			out[m] = []string{}
		}
	}
	if len(members) == 0 {
		return out
	}
	seen := make(map[string]struct{}, len(shards))
	for _, s := range shards {
		if _, dup := seen[s]; dup {
			continue
		}
		seen[s] = struct{}{}
		o := Owner(s, members)
		out[o] = append(out[o], s)
	}
	for _, list := range out {
		slices.Sort(list)
	}
	return out
}
