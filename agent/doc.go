// Package agent is one region's geomesh process. It wires the pieces that
// other packages build: the copy shards of every flow whose target is the
// agent's region (package mirror), the topic and config sync of those
// flows (mirror/topics), the region's heartbeat writer
// (mirror/heartbeat), in-region membership that splits the shards between
// the region's agents (failover/membership, mirror/assign), the failover
// plane that decides which flows run and who may write (failover/plane,
// whose host the agent is: plane.go), and the HTTP API (wire types in
// package api).
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
//	GET /readyz     200 when the agent can do its job, else 503 naming every reason (below)
//	GET /metrics    Prometheus metrics (below)
//	GET /v1/status  JSON: agent, members, flows, topics, acls, shards, partitions, lag and RPO, errors, the ACL fence, group offset sync (offset_sync: groups failing to sync and why), the topology version it runs
//	GET /v1/health  JSON: the region's cluster health, per-flow heartbeat age and RPO estimate, recent events
//	GET /v1/failover          JSON api.FailoverStatus: the mesh state, this agent's verdicts, running flows with their RPO and partitions behind, events
//	POST /v1/failover         body api.FailoverRequest: fail over or switch to a region (admin)
//	POST /v1/failback         switch back to the topology file's primary or hub (admin)
//	GET /v1/translate?group=G&from=R  JSON api.TranslateResponse: G's offsets in R translated into this region
//	GET /v1/bootstrap[?home=R]        JSON api.BootstrapResponse: the cluster that takes writes now (R: whose clients, active-active)
//	GET /v1/topology[?version=N]      JSON api.TopologyVersion: the newest stored topology version, or version N
//	POST /v1/topology                 body api.ApplyRequest: check, or store as the next version, a topology file (admin)
//	GET /v1/keys, POST /v1/keys/{install,use,remove}  the gossip keyring (admin for POST)
//	GET /           status page: regions and flows, lag, group offset sync, cluster health, groups, events (plain HTML, refreshes itself)
//
// With the topology's api section, every request but /healthz and
// /readyz needs a bearer token: GETs the read or the admin token,
// anything else (and ?apply=true) the admin token. Package
// internal/apiserve checks it before any body is read, serves api.tls,
// and bounds what clients without a token can hold open.
//
// # Readiness
//
// GET /readyz answers {"status": "ready"} or, with 503, {"status": "not
// ready", "reasons": [...]} naming every reason the agent cannot do its
// job: its own cluster (the target of its flows) not answering the
// failover plane's probe (every kafka_probe_interval); no mesh state
// read yet, within the grace (ControlPlaneGrace) after which it copies
// the file's flows; a flow that could not start; a running flow whose
// last pass failed (a cluster it cannot reach, or its source and target
// one cluster), that has not passed yet, whose shards fail and wait to
// retry, or whose source cluster does not answer. "notes" say why no flow
// runs when that is by decision (the primary, a standby of no primary, a
// witness) or that the file's flows run without a mesh state.
//
// A flow starts nothing while its source and target report one cluster
// id (flow.go): it says so in /v1/status and /readyz, logs at ERROR and
// sets geomesh_mirror_same_cluster to 1.
//
// # Who may write: the write gate and the writer journal
//
// In an active-passive mesh only the unfenced primary's cluster accepts
// the applications' writes to mirrored topics; every other data region's
// cluster holds DENY ACLs (package mirror/acls, fence.go). The write gate
// (mirror/acls.Gate) lifts the region's own fence on promotion only after it
// has fenced every other data region's cluster itself, with their Kafka
// settings from the topology, as far as it can reach them within 2s; and
// one it could not reach it tries again every 100ms until a pass
// confirms its fence, so a cluster whose agent is dead, frozen or slow,
// or that returns after a region loss, refuses writes without waiting
// for its own agent.
//
// The agent logs each change of who may write at the moment it applies
// it, with its own clock (failover/plane/journal.go), one line each, at level INFO:
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
// Registered on the agent's own registry, under geomesh_ (replication,
// heartbeats, topic, ACL and group offset sync, membership, the API),
// geomesh_failover_ (the failover plane, package failover/plane),
// geomesh_topology_ (the stored topology version the plane runs),
// geomesh_control_plane_ (the failed operations of the agent's
// control-plane node, counted by the failover plane),
// geomesh_acl_fence_ (the region's ACL fence) and geomesh_kafka_ (the
// region's cluster, package broker/health). docs/metrics.md is the one
// catalogue, with types, labels and meanings: a test generates it from a
// running agent and fails when the two disagree. Labels source and target
// name regions, topic a source topic, region the cluster a series
// describes. No metric has a partition label unless
// Config.PartitionLagMetrics is set.
package agent
