// Package stranded settles the records an old primary took that never
// reached the new primary before an unplanned failover: the stranded
// records of docs/architecture.md.
//
// The flow old → new primary commits its progress (mirror.Progress) in
// mirror.ProgressTopic of the new primary's cluster, in the same
// transaction as the copies, so Next of each source partition is exactly
// the first record the new primary lacks. Plan turns those positions and
// the old primary's log bounds into stranded ranges; it is pure and table
// tested. Settle reads the ranges with read_committed from the old
// primary and applies the topology's failover.stranded policy:
//
//	quarantine  copies go to "<target topic>.stranded" on the new primary
//	            (same partition, key, value, timestamp, headers, plus the
//	            provenance headers a copy carries), created with the source
//	            topic's partition count, max.message.bytes and
//	            message.timestamp.type, and kept until deleted
//	replay      copies go to the live target topic, after what the new
//	            primary took since the failover
//	drop        nothing is written; the records are only counted
//
// Only records the flow's loop rule (mirror.Forward) would have copied
// count: a record that came from the new primary is not stranded there.
//
// Exactly once: every transaction (transactional id
// geomesh.<mesh>.<source>.<target>.stranded) holds the copies and the
// flow's progress records moved past them. A second Settle, or one after a
// crash, reads that progress and settles only what is left; and when the
// flow runs again after a failback it does not copy the settled records a
// second time. A replayed copy is the new progress anchor of offset
// translation, like any copy; quarantined and dropped ones leave the
// anchor where it was.
package stranded
