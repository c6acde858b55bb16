package membership

import (
	"time"

	"github.com/geomesh/geomesh/topology"
)

// WAN returns the cross-region profile: the pool that holds the agents of
// every region, whose verdict (every agent of a region gone) is one of
// the two signals that a region is down (package failover/health). Pass
// it as Config.Timing; zero fields of a Timing take [LAN] values, so set
// all of them.
//
// memberlist's DefaultWANConfig (probe every 5s, timeout 3s, suspicion
// multiplier 6 with Lifeguard's ×6 stretch) needs about 38s to declare a
// node dead at three nodes: far too slow to fail a region over within
// seconds. This profile is tuned for regions on one continent or
// neighbouring ones (round trips up to about 250ms):
//
//	detection ≈ (n−1)×1s + 1s + 3s × max(1, log10 n) + 2×0.2s
//
// which [Timing.DetectionTime] gives as 5.4s for 2 agents, 6.4s for 3 and
// 8.4s for 5, worst case. Typical runs are faster, since with several
// probers some peer probes the dead one within one interval: about
// 1s + 1s + 3s + 0.2s ≈ 5s; on loopback three agents saw a crashed
// third one dead after 4.8s in each of three runs (TestWANCrashDetection).
// Gossip alone never fails a region over: the Kafka probe must agree for
// DownAfter, so a false death (an agent paused for 3s, a burst of loss)
// costs nothing but a log line, while a real one is seen within seconds.
//
// Between continents (round trips of 250ms or more) raise ProbeTimeout to
// twice the worst normal round trip, and ProbeInterval with it (it must
// stay above ProbeTimeout).
func WAN() Timing {
	return Timing{
		// Probe one peer a second: across regions a probe costs a round
		// trip of tens of milliseconds, and the agent count is small, so
		// this is cheap and fast. memberlist WAN: 5s.
		ProbeInterval: time.Second,
		// Twice a 250ms round trip; a missed ack is retried indirectly
		// through three other agents (in other regions too) and over TCP
		// before anyone suspects. memberlist WAN: 3s.
		ProbeTimeout: 500 * time.Millisecond,
		// A suspect has 3 intervals (3s for up to 10 agents) to refute.
		// Lower than LAN's 4 because intervals are longer and because a
		// false death here decides nothing by itself. memberlist WAN: 6.
		SuspicionMult: 3,
		// No Lifeguard stretch, as in LAN: with one agent per region, the
		// independent confirmations that would shrink the timer back come
		// from too few peers, and the stretch would triple detection.
		SuspicionMaxTimeoutMult: 1,
		// Spread a suspicion or death to all regions within a few rounds.
		// memberlist WAN: 500ms.
		GossipInterval: 200 * time.Millisecond,
		// Full state exchange repairs what gossip lost on a lossy link;
		// the state of a few agents is small. memberlist: 60s (WAN).
		PushPullInterval: 30 * time.Second,
		// A join or push-pull across regions; generous for a handshake over
		// a slow link, short enough not to hold Close. memberlist WAN: 30s.
		TCPTimeout: 5 * time.Second,
	}
}

// WANFrom returns [WAN] with the operator's detection settings from the
// topology file (failover.detection: probe_interval, probe_timeout,
// suspicion_mult) laid over it where set. Note that the topology's
// default suspicion_mult of 4 adds a second to the figures above.
func WANFrom(d topology.Detection) Timing {
	t := WAN()
	if d.ProbeInterval > 0 {
		t.ProbeInterval = d.ProbeInterval
	}
	if d.ProbeTimeout > 0 {
		t.ProbeTimeout = d.ProbeTimeout
	}
	if d.SuspicionMult > 0 {
		t.SuspicionMult = d.SuspicionMult
	}
	return t
}
