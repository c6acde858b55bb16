// Package health reads a Kafka cluster's health from outside, through the
// admin API only: what teams otherwise scrape from broker JMX with an
// exporter and from a lag exporter such as Burrow. A geomesh agent already
// holds a client of its region's cluster, so it reports these next to its
// replication metrics and one Prometheus sees every region.
//
// A [Monitor] makes one pass every Config.Interval and keeps the result as
// a [Snapshot]; [Monitor.Register] exports it to Prometheus at scrape time.
// [New] does no I/O; [Monitor.Run] owns no goroutine but the caller's.
//
// # What a pass reads
//
//	Metadata          brokers, topics, partitions; under-replicated (ISR < replicas), offline (no leader)
//	DescribeConfigs   min.insync.replicas per topic, for under-min-ISR (ISR < min.insync.replicas)
//	DescribeQuorum    whether the KRaft quorum has a leader: the active controller
//	DescribeLogDirs   per broker and directory the volume's total and usable bytes (Kafka 3.3+), and the leader replicas' sizes
//	ListOffsets       start and end offsets of every partition
//	ListGroups, DescribeGroups (classic) / ConsumerGroupDescribe (KIP-848), OffsetFetch
//	                  members and committed offsets of every consumer group
//
// KRaft brokers put an arbitrary live broker in metadata's controller id
// for old clients, so only DescribeQuorum proves a controller; a cluster
// that does not serve it at all (kfake, Kafka before 3.3) falls back to
// the metadata field, and Snapshot.ControllerSource says which was used.
//
// Messages in per topic are the sum of its end offsets, exported as a
// counter whose rate() is messages per second. Bytes in are the growth of
// the leader replicas' log sizes between passes; when the log start moved
// or the log shrank in between (retention, compaction), the new offsets
// are priced at the log's average bytes per offset instead, so the figure
// is an estimate that includes batch overhead.
//
// # Consumer group status
//
// Each group partition keeps its last Config.Window samples (committed
// offset, end offset). [EvaluatePartition] applies Burrow's rules to that
// window, so a status reflects the lag trend rather than one threshold:
//
//	OK       lag was zero at some sample, or the window is not full yet, or offsets move and lag does not grow at every step
//	WARN     offsets move but lag grew at every step, or a committed offset went backwards
//	STALLED  lag > 0 and the committed offset did not move over the whole window while the group has members
//	STOPPED  as STALLED, with no member left
//
// The group takes its worst partition's status ([EvaluateGroup]). Commits
// are counted as committed offsets seen to advance between passes: a
// commit of an unchanged offset is invisible through the admin API, which
// is also why STALLED rests on offsets not moving rather than on commit
// timestamps, which Burrow reads from __consumer_offsets.
//
// # Metrics
//
// Every series carries region, the cluster's region. Labels are bounded by
// the cluster's brokers, directories, topics and groups; none is per
// partition.
//
//	geomesh_kafka_health_last_success_timestamp_seconds   gauge: last pass that read metadata
//	geomesh_kafka_brokers                                 gauge
//	geomesh_kafka_active_controller                       gauge: 1 or 0
//	geomesh_kafka_topics                                  gauge
//	geomesh_kafka_partitions                              gauge
//	geomesh_kafka_under_replicated_partitions             gauge
//	geomesh_kafka_under_min_isr_partitions                gauge
//	geomesh_kafka_offline_partitions                      gauge
//	geomesh_kafka_log_dir_total_bytes{broker,dir}         gauge
//	geomesh_kafka_log_dir_usable_bytes{broker,dir}        gauge
//	geomesh_kafka_topic_messages_in_total{topic}          counter
//	geomesh_kafka_topic_bytes_in_total{topic}             counter (estimate)
//	geomesh_kafka_group_lag_records{group,topic}          gauge
//	geomesh_kafka_group_commits_total{group}              counter
//	geomesh_kafka_group_members{group}                    gauge
//	geomesh_kafka_group_status{group,status}              gauge: 1 for the current status
//
// Before the first successful pass nothing is exported; while the cluster
// does not answer, the values of the last good pass stay and the
// timestamp says how old they are.
package health
