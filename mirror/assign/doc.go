// Package assign decides which agent of a region owns which copy shard of a
// flow.
//
// Several agents in one region share the shards of the flows that target
// the region. Each agent learns the set of live agents from gossip
// (package failover/membership) and computes the owner of every shard
// locally with [Owner] or [Assign]; no coordination message is exchanged.
// Two agents that see the same member list compute the same assignment.
// Two agents that briefly see different lists may both run a shard: that is
// safe, because the shard's stable transactional id makes Kafka fence the
// older producer, so membership only affects liveness, never correctness.
//
// The function is highest-random-weight (rendezvous) hashing: every
// (member, shard) pair gets a pseudo-random 64-bit weight and the member
// with the highest weight owns the shard. Compared with "hash % n" it moves
// the minimum when membership changes: when a member leaves only the shards
// it owned move, and a member that joins takes about 1/n of the shards,
// each from whichever member owned it. Compared with a consistent-hash ring
// it needs no virtual nodes for balance and has no state to keep in step.
// The cost, O(shards × members) hash evaluations, is negligible for the
// tens of shards and handful of agents per region geomesh runs.
//
// Everything here is pure: no I/O, no randomness, no clock. The hash is
// fixed (FNV-1a over the bytes followed by a 64-bit finalizer) and must not
// change between releases, because agents of different versions share
// shards during a rolling upgrade.
package assign
