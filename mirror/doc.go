// Package mirror is the copy core of geomesh: it moves records of source
// partitions from one region's Kafka cluster to another's, exactly once,
// and records how far it got.
//
// # Shards
//
// A flow (topology.Flow) is split into shards; ShardFor says which shard
// copies a partition. A Shard owns one read_committed consumer on the
// source, with partitions assigned directly (no consumer group), and one
// producer on the target. In exactly-once mode the producer is
// transactional with the id geomesh.<mesh>.<source>.<target>.<shard>
// (TransactionalID): whoever starts a shard fences its previous owner,
// whose Run then returns an error wrapping ErrFenced.
//
// Each transaction holds the copies of up to MaxRecords records collected
// for up to CommitInterval (at a low rate less: while it has fewer than
// 1,000 records it commits as soon as the consumer holds nothing more to
// copy, or after 10ms), and one progress record per source partition it
// advanced, written to the compacted topic ProgressTopic in the target
// cluster (key "<source>/<topic>/<partition>", value Progress). A shard
// (re)starting reads that topic to its end with read_committed and resumes
// each partition where the last committed transaction left it, so a crash at
// any instant neither loses nor duplicates a record. In at-least-once mode
// the producer is only idempotent and progress follows the acknowledged
// copies.
//
// # Copies and loops
//
// A copy keeps the partition number, key, value, timestamp and headers of
// its record and adds provenance headers (HeaderOriginRegion and friends,
// HeaderVisited). Forward is the loop rule: a replicate flow copies only
// records that originate in its source region; other kinds copy what has
// not visited the target. Filtered records, transaction markers and aborted
// records still advance the progress, so a caught-up partition shows zero
// lag.
//
// # Records the target refuses
//
// Before producing, a shard checks each copy against the target topic's
// partition count and max.message.bytes (cached, re-read on trouble). A
// refused record is never dropped: with OnError pause the partition stops
// at it (Status shows the offset and reason) and resumes by itself once the
// target's limit has grown enough, checked every RetryInterval, or on
// Resume; with dead-letter it goes, in the same transaction, to the
// dead-letter topic with headers naming the error and its origin
// (HeaderDeadLetterError, ...), and the partition continues. A refusal the
// check did not predict aborts the transaction; the partition is then
// copied one record per transaction until the refused record is pinned down
// and handed to the same policy.
//
// # Lifecycle and observation
//
// NewShard does no I/O; Run works until its context ends, Close is called or
// the shard is fenced, retrying every other failure with a backoff capped at
// RetryInterval, each retry resuming from the committed progress.
// SetPartitions and Resume take effect between transactions. Status is a
// JSON-friendly snapshot (per partition: next offset, last target offset,
// high watermark, lag in records and seconds, paused state; per shard:
// counters). The Metrics hook receives one BatchStats per transaction; the
// agent turns them into geomesh_mirror_* metrics.
package mirror
