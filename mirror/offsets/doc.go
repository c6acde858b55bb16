// Package offsets translates consumer group offsets of a source cluster
// into offsets of a target cluster that the mirror engine copies to, and
// keeps the offsets of idle groups in step on the target.
//
// # Exact translation
//
// For a committed source offset G of partition p of topic T (the next
// record the group reads), the translated offset is the target offset, in
// partition p of the flow's target topic, of the copy of the first source
// record at or after G that was copied. Nothing else needs storing: every
// copy carries its origin offset in a provenance header
// (mirror.HeaderOriginOffset), and copies of one source partition sit in
// the target partition in source order. Translate binary-searches the
// target partition for the first copy whose origin offset is at least G,
// starting from the copier's own progress record (mirror.Progress: the
// last copy's source and target offsets) and from (source, target) pairs
// learned by earlier searches (Hints). docs/offsets.md explains the cases
// and why each answer is exact.
//
// The search is pure: it reads the target partition through the Log
// interface, which the property test implements over an in-memory model
// of the source, the copier and the target, and Reader implements over
// Kafka fetches.
package offsets
