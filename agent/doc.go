// Package agent is one region's geomesh process. It wires the pieces that
// other packages build: the copy shards of every flow whose target is the
// agent's region (package mirror), the topic and config sync of those
// flows (mirror/topics), the region's heartbeat writer
// (mirror/heartbeat), in-region membership that splits the shards between
// the region's agents (failover/membership, mirror/assign), and the HTTP
// API.
//
// Only cmd/geomesh (`geomesh agent`) and package local import it: a whole
// mesh in one process (`geomesh up`, the demo, meshtest) is package
// local's job, and the demo (local/demo) is not product code. The agent
// never imports the client library.
//
// # Lifecycle
//
// [New] checks the configuration and does no I/O. [Agent.Start] listens
// on the API address, joins the region's gossip pool and starts one
// goroutine per flow and per owned shard, all owned by the agent. [Agent.Close]
// stops them: every shard finishes or aborts its open transaction, the
// agent leaves the pool so its shards move at once, and the API stops; it
// is idempotent and bounded by [Config.StopTimeout].
//
// # HTTP API
//
//	GET /healthz    the process is alive
//	GET /readyz     200 once every flow has its shards running, else 503 with reasons
//	GET /metrics    Prometheus metrics (below)
//	GET /v1/status  JSON: agent, members, flows, topics, acls, shards, partitions, lag, errors, the ACL fence, group offset sync (offset_sync: groups failing to sync and why)
//	GET /v1/health  JSON: the region's cluster health, per-flow heartbeat age and RPO estimate, recent events
//	GET /           status page: regions and flows, lag, group offset sync, cluster health, groups, events (plain HTML, refreshes itself)
//
// With the topology's api section, every request but /healthz and
// /readyz needs a bearer token (auth.go): GETs the read or the admin
// token, anything else (and ?apply=true) the admin token; a missing or
// wrong one gets 401 and a short JSON error. api.tls serves it all over
// TLS with a certificate re-read when its files change.
//
// # Who may write: the write gate and the writer journal
//
// In an active-passive mesh only the unfenced primary's cluster accepts
// the applications' writes to mirrored topics; every other data region's
// cluster holds DENY ACLs (package mirror/acls, fence.go). The write gate
// (writegate.go) lifts the region's own fence on promotion only after it
// has fenced every other data region's cluster itself, with their Kafka
// settings from the topology, as far as it can reach them within 2s; and
// one it could not reach it tries again every 100ms until a pass
// confirms its fence, so a cluster whose agent is dead, frozen or slow,
// or that returns after a region loss, refuses writes without waiting
// for its own agent.
//
// The agent logs each change of who may write at the moment it applies
// it, with its own clock (journal.go), one line each, at level INFO:
//
//	msg="role changed" role=primary epoch=2 self_fenced=false decision=failover at=<RFC 3339 ns>
//	msg="write fence" cluster=us-east writes=refused denies=1 requested=<RFC 3339 ns> at=<RFC 3339 ns>
//
// "role changed" is the region's role, the mesh epoch and whether the
// agent fenced itself, as the decision loop applied them; "write fence"
// is what a cluster (its own or, from the write gate, another region's)
// does with the applications' writes, as a fence pass confirmed it by
// reading the ACLs back: writes accepted from requested (the first change
// sent) at the earliest, refused from at (confirmed) at the latest. The
// lines survive the agent's death, so the log says which region took
// writes when; test/chaos judges its failovers from them.
//
// # Metrics
//
// Registered on the agent's own registry. docs/metrics.md is the
// catalogue with types, labels and meanings, generated from a running
// agent and checked by a test, as is this list. Labels source and target
// name regions, topic a source topic, region the cluster a series
// describes. No metric has a partition label unless
// Config.PartitionLagMetrics is set.
//
// Replication, per flow into this region:
//
//	geomesh_mirror_records_total{source,target}                 copies committed
//	geomesh_mirror_bytes_total{source,target}                   key+value bytes of those copies
//	geomesh_mirror_filtered_records_total{source,target}        records the loop rules kept from the target
//	geomesh_mirror_dead_letter_records_total{source,target}     records written to the dead-letter topic
//	geomesh_mirror_transactions_total{source,target,outcome}    outcome: committed or aborted
//	geomesh_mirror_replication_latency_seconds{source,target}   histogram: source append time of the newest copy → target commit
//	geomesh_mirror_lag_records{source,target}                   source records not yet copied
//	geomesh_mirror_lag_seconds{source,target}                   age of the oldest record not yet copied
//	geomesh_mirror_rpo_seconds{source,target}                   max(lag seconds, heartbeat age): writes lost if the source died now
//	geomesh_mirror_partition_lag_records{source,target,topic,partition}  opt-in, Config.PartitionLagMetrics
//	geomesh_mirror_paused_partitions{source,target}             partitions stopped at a record the target refuses
//	geomesh_mirror_shards_owned{source,target}                  shards this agent runs
//	geomesh_mirror_shard_errors_total{source,target,class}      failed copy sessions; class: fenced, authorization, unreachable, record-too-large, other
//	geomesh_heartbeat_age_seconds{source,target}                age of the source region's newest beat read here
//	geomesh_heartbeat_latency_seconds{source,target}            replication latency of that beat
//	geomesh_topics_created_total{source,target}                 target topics created by topic sync
//	geomesh_topics_config_changes_total{source,target}          topic config keys set or removed on the target
//	geomesh_topics_sync_errors_total{source,target}             topic sync problems
//	geomesh_offsets_synced_total{source,target}                 group partition offsets committed on the target by group sync
//	geomesh_offsets_sync_age_seconds{source,target}             time since every selected group was last in step on the target
//	geomesh_offsets_failing_groups{source,target}               groups whose last sync failed (/v1/status says which and why)
//	geomesh_offsets_sync_errors_total{source,target,class}      groups a round failed to sync; class: authorization, unreachable, other
//	geomesh_membership_members                                  live agents of this region, this one included
//	geomesh_api_unauthorized_total{endpoint}                    API requests refused for a missing or wrong token
//
// Failover decisions (failover.go), as this agent applied them:
//
//	geomesh_failover_epoch                                      mesh epoch of the state last applied
//	geomesh_failover_role{region,role}                          1 for the region's current role
//	geomesh_failover_fenced                                     1 while fenced (control plane lost in a writer role)
//	geomesh_failover_last_transition_timestamp_seconds          last role, epoch or fence change
//	geomesh_failover_region_verdict{region,verdict}             1 for this agent's verdict on each region: up, suspect, down
//	geomesh_failover_stranded_records_total{policy}             stranded records this agent settled (quarantine, replay, drop)
//	geomesh_failover_stranded_unsettled                         1 while a demoted region's stranded records are not settled
//
// The ACL fence of an active-passive region (fence.go, package
// mirror/acls), which denies application writes to mirrored topics
// while the region is not primary:
//
//	geomesh_acl_fence_denies{region}                            DENY WRITE ACLs geomesh holds on the region's cluster
//	geomesh_acl_fence_errors_total{region,class}                failed fence passes; class: authorization, other
//
// The region's cluster, read through the admin API by package
// broker/health, whose doc says how each is computed:
//
//	geomesh_kafka_health_last_success_timestamp_seconds{region}
//	geomesh_kafka_brokers{region}
//	geomesh_kafka_active_controller{region}
//	geomesh_kafka_topics{region}
//	geomesh_kafka_partitions{region}
//	geomesh_kafka_under_replicated_partitions{region}
//	geomesh_kafka_under_min_isr_partitions{region}
//	geomesh_kafka_offline_partitions{region}
//	geomesh_kafka_log_dir_total_bytes{region,broker,dir}
//	geomesh_kafka_log_dir_usable_bytes{region,broker,dir}
//	geomesh_kafka_topic_messages_in_total{region,topic}
//	geomesh_kafka_topic_bytes_in_total{region,topic}
//	geomesh_kafka_group_lag_records{region,group,topic}
//	geomesh_kafka_group_commits_total{region,group}
//	geomesh_kafka_group_members{region,group}
//	geomesh_kafka_group_status{region,group,status}
package agent
