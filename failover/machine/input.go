package machine

import (
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/health"
	"github.com/geomesh/geomesh/topology"
)

// Input is something that happened, fed to [Machine.Step].
type Input interface{ input() }

// Tick advances the machine's clock. Only ticks move time: timers
// (fencing, view expiry, drain timeout) are measured between ticks, so a
// scenario controls time exactly. Feed one every second or so.
type Tick struct{ Now time.Time }

// MeshChanged carries a new version of the topology the agent now runs.
// It must name the same regions, voters and kind as the one before
// (package topology's Diff refuses the rest): timings, the stranded
// policy, the failover mode and the broadcast selection take effect at
// once, and flows start or stop as the new version asks.
type MeshChanged struct{ Mesh *topology.Mesh }

// StateChanged carries the mesh state read from the control plane (a Load
// or a Watch update). State is nil when the store holds none yet; then
// Revision is 0. Older revisions than the last one seen are ignored.
// After the control plane was unreachable, the caller must feed a
// StateChanged from a fresh read before the machine unfences or proposes.
type StateChanged struct {
	State    *api.State
	Revision uint64
}

// View is one region's verdict on a region: the health verdict of an
// agent of Observer about Region, shared through the control plane. The
// newest view per (observer, region) counts, and only while fresh (see
// Config.ViewTTL).
type View struct {
	Observer string
	Region   string
	Verdict  health.Verdict
	At       time.Time
}

// ProposalResult answers a [Propose]: OK if the compare-and-set
// succeeded. Otherwise, on a conflict (another proposal won), Current
// and Revision carry the winner's state, which the machine adopts; with
// NoQuorum the control plane could not decide (no majority reachable),
// which counts as the control plane being unreachable.
type ProposalResult struct {
	OK       bool
	NoQuorum bool
	Current  *api.State
	Revision uint64
}

// ControlPlane reports whether the control plane majority answers: a
// watch or a health request succeeded (true) or failed (false).
type ControlPlane struct{ Reachable bool }

// Command is an operator's request, through the CLI or the HTTP API.
type Command struct {
	Kind CommandKind
	// To is the region to move writes to (failover); empty for failback.
	To string
	// From is, in an active-active mesh, the region whose clients move;
	// other kinds take it from the state.
	From string
	// Force fails over at once, without draining, even if the region
	// losing its role looks up. Records it took and did not replicate are
	// stranded.
	Force bool
}

// CommandKind is failover or failback.
type CommandKind string

// Operator commands.
const (
	CommandFailover CommandKind = "failover"
	CommandFailback CommandKind = "failback"
)

// Lag is the replication lag of a flow into this agent's region, as the
// flow's shards report it. CaughtUpTo is the source time of the newest
// record copied; a planned switch counts as drained when Records is 0 and
// CaughtUpTo is after the switch started (so the copy includes a
// heartbeat written after the producers paused).
type Lag struct {
	Source, Target string
	Records        int64
	CaughtUpTo     time.Time
}

// StrandedDone says the agent of a fenced region applied the stranded
// policy (quarantined, replayed or dropped Count records) and is ready to
// rejoin as a standby.
type StrandedDone struct{ Count int64 }

func (Tick) input()           {}
func (MeshChanged) input()    {}
func (StateChanged) input()   {}
func (View) input()           {}
func (ProposalResult) input() {}
func (ControlPlane) input()   {}
func (Command) input()        {}
func (Lag) input()            {}
func (StrandedDone) input()   {}
