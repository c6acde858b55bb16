// Package machine is the failover decision logic of a geomesh agent: a
// pure state machine, in the manner of etcd's raft package. It does no
// I/O and reads no clock. The caller feeds it [Input]s — ticks, the mesh
// state read from the control plane, region health views, the results of
// its proposals, control-plane reachability, operator commands, lag and
// stranded-record reports — through [Machine.Step], and carries out the
// [Action]s it returns: compare-and-set a new state, fence, promote,
// demote, start or stop replication flows, move clients, pause and resume
// producers, alert, publish the event, run hooks.
//
// # The mesh state
//
// [api.State] is one value in the control plane (package failover/quorum):
// the epoch, each region's [api.Role], a planned switch in progress, and the
// last decision with its reason and time. Every decision is a new state
// one epoch higher, written by compare-and-set on the revision the
// proposer read; JetStream needs a majority of control-plane nodes for
// that, so a region cut off from the majority can never decide anything.
// All agents compute the same proposal from the same state and views;
// the first compare-and-set wins and the others adopt its result.
//
// # When a region counts as down
//
// Each agent judges every region with package failover/health and
// publishes its view. A region is down for the machine when a majority of
// the voting regions (failover.quorum.voters) has a fresh view of it as
// down: one region's bad link, one slow agent, or views from a region
// that has itself gone quiet (older than Config.ViewTTL) decide nothing.
//
// # Decisions per topology
//
//	active-passive  primary down → first standby that a majority sees up
//	                becomes primary; the old primary is fenced. When it
//	                returns it is told (Demote with the stranded policy),
//	                settles its stranded records (StrandedDone) and rejoins
//	                as a standby.
//	active-active   active region down → evacuated: its clients move to
//	                the next active region up after it in file order
//	                (MoveClients); flows from it stop. When it is up again
//	                its outbound flows resume at once; its clients return
//	                on failback.
//	hub-spoke       spoke down → alert only. Hub down → the standby hub
//	                becomes hub if there is one and it is up, else an alert
//	                that spokes buffer until the hub returns.
//	witness         never takes a role; its loss is an alert.
//
// In manual mode (the default) nothing is proposed on a failure: an alert
// says what to run. Operator commands work in both modes: `failover --to R`
// fails over at once if the region losing its role is down (or with
// --force), else starts a planned switch; `failback` is a planned switch
// back to the topology's original primary or hub (in active-active: of
// an evacuated region's clients back home).
//
// A planned switch is three decisions: switchover-started (producers of
// the moving clients pause), then, once the flow from the old region to
// the new one reports zero lag with a copy of a record written at least
// Config.PauseGrace after the pause (clients that poll the state may
// still write until they see it), switchover (the epoch flips, producers resume on the new region, flows
// reverse); or switchover-aborted after Config.DrainTimeout. Nothing is
// stranded by a planned switch.
//
// # Writers and split brain
//
// Who may take writes depends on the kind ([State.Writers]): the primary
// (active-passive), the hub (hub-spoke; a spoke writes only its own
// feed, which nobody takes over), the active regions (active-active).
// [SplitBrain] judges what agents report they act on against that: more
// writers than the kind allows, two writer sets at one epoch, or a region
// writing that the newest decided state does not list as a writer.
//
// # Fencing
//
// A region in a writer role that a majority could hand to another region
// (a primary with a standby, an active region, a hub with a standby hub)
// fences itself when it has not reached the control plane for
// Config.FenceAfter (default DownAfter / 2), which is sooner than the
// majority can promote anyone (at least DownAfter after the first failed
// probe). It is unfenced only after a fresh read of the state still gives
// it its role; if the epoch moved on it is demoted instead. Kafka's
// transactional fencing keeps a zombie copy task of the old owner from
// committing on the data path.
//
// # Scenario tests
//
// testdata/*.txt are scripts of inputs and the actions expected, run by
// TestScenarios with one machine per region and a simulated control plane
// (see scenario_test.go for the commands). After a deliberate change,
// regenerate them with
//
//	go test ./failover/machine -rewrite
//
// and read the diff.
package machine
