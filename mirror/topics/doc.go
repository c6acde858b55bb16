// Package topics keeps the topics of a flow's target cluster shaped like
// those of its source: same topics (under the flow's naming), at least as
// many partitions, and the same explicitly set topic configs, minus the
// ones that must differ between clusters.
//
// A [Syncer] runs per flow in the agent of the flow's target region. Each
// pass (every [Config.Interval], 1 s by default, so a new topic or
// partition reaches the target within a few seconds, and a config change
// within [Config.ConfigInterval], 3 s, where MirrorMaker 2 polls every
// 600 s):
//
//  1. lists the source's topics (internal ones skipped) and keeps those the
//     flow selects; the target name is [Flow.TargetTopic];
//  2. creates missing target topics with the source's partition count, a
//     replication factor of min(source RF, target brokers) unless
//     configured, and the source's filtered configs;
//  3. grows target partitions to the source's count (Kafka cannot shrink:
//     a target with more partitions is reported, not an error, since the
//     copy keeps partition numbers and the extra ones simply stay empty);
//  4. copies the source's explicitly set configs (DescribeConfigs source
//     DYNAMIC_TOPIC_CONFIG) onto the target with IncrementalAlterConfigs,
//     setting changed keys and deleting the keys it copied that the source
//     no longer sets;
//  5. optionally deletes target topics whose source is gone (see
//     [DeletePolicy]).
//
// # Keys the target's operator sets
//
// A key set on a target topic that the source does not set is the target
// operator's, and the Syncer leaves it alone: raising max.message.bytes on
// the target, so that a record the target refused gets through, must not
// be undone a second later. The Syncer deletes only keys it has copied
// itself (remembered in memory: a key the source drops while no agent
// runs stays on the target).
//
// max.message.bytes is copied with 1 KiB on top, because every copy
// carries provenance headers and a record that just fits the source would
// otherwise not fit the target; and a larger value on the target is never
// lowered.
//
// # Configs that are not copied
//
// Every entry matches a key exactly, or, ending in "*", by prefix. The
// defaults ([DefaultExclusions]) and the reason for each:
//
//   - follower.replication.throttled.replicas,
//     leader.replication.throttled.replicas: lists of source broker ids
//     set while a reassignment runs; they mean nothing on the target's
//     brokers and would throttle the wrong replicas. (MirrorMaker 2 also.)
//   - message.timestamp.type: the copy writes each record with its source
//     timestamp as CreateTime. LogAppendTime on the target would replace
//     that with the copy time, which breaks time-based lookups
//     (offsetsForTimes) after a failover and makes a backlog copied after
//     an outage look new. The target keeps CreateTime, Kafka's default,
//     whatever the source uses; the source's timestamps arrive either way.
//     (MirrorMaker 2 also.)
//   - message.timestamp.difference.max.ms, message.timestamp.before.max.ms,
//     message.timestamp.after.max.ms: these reject records whose timestamp
//     is far from the broker's clock. A copy is legitimately late (after
//     an outage or on first sync of old data), so the target would reject
//     it and the copy would stall. (MirrorMaker 2 excludes the first; the
//     other two replace it since Kafka 3.6.)
//   - min.insync.replicas: reconciled separately, see below. (MirrorMaker 2
//     excludes it and leaves the broker default.)
//   - unclean.leader.election.enable: a durability choice of each cluster's
//     operator, not a property of the data. (MirrorMaker 2 also.)
//   - confluent.*: Confluent Server keys (placement constraints naming the
//     source's racks, tiering, schema validation); Apache Kafka rejects
//     them as unknown, and a Confluent target has its own placement.
//   - remote.storage.enable, remote.log.*, local.retention.*: tiered
//     storage needs a remote storage manager configured on the target's
//     brokers; creating a topic with it on a cluster without one fails, and
//     the local retention keys mean nothing without it. The target's
//     operator enables tiering deliberately.
//   - message.format.version, message.downconversion.enable: ignored since
//     Kafka 3.0 and removed in 4.0, where setting them fails.
//
// Copied on purpose, though one might expect otherwise: segment.* (bytes,
// ms, jitter.ms, index.bytes). MirrorMaker 2 once excluded segment.bytes,
// but retention and compaction act on whole segments, so a target that
// rolls segments differently keeps different data after a failover than
// the source would have. Values a target broker rejects (Kafka 4 raised the
// minimum segment.bytes to 1 MiB) fail for that key alone: a topic whose
// batched alter fails is retried key by key, so one bad key never blocks
// the others, and the bad key is reported with its cluster and topic.
//
// [Config.ExcludeConfigs] adds entries to the defaults; it cannot remove
// them.
//
// # min.insync.replicas
//
// The target's value is min(source's effective value, target topic's
// replication factor), and at least 1. A topic copied from a 3-broker
// cluster with min.insync.replicas=2 onto a 1-broker cluster would
// otherwise reject every acks=all write, the copy's transactional writes
// included, with NOT_ENOUGH_REPLICAS; a target with as many replicas keeps
// the source's durability. The effective value (including broker defaults)
// is used, not only an explicit one, because the target broker's default
// may exceed the target topic's replication factor. It is reconciled every
// pass, so a change at the source follows.
//
// # Replication factor
//
// [Config.ReplicationFactor] 0 (default) gives each new target topic
// min(source RF, live target brokers) replicas, so a smaller standby region
// still gets a topic; a positive value is used as is (creation fails, and
// is reported, if the target has fewer brokers). Existing topics are never
// reassigned: that moves data and is an operator's decision.
//
// # Deletion
//
// [DeleteOff] (default) never deletes; a target topic whose source is gone
// is listed in [Report.Orphaned] every pass. [DeleteFollow] deletes it once
// its source has been missing from two consecutive successful source
// listings (one listing may come from a broker whose metadata lags a
// re-creation), and only if this Syncer created it. Ownership is
// remembered in memory: after a restart the Syncer owns nothing until it
// creates again, so it may fail to delete, but it can never delete a topic
// an operator or another tool made, nor one that existed before geomesh.
//
// # Threading and errors
//
// [Syncer.SyncOnce] passes are serialized; [Syncer.Status] may be called
// from any goroutine. A pass never stops at the first failing topic: every
// error is a [*TopicError] naming the cluster and topic, collected in
// [Report.Errors], logged, counted in [Status], and retried next pass.
package topics
