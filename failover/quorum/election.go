package quorum

import (
	"slices"
	"time"
)

// nats-server's raft lets a follower stand for election only after
// 4–9s without a heartbeat from its leader (sent every second), and
// offers no option to change it. When the region whose node leads the
// mesh state's stream dies, no decision can be written until then: that
// wait, not gossip or the Kafka probes, would set the failover time. Its
// own tests shorten these timers; an embedded node does the same, before
// its first server starts, through the adapter in natselection.go.
//
// Each node waits within a window of its own: the nodes of a mesh rank
// their cluster addresses (the same set everywhere), and the node of
// rank k stands after ElectionTimeoutMin + k × ElectionStagger, within
// one ElectionStagger. Two survivors then never stand at once and split
// the vote (each voting for itself, both waiting for another timeout):
// the first one's window ends before the next one's begins, which takes
// far more than a round trip. The heartbeat stays at 1s, so a follower
// stands only after a second missed heartbeat: links with 100ms delay and
// 2% loss (TCP stalls of 200ms) cause no election.
//
// The window holds for every raft group of a process (see
// setNATSElection): one agent, one node, one window. Several nodes in
// one process (tests, the local demo) all get the first one's window.

// ElectionTimeoutMin is how long the first-ranked node waits without a
// leader's heartbeat before it stands for election; ElectionStagger is
// the width of each node's window and the step between them
// (nats-server's defaults: one window of 4–9s for all).
const (
	ElectionTimeoutMin = 2 * time.Second
	ElectionStagger    = 500 * time.Millisecond
)

// electionWindow is how long a raft follower waits without hearing from
// its leader before it stands for election: a random time in [Min, Max).
type electionWindow struct {
	Min, Max time.Duration
}

// electionWindowFor is the window of the node of rank slot.
func electionWindowFor(slot int) electionWindow {
	lo := ElectionTimeoutMin + time.Duration(slot)*ElectionStagger
	return electionWindow{Min: lo, Max: lo + ElectionStagger}
}

// electionSlot is the rank of addr among addr and peers.
func electionSlot(addr string, peers []string) int {
	all := append([]string{addr}, peers...)
	slices.Sort(all)
	return slices.Index(slices.Compact(all), addr)
}
