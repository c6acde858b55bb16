package api

import (
	"time"

	"github.com/geomesh/geomesh/topology"
)

// Verdict is an agent's judgement of a region's health: up, suspect or
// down; package failover/health defines them and how they are reached.
type Verdict string

// FailoverStatus is the decision plane as one agent sees it: the body of
// GET /v1/failover.
type FailoverStatus struct {
	Mesh   string `json:"mesh"`
	Region string `json:"region"`
	Agent  string `json:"agent"`
	// ControlPlane: reachable, unreachable, connecting or stopped.
	ControlPlane string `json:"control_plane"`
	State        *State `json:"state,omitempty"`
	Revision     uint64 `json:"revision"`
	Role         Role   `json:"role"`
	Epoch        uint64 `json:"epoch"`
	Fenced       bool   `json:"fenced"`
	// StateLeader is the NATS server leading the mesh state's stream when
	// last checked: an agent id with an embedded control plane, where the
	// writer region keeps it at home. Empty before the first check.
	StateLeader string `json:"state_leader,omitempty"`
	// StateBehind are the other replicas of the mesh state that were not
	// current with its leader when last checked: until they catch up,
	// losing one more node may leave no majority.
	StateBehind []string `json:"state_replicas_behind,omitempty"`
	// Views are this agent's verdicts on every region.
	Views []RegionView `json:"views"`
	// Flows are the flows into this region now running.
	Flows []FlowLag `json:"flows"`
	// Events are the latest decisions this agent saw or made, newest last.
	Events []Event `json:"events"`
	// Alerts raised by the machine, newest last.
	Alerts []string `json:"alerts,omitempty"`
	// Stranded is the settlement of this region's stranded records after
	// its last unplanned demotion.
	Stranded *StrandedStatus `json:"stranded,omitempty"`
}

// The control-plane states of FailoverStatus.ControlPlane.
const (
	ControlReachable   = "reachable"
	ControlUnreachable = "unreachable"
	ControlConnecting  = "connecting"
	ControlStopped     = "stopped"
)

// RegionView is one region's health verdict by an agent.
type RegionView struct {
	Region  string  `json:"region"`
	Verdict Verdict `json:"verdict"`
	Reason  string  `json:"reason,omitempty"`
}

// FlowLag is a running flow's replication lag.
type FlowLag struct {
	Source string `json:"source"`
	Target string `json:"target"`
	Lag    int64  `json:"lag_records"`
	// RPOSeconds bounds the span of the source's writes a failover now
	// would strand: the oldest record not yet copied, or, when the flow
	// no longer hears from its source, the age of its newest heartbeat.
	RPOSeconds float64 `json:"rpo_seconds"`
	// Behind are the partitions with records not yet copied, the worst
	// first (at most MaxPartitionsBehind).
	Behind []PartitionRPO `json:"partitions_behind,omitempty"`
}

// MaxPartitionsBehind bounds FlowLag.Behind.
const MaxPartitionsBehind = 20

// PartitionRPO is what a failover now would strand of one source
// partition: Records not yet copied, written over at most Seconds.
type PartitionRPO struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Records   int64   `json:"records"`
	Seconds   float64 `json:"seconds"`
}

// StrandedStatus is an agent's settlement of its region's stranded
// records after a demotion.
type StrandedStatus struct {
	Policy topology.Stranded `json:"policy"`
	// Source is the demoted region, Target the new primary (or hub).
	Source string `json:"source"`
	Target string `json:"target"`
	// State: settling, retrying (Error says why) or settled; on the other
	// agents of the region waiting, then done: Owner settles and counts.
	State string `json:"state"`
	Owner string `json:"owner"`
	// Records settled so far (all of them once settled), and by topic.
	Records     int64            `json:"records"`
	Topics      map[string]int64 `json:"topics,omitempty"`
	LostOffsets int64            `json:"lost_offsets,omitempty"`
	Attempts    int              `json:"attempts"`
	Error       string           `json:"error,omitempty"`
	Started     time.Time        `json:"started"`
	Finished    time.Time        `json:"finished,omitzero"`
}

// FailoverRequest is the body of POST /v1/failover.
type FailoverRequest struct {
	// To is the region that takes the writes.
	To string `json:"to"`
	// From is, in an active-active mesh, the region whose clients move.
	From string `json:"from,omitempty"`
	// Force fails over at once, without draining, even if the region
	// losing its role looks up; what it did not replicate is stranded.
	Force bool `json:"force"`
}

// CommandResponse answers POST /v1/failover and /v1/failback.
type CommandResponse struct {
	// State is the decided state: after a planned switch, the
	// switchover-started one; the flip follows once replication drained.
	State *State `json:"state"`
}

// ErrorResponse is the body of every answer that is not 2xx.
type ErrorResponse struct {
	Error string `json:"error"`
}

// KeysStatus is the answer of the /v1/keys endpoints: an agent's gossip
// key ids (membership.KeyID), never keys, the one that encrypts first.
type KeysStatus struct {
	Agent   string   `json:"agent"`
	Primary string   `json:"primary"`
	Keys    []string `json:"keys"`
}

// KeyRequest is the body of POST /v1/keys/{install,use,remove}.
type KeyRequest struct {
	// Key is base64, as in the key files.
	Key string `json:"key"`
}

// BootstrapResponse answers GET /v1/bootstrap: the Kafka cluster that
// takes the applications' writes now, for clients that cannot follow the
// mesh themselves (a DNS name a failover hook updates, a config reload).
type BootstrapResponse struct {
	// Region takes the writes: the primary, the hub, or in an
	// active-active mesh the region serving the clients of ?home=.
	Region    string   `json:"region"`
	Bootstrap []string `json:"bootstrap"`
	// Epoch is the mesh epoch of the state the answer comes from.
	Epoch uint64 `json:"epoch"`
}
