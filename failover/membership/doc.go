// Package membership tells an agent which other agents of its region are
// alive, so that they can share the copy shards of a flow (see package
// mirror/assign).
//
// It wraps hashicorp/memberlist, which implements SWIM gossip with the
// Lifeguard extensions over UDP (probes, gossip) and TCP (join, state
// sync) on one port. Each agent advertises small metadata — region, agent
// id, HTTP API address — as memberlist node metadata.
//
// # Lifecycle
//
// [New] does no I/O. [Membership.Start] binds the port and joins the seeds,
// retrying for [Config.JoinTimeout]; a first agent whose seeds are not up
// yet starts alone and keeps retrying in the background. Before acting on
// the member list an agent calls [Membership.WaitSettled], which waits until
// the list has not changed for a few probe intervals, so that agents
// starting together do not each compute a shard assignment from a
// half-joined view. [Membership.Subscribe] then signals every later change;
// the receiver reads [Membership.Members] and recomputes. [Membership.Close]
// leaves gracefully, so peers take over the agent's shards at once instead
// of after the failure-detection time.
//
// # What membership is not
//
// Gossip is fast and may be wrong: a paused agent can be declared dead and
// come back. Nothing here decides anything that needs agreement. Shard
// ownership only steers liveness; Kafka's transactional fencing keeps two
// owners of one shard from both committing. Region failover, which does
// need agreement, is decided by a compare-and-set in JetStream, with
// gossip at most a hint.
//
// # Detection time
//
// The [LAN] profile declares a crashed agent dead within about 5s at 2–5
// agents; [Timing] explains the formula and [Timing.DetectionTime]
// computes it. The [WAN] profile, for the pool of all regions' agents,
// declares a crashed agent dead within about 5s at three agents (6.4s
// worst case); package failover/health combines that with Kafka probes
// before a region counts as down.
//
// # Security
//
// With [Config.SecretKeys] all gossip is encrypted and authenticated with
// AES-GCM, and a node with another key, or none, can neither join nor be
// joined.
package membership
