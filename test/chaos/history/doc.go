// Package history records what a chaos run did and checks it for the
// guarantees geomesh makes. It is pure: no Kafka, no network, no clock of
// its own; the run records, the checker judges.
//
// # What a run records
//
// A History holds five kinds of event, each stamped with a time:
//
//   - Produce: a record a producer sent (topic, partition, offset, record
//     id, region), and whether the broker acknowledged it. An
//     unacknowledged record may or may not exist; only acknowledged ones
//     must survive.
//   - Consume: a record a consumer read (region, topic, partition, offset,
//     record id, and whether it read with read_committed).
//   - Abort: the id of a record written in a transaction that was
//     aborted.
//   - Epoch: an observer (an agent, the test) saw a region hold a role
//     (primary, standby, fenced) at a mesh epoch.
//   - Stranded: a record the old primary took that never reached the new
//     one and that geomesh reported as stranded.
//
// Record ids are unique per produced record (a key or value the test
// wrote), so a record is followed across regions, topic renames and
// offset changes by its id alone.
//
// # What the checker verifies
//
// Check returns one Finding per violation, each naming the record or the
// epoch:
//
//   - lost: an acknowledged record that no region read (with
//     Options.Regions: that one of those regions did not read), unless it
//     was reported stranded.
//   - duplicate (with Options.ExactlyOnce): a record read in one region at
//     two positions. Reading one position twice is a consumer re-read,
//     not a duplicate copy, and is not reported.
//   - reorder: two records of one source partition read in one partition
//     of a region in the opposite order of their source offsets. Aborted
//     records and second copies are left out, since those have findings
//     of their own.
//   - aborted-read: an aborted record read with read_committed.
//   - double-primary: two regions recorded as primary at one epoch.
//   - overlapping-primary: two regions acting as primary at the same time
//     at different epochs. A region acts as primary from an event that
//     records it primary until the next event about it that records
//     another role or a higher epoch; the old primary must be seen fenced
//     or standby before the new one is seen primary.
//
// # Saving and re-checking
//
// WriteJSONL writes a history as JSON lines, one event a line with a
// "kind" field; ReadJSONL reads it back, naming the line of a bad one. A
// chaos test that fails saves its history, and
//
//	go run ./test/chaos/history/cmd/checkhistory FILE
//
// checks it again, printing every finding.
//
// Recorder collects a history from many goroutines at once.
package history
