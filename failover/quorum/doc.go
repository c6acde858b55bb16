// Package quorum is the decisions plane: the mesh state in a NATS
// JetStream key-value bucket, changed only by compare-and-set, with
// decisions announced on a NATS subject.
//
// # Layout
//
//	bucket   geomesh-<mesh>, one value per key, Replicas copies (RAFT)
//	key      mesh: the JSON of a api.State (epoch, role per region,
//	         planned switch, last decision, reason, time)
//	subject  geomesh.<mesh>.events: the JSON of a api.Event
//	         {kind, epoch, from, to, reason, time} per decision
//	subject  geomesh.<mesh>.views: each agent's health views, every
//	         probe interval (plain NATS: old views are worthless, and a
//	         region cut off from the majority must not be heard by it)
//
// A failover is [Store.CompareAndSet] of epoch N+1 over the revision that
// held epoch N. JetStream replicates the write through RAFT and confirms
// it only with a majority of the bucket's replicas, so of two concurrent
// writers on one revision exactly one wins ([ErrConflict] for the other),
// and a node cut off from the majority gets [ErrNoQuorum]: the region it
// serves cannot decide anything and, by package failover/machine, fences
// itself.
//
// # Nodes
//
// [NewNode] gives an agent its access to the control plane: either an
// embedded nats-server with JetStream that routes to the other agents'
// control addresses (topology Agent.Control), so a small mesh needs no
// extra service; or a client of an external NATS cluster
// (control_plane.urls). The smallest safe mesh is three control-plane
// nodes in three regions (two data regions and a witness): any one may
// fail and the two others still decide.
//
// # Security
//
// nats-server takes a route from any server that gives the cluster name
// (geomesh-<mesh>); without Config.TLS and Config.Credentials a stranger
// that reaches a node's cluster address joins the cluster, and one that
// takes the address of a stopped peer is even dialled by the node. With
// them, embedded routes use mutual TLS against one CA (a node neither
// accepts nor completes a route without a certificate that CA signed)
// and every route gives the route user and password, checked by
// routeAuth against the node's password and Credentials.AcceptPasswords.
// The node's client port then takes only TLS clients with such a
// certificate and the same user. A stranger's events and writes never
// reach the nodes, and a node left alone still gets ErrNoQuorum
// (TestSecureCluster). A holder of a certificate from the CA is trusted
// as a peer's server, so the CA signs control-plane certificates only.
// Against external URLs the node verifies the servers against TLS.CAFile
// and logs in with a user and password or an nkey seed; a refusal fails
// Start with the URL and what was refused (TestExternalSecure).
//
// # Lifecycle
//
// [NewNode] does no I/O. [Node.Start] starts the embedded server and
// connects to it without waiting for peers; [Node.Open] waits until the
// JetStream cluster has a meta leader and the bucket exists (creating it
// if need be), retrying until its context ends. [Node.Close] is
// idempotent. On loopback three embedded nodes started together form
// their cluster, elect a JetStream meta leader, create the bucket and
// elect its stream leader in 1.3–2.7s (TestCluster, eight runs); with one
// node stopped the two others write again within 0–0.3s; a lone node's
// compare-and-set fails with ErrNoQuorum after 0.5s ("no response from
// stream") or at Config.Timeout.
//
// A replica on the minority side keeps serving reads, and its stream
// leader believes itself leader until its election timeout. So
// [Store.Check] tests reachability with a write, and [Store.Load] reads
// from the stream leader: after a reconnection, Check then Load gives
// the current state, never an old role.
//
// # Timing
//
// Every request is bounded by Config.Timeout (default 2s). A write is
// one RAFT round trip from the stream leader to a majority of replicas:
// across regions 40–200ms. After the loss of the node that led the
// bucket's stream the others elect a new leader, during which
// compare-and-sets fail with ErrNoQuorum and are retried by the machine
// on its next input.
//
// nats-server's followers stand for election 4–9s after the leader's last
// heartbeat. An embedded node stands after 2–2.5s, 2.5–3s or 3–3.5s, by
// the rank of its cluster address (ElectionTimeoutMin, ElectionStagger:
// each node has a window of its own, so no vote is split), so that the
// election after a lost leader ends before a region counts as down
// (gossip plus down_after) and the failover's write does not wait for it
// (TestElectionAfterLeaderLoss: writes 2.1–3.3s after SIGKILL of the
// leader's process). An external cluster keeps its own timers.
//
// nats-server has no setting for these timers. natselection.go, the one
// file that reaches into its internals, writes two of its unexported
// variables through go:linkname, once per process: several nodes in one
// process (tests, the local demo) share the first one's window. It
// writes only if they held nats-server's defaults, and otherwise leaves
// the 4–9s with a warning. TestNATSElectionDefaults and
// TestElectionAfterLeaderLoss fail when a nats-server upgrade moves
// them.
//
// Even 2s is longer than a primary may go without confirmed writes
// before it fences itself. So the agents of the writer region keep the
// bucket's stream leader at home ([Store.LeadFrom], checked every probe
// interval; a move takes tens of milliseconds): losing the witness or the
// standby then costs no write, and only a primary cut off from the
// majority fences.
//
// # Errors
//
// Every failed operation of a node and its store is logged at ERROR and
// told to Config.Errors (errors.go), by [Op]: the first failure of an op
// at once, then one line a minute with the count while it keeps failing,
// and its return at INFO. nats-server's own log stays at Debug (it
// reports a route to a region that is down every second), except for
// its storage failing: a critical write error, exhausted resources or
// disk space, a permission, raft state it cannot persist. Those lines
// are [OpStorage] failures. Failures after the caller's context ended
// are not reported.
package quorum
