// Package history records what a chaos run did and checks it for the
// guarantees geomesh makes. It is pure: no Kafka, no network, no clock of
// its own; the run records, the checker judges.
//
// # What a run records
//
// A History holds eight kinds of event, each stamped with a time:
//
//   - Produce: a record a producer sent (topic, partition, offset, record
//     id, region), and whether the broker acknowledged it. An
//     unacknowledged record may or may not exist; acknowledged ones must
//     survive, and so must whatever the source's log shows committed.
//   - Consume: a record a consumer read (region, topic, partition, offset,
//     record id, and whether it read with read_committed).
//   - Abort: the id of a record written in a transaction that was
//     aborted.
//   - Unresolved: the id of a record written in a transaction whose end
//     failed (EndTransaction returned an error): it may have committed or
//     not, and only the source's log can tell.
//   - Epoch: an observer (an agent, the test) saw a region hold a role
//     (primary, standby, fenced) at a mesh epoch.
//   - Stranded: a record the old primary took that never reached the new
//     one and that geomesh reported as stranded, with the region that
//     took it.
//   - Log: the ground truth of one partition of a topic in a region at
//     the end of the run, once no transaction is open: every committed
//     record, read with read_committed from the log start to the end
//     offset, with its offset and its origin (the region its provenance
//     headers name, empty for a record written in that region).
//   - WriteFence (writers.go): a region's cluster started to accept or to
//     refuse the applications' writes, as an agent confirmed it with its
//     own clock (requested and confirmed times), or the test killed or
//     restarted its brokers.
//
// Record ids are unique per produced record (a key or value the test
// wrote), so a record is followed across regions, topic renames and
// offset changes by its id alone.
//
// # What the checker verifies
//
// Check returns one Finding per violation, each naming the record or the
// epoch. From what the clients saw:
//
//   - lost: an acknowledged record that no region read (with
//     Options.Regions: that one of those regions did not read), unless it
//     was reported stranded. With Options.Mirrors, every record a
//     mirror's source committed must be read too, acknowledged or not.
//   - duplicate (with Options.ExactlyOnce): a record read in one region at
//     two positions. Reading one position twice is a consumer re-read,
//     not a duplicate copy, and is not reported.
//   - read-twice (with Options.ReadOnce): a record the consumers read
//     more than once, at one position or several, in any regions: the
//     consumers are one application that must see each record once.
//   - reorder: two records of one source partition read in one partition
//     of a region in the opposite order of their source offsets. Aborted
//     records and second copies are left out, since those have findings
//     of their own.
//   - aborted-read: an aborted record read with read_committed; with logs,
//     also a record never acknowledged that its producer's log (which
//     reaches back to where it was written) never committed, such as one
//     of an unresolved transaction.
//   - double-primary: two regions recorded as primary at one epoch.
//   - overlapping-primary: two regions acting as primary at the same time
//     at different epochs. A region acts as primary from an event that
//     records it primary until the next event about it that records
//     another role or a higher epoch; the old primary must be seen fenced
//     or standby before the new one is seen primary.
//   - double-writer: two regions' clusters accepting writes at the same
//     time, judged from the WriteFence events alone: a cluster accepts
//     from the request that lifted its fence until a refusal was
//     confirmed (a refusal requested before that lift was confirmed may
//     have landed first and ends nothing) or its brokers were killed; an
//     agent's role, death or freezing ends nothing, since its cluster
//     keeps accepting. Only active-passive tests record these events.
//   - foreign-stranded: a record reported stranded in a region other than
//     the one that took it (the region whose log holds it with no origin,
//     else the region its producer recorded, if that one is certain: a
//     region with logs or epoch events), or in a region when no region
//     took it.
//
// From the logs, whatever the producers believed:
//
//   - misread: a read_committed read at an offset the final log reaches
//     where that log holds another record or no committed one.
//
// And with Options.Mirrors, per Mirror (source and target topic, and the
// quarantine topic of the source's stranded records on the target), per
// partition:
//
//   - lost: a record the source committed that the target holds nowhere
//     (nor its quarantine, nor another topic), unless reported stranded;
//     an acknowledged record missing from the source's log; a record
//     reported stranded that no quarantine of its region holds and no
//     target of its region's mirrors.
//   - duplicate (with ExactlyOnce): a committed source record held twice
//     in the target topic and its quarantine together, or quarantined in
//     two regions, or written twice in a judged log.
//   - reorder: the target partition holds the first copies of its source
//     partition's records out of the source's order.
//   - phantom: a record in the target that names the source as its origin
//     and that the source never committed (never produced, aborted, or
//     unresolved and not committed); a record a judged log holds as
//     written there (no origin) that was never produced into that topic
//     in that region (a producer whose region is not certain may have
//     written anywhere) or whose transaction aborted.
//   - misplaced: a copy in another partition than its source record's.
//   - wrong-topic: a copy in a topic of the target region other than the
//     target topic and the quarantine.
//
// Only what the history holds can be judged: a log that was not read, an
// offset below a log's start, or a record whose producer's region is
// uncertain is left alone.
//
// # Saving and re-checking
//
// WriteJSONL writes a history as JSON lines, one event a line with a
// "kind" field; ReadJSONL reads it back, naming the line of a bad one. A
// chaos test that fails saves its history, and
//
//	go run ./test/chaos/history/cmd/checkhistory [-mirror us-east/orders=eu-west/orders,quarantine=orders.stranded] FILE
//
// checks it again, printing every finding.
//
// Recorder collects a history from many goroutines at once.
package history
