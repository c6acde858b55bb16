// Package plane is an agent's failover plane: the loop that drives the
// pure state machine of package failover/machine the way etcd's raft
// node drives its raw node. It feeds the machine ticks, the mesh state
// read from the control plane (package failover/quorum), this agent's and
// the other agents' region verdicts (package failover/health), flow lag
// and operator commands, and carries out the actions the machine returns:
// compare-and-set a new state, start and stop flows into the region,
// fence, grant writes, settle stranded records (package mirror/stranded),
// publish events and run the failover hooks.
//
// It talks to the agent it runs in through a small [Host] interface:
// build a flow, grant writes, apply the fence, and the evidence only the
// agent holds (gossip members, heartbeat ages). Everything else, the
// control-plane node and the Kafka probes of every region included, is
// the plane's own. [New] does no I/O; [Plane.Run] runs until its context
// ends and waits for every goroutine it started.
//
// The metrics it registers (metrics.go) are listed in package agent's
// doc, with the agent's others.
package plane
