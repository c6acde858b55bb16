package machine

import (
	"fmt"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
)

// Action is something the caller must do, returned by [Machine.Step] in
// the order it must be done.
type Action interface {
	action()
	String() string
}

// Propose asks the caller to compare-and-set the mesh state: write State
// if the stored revision is still Revision (0: create it), then feed back
// a [ProposalResult]. The machine proposes nothing else until then.
type Propose struct {
	Revision uint64
	State    api.State
}

// Fence tells this agent to stop acting in a writer role (refuse or pause
// application writes, stop copying out as a primary): it cannot reach the
// control plane majority, which may meanwhile hand its role to another
// region.
type Fence struct {
	Epoch  uint64
	Reason string
}

// Unfence lifts a Fence: the control plane is back and, read afresh,
// still gives this region its role at Epoch.
type Unfence struct{ Epoch uint64 }

// Promote: this region took Role (primary or hub) at Epoch and now takes
// writes.
type Promote struct {
	Epoch uint64
	Role  api.Role
}

// Demote: this region lost its writer role at Epoch and must refuse
// writes. Stranded is the policy for records it took that never reached
// the new primary (after an unplanned failover); it is empty after a
// planned switch, which strands nothing. The agent reports the outcome
// with [StrandedDone]; applying the policy must be idempotent, since a
// restarted agent is told again.
type Demote struct {
	Epoch    uint64
	Role     api.Role
	Stranded topology.Stranded
}

// StartReplication starts the flow Source → Target into this region.
type StartReplication struct{ Source, Target string }

// StopReplication stops it.
type StopReplication struct{ Source, Target string }

// MoveClients: the clients of Region are now served by To (To == Region:
// they are home again). Emitted by the agents of both regions.
type MoveClients struct {
	Epoch      uint64
	Region, To string
}

// PauseProducers: a planned switch began; the producers of the clients
// of region Clients that write to region At pause, so that replication
// can drain. Emitted by the agents of At (clients follow the state too;
// an agent may also deny their writes where Kafka has an authorizer).
type PauseProducers struct {
	Epoch       uint64
	Clients, At string
}

// ResumeProducers: those producers write again, to At: the switch target
// after the flip, the old region after an abort. Emitted by the agents of
// At.
type ResumeProducers struct {
	Epoch       uint64
	Clients, At string
}

// Alert reports a condition an operator should know of: a region down in
// manual mode, a spoke lost, no standby to promote. Key identifies the
// condition; the same key is not raised again until it has cleared.
type Alert struct {
	Key     string
	Message string
}

// Publish: the proposal this agent made won; publish the event on
// geomesh.<mesh>.events. Only the winner publishes, so each decision is
// announced once.
type Publish struct{ Event api.Event }

// RunHooks: run the configured hooks (exec, webhook) for the event; only
// the winner of the proposal runs them.
type RunHooks struct{ Event api.Event }

// Reload asks the caller to read the mesh state afresh and feed it back
// as a [StateChanged]. The machine asks when the control plane answers
// again but nothing was read since it lost it: a proposal that got no
// quorum (the bucket's stream electing a new leader) takes the machine
// off the control plane while the caller's own checks may never have
// failed, and no other input would bring a fresh read; until one comes
// the machine proposes nothing.
type Reload struct{}

// Rejected answers an operator command that cannot be carried out.
type Rejected struct {
	Command Command
	Reason  string
}

func (Propose) action()          {}
func (Fence) action()            {}
func (Unfence) action()          {}
func (Promote) action()          {}
func (Demote) action()           {}
func (StartReplication) action() {}
func (StopReplication) action()  {}
func (MoveClients) action()      {}
func (PauseProducers) action()   {}
func (ResumeProducers) action()  {}
func (Alert) action()            {}
func (Publish) action()          {}
func (RunHooks) action()         {}
func (Rejected) action()         {}
func (Reload) action()           {}

func (a Propose) String() string {
	return fmt.Sprintf("propose rev=%d %s %s: %s", a.Revision, a.State.Decision, a.State, a.State.Reason)
}
func (a Fence) String() string   { return fmt.Sprintf("fence epoch=%d: %s", a.Epoch, a.Reason) }
func (a Unfence) String() string { return fmt.Sprintf("unfence epoch=%d", a.Epoch) }
func (a Promote) String() string { return fmt.Sprintf("promote epoch=%d role=%s", a.Epoch, a.Role) }
func (a Demote) String() string {
	s := fmt.Sprintf("demote epoch=%d role=%s", a.Epoch, a.Role)
	if a.Stranded != "" {
		s += " stranded=" + string(a.Stranded)
	}
	return s
}
func (a StartReplication) String() string {
	return fmt.Sprintf("start replication %s→%s", a.Source, a.Target)
}
func (a StopReplication) String() string {
	return fmt.Sprintf("stop replication %s→%s", a.Source, a.Target)
}
func (a MoveClients) String() string {
	return fmt.Sprintf("move clients epoch=%d of %s to %s", a.Epoch, a.Region, a.To)
}
func (a PauseProducers) String() string {
	return fmt.Sprintf("pause producers epoch=%d of %s's clients in %s", a.Epoch, a.Clients, a.At)
}
func (a ResumeProducers) String() string {
	return fmt.Sprintf("resume producers epoch=%d of %s's clients in %s", a.Epoch, a.Clients, a.At)
}
func (a Alert) String() string { return fmt.Sprintf("alert %s: %s", a.Key, a.Message) }
func (a Publish) String() string {
	e := a.Event
	return fmt.Sprintf("publish %s epoch=%d from=%s to=%s", e.Kind, e.Epoch, e.From, e.To)
}
func (a RunHooks) String() string {
	return fmt.Sprintf("run hooks %s epoch=%d", a.Event.Kind, a.Event.Epoch)
}
func (Reload) String() string { return "reload the mesh state" }
func (a Rejected) String() string {
	return fmt.Sprintf("reject %s to=%s: %s", a.Command.Kind, a.Command.To, a.Reason)
}
