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
// of the source, the copier and the target, and the Translator over
// single read_committed Fetch requests sent to the partition leader.
//
// # Translator
//
// A Translator serves one flow. NewTranslator does no I/O; Start tails
// mirror.ProgressTopic of the target cluster in a goroutine it owns until
// Close. Translate (and TranslateGroup, which first reads a group's
// committed offsets on the source) may be called from any goroutine; per
// call it reads the target's metadata, log starts and last stable offsets,
// the source's log starts, then the progress up to its high watermark,
// then the target's high watermarks (a progress anchor at or past one is
// of a deleted topic), and searches the partitions in parallel.
//
// # Without the source
//
// When the source region is lost its committed group offsets cannot be
// read, and Translate has nothing to translate. Held answers from the
// target alone: the group's offsets there (which group sync committed
// while the source answered), the source offset of the first copy a
// consumer resuming there reads, the copier's progress, and how many
// copies past the offset the group may already have read on the source.
// docs/offsets.md says which parts are exact.
//
// # Group sync
//
// A Syncer commits, every Interval (default 1s), the translated offsets of
// the flow's selected groups that have no active members on the target,
// never moving a group backwards unless its source moved backwards. Each
// group syncs or fails on its own; Status says since when every group has
// been in step and which groups fail, with their errors. The agent runs
// one per flow, shows its Status in /v1/status and turns it and the
// SyncObserver calls into the metrics geomesh_offsets_synced_total,
// geomesh_offsets_sync_age_seconds, geomesh_offsets_failing_groups and
// geomesh_offsets_sync_errors_total.
package offsets
