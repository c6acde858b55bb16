// Package health turns the evidence an agent has about a region into a
// verdict: up, suspect or down.
//
// Three kinds of evidence exist, and each can be wrong on its own:
//
//   - Gossip (package failover/membership): whether any of the region's
//     agents is still alive in the cross-region pool. A paused or slow
//     agent is declared dead by gossip although its region is fine, so
//     gossip alone never makes a region down; but while any one agent of
//     the region answers, the region is not down.
//   - Kafka probes ([Prober]): this agent's own metadata request to the
//     region's cluster every KafkaProbeInterval, bounded by a timeout. A
//     failed probe may be this agent's own network; a good probe proves the
//     cluster serves.
//   - The replicated heartbeat (package mirror/heartbeat): the age of the
//     newest beat of the region copied into this agent's cluster. A fresh
//     beat proves the region's agent and cluster both worked a moment ago
//     and the path between the regions carries data.
//
// A [Tracker] keeps one region's verdict. Gossip and the Kafka probe are
// the two signals that can make a region down; the heartbeat can only
// object. The region is down when the Kafka probe has failed without a
// break for DownAfter, every agent of the region is gone from gossip at
// that instant, and no fresh heartbeat says otherwise. A witness region
// has no cluster: gossip stands in for the probe. Any good probe ends the
// streak, and a live agent or a fresh heartbeat holds the verdict at
// suspect, so one slow agent, one lost probe or one late heartbeat is not
// a dead region. A down region comes back up only after gossip and probe
// have been good for UpAfter, so a region that flaps does not flap the
// verdict.
//
// The verdict is one agent's view. Package failover/machine combines the
// views of a majority of the voting regions before it proposes anything,
// so that an agent cut off from one region cannot start a failover alone.
//
// [Tracker] is pure and not safe for concurrent use; [Prober] does I/O and
// is safe for concurrent use.
//
// # Timing
//
// DownAfter counts from the first failed probe: at most
// KafkaProbeInterval + probe timeout after the failure. Gossip must also
// have declared the region's last agent dead, which takes
// membership.WAN().DetectionTime(n). So a region is seen down
//
//	detection ≈ max(gossip detection, KafkaProbeInterval + timeout + DownAfter)
//
// after it failed. Gossip with membership.WAN() takes about 5s at three
// agents (6.4s worst case; the topology's default suspicion_mult of 4 adds
// a second). With the topology defaults (probe every 2s, timeout 1s,
// DownAfter 10s) a region is therefore seen down about 11–13s after it
// failed, the probe streak dominating. For detection within about 5s set
// kafka_probe_interval 1s, down_after 3s and suspicion_mult 3:
// max(≈5s, 1s + 1s + 3s). DownAfter is the price of not failing over on a
// hiccup: a whole region that stalls for longer than DownAfter is taken
// for dead. The failover decision adds one compare-and-set round trip to
// the control plane (tens to a few hundred milliseconds).
package health
