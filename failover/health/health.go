package health

import (
	"fmt"
	"strings"
	"time"

	"github.com/geomesh/geomesh/api"
)

// Verdict is what an agent concludes about a region (api.Verdict, served
// by GET /v1/failover).
type Verdict = api.Verdict

const (
	// Up: the evidence is good.
	Up Verdict = "up"
	// Suspect: some evidence is bad, not enough or not for long enough to
	// call the region down. Nothing is decided on a suspicion.
	Suspect Verdict = "suspect"
	// Down: gossip and the Kafka probe have both failed for DownAfter.
	Down Verdict = "down"
)

// Probe is the outcome of the latest Kafka probe of a region's cluster.
type Probe int

const (
	// ProbeUnknown: no probe has finished yet, or the region has no cluster.
	ProbeUnknown Probe = iota
	// ProbeOK: the cluster answered a metadata request within the timeout.
	ProbeOK
	// ProbeFailed: it did not.
	ProbeFailed
)

func (p Probe) String() string {
	switch p {
	case ProbeOK:
		return "ok"
	case ProbeFailed:
		return "failed"
	}
	return "unknown"
}

// Evidence is what an agent knows about one region at one instant.
type Evidence struct {
	// At is when the evidence was gathered; it drives the DownAfter and
	// UpAfter timers, so a Tracker needs no clock of its own.
	At time.Time
	// AgentsAlive is how many of the region's agents the cross-region
	// gossip pool lists as alive (suspects included, dead and left not).
	AgentsAlive int
	// Kafka is the latest probe of the region's cluster by this agent.
	Kafka Probe
	// HeartbeatAge is the age of the newest beat of the region copied into
	// this agent's cluster; HeartbeatKnown is false until one was seen
	// (and for witness regions, which write none).
	HeartbeatAge   time.Duration
	HeartbeatKnown bool
}

// Config sets the timers of a Tracker. The zero value of a field means
// its default.
type Config struct {
	// Witness marks a region without a Kafka cluster: gossip alone can make
	// it down, and a missing probe is not held against it.
	Witness bool
	// DownAfter is how long the Kafka probe (for a witness, gossip) must
	// have failed without a break before the region is down; gossip must
	// agree at that instant. It is the topology's
	// failover.detection.down_after. Default 10s.
	DownAfter time.Duration
	// UpAfter is how long a down region's evidence must be good before it
	// is up again. Default DownAfter / 2: a region that comes back is
	// trusted a little sooner than it was condemned, yet a region that
	// flaps every few seconds stays down.
	UpAfter time.Duration
	// HeartbeatFresh is the age under which a replicated heartbeat vetoes a
	// down verdict, and over which it makes the region suspect. Default
	// DownAfter, within 2s (two of the heartbeat writer's 1s intervals)
	// and 5s (three plus WAN replication latency): a beat still fresh at
	// the end of the probe's streak would hold a dead region's verdict
	// back by the difference, which with a short DownAfter is most of
	// the detection time.
	HeartbeatFresh time.Duration
}

const (
	defaultDownAfter  = 10 * time.Second
	maxHeartbeatFresh = 5 * time.Second
	minHeartbeatFresh = 2 * time.Second
)

func (c Config) withDefaults() Config {
	if c.DownAfter == 0 {
		c.DownAfter = defaultDownAfter
	}
	if c.UpAfter == 0 {
		c.UpAfter = c.DownAfter / 2
	}
	if c.HeartbeatFresh == 0 {
		c.HeartbeatFresh = min(maxHeartbeatFresh, max(minHeartbeatFresh, c.DownAfter))
	}
	return c
}

// Tracker keeps the verdict on one region from successive evidence. It
// is pure and not safe for concurrent use.
type Tracker struct {
	region string
	cfg    Config

	verdict Verdict
	reason  string
	// badSince is when the probe (for a witness, gossip) last turned
	// bad; zero while it is good.
	badSince time.Time
	// goodSince is when a down region's evidence last turned all good;
	// zero otherwise.
	goodSince time.Time
}

// NewTracker returns a tracker for region with verdict Up: a region is
// innocent until evidence says otherwise.
func NewTracker(region string, cfg Config) *Tracker {
	return &Tracker{region: region, cfg: cfg.withDefaults(), verdict: Up}
}

// Reconfigure sets new timers (a new topology version) and keeps the
// evidence seen so far: a region already failing its probes for 8s is
// down at once under a DownAfter of 5s.
func (t *Tracker) Reconfigure(cfg Config) { t.cfg = cfg.withDefaults() }

// Verdict returns the current verdict and a short reason naming the
// evidence behind it.
func (t *Tracker) Verdict() (Verdict, string) { return t.verdict, t.reason }

// Observe records evidence and returns the verdict after it. Evidence
// must come in time order; an older one than the last is applied as if it
// were as recent (the timers never run backwards).
func (t *Tracker) Observe(e Evidence) Verdict {
	gossipDead := e.AgentsAlive == 0
	kafkaFailed := e.Kafka == ProbeFailed
	if t.cfg.Witness {
		// No cluster to probe: gossip speaks for the probe too.
		kafkaFailed = gossipDead
	}
	hbFresh := e.HeartbeatKnown && e.HeartbeatAge <= t.cfg.HeartbeatFresh
	hbStale := e.HeartbeatKnown && !hbFresh

	var bad []string
	if gossipDead {
		bad = append(bad, "no agent alive in gossip")
	}
	if kafkaFailed && !t.cfg.Witness {
		bad = append(bad, "kafka probe failed")
	}
	if hbStale {
		bad = append(bad, fmt.Sprintf("heartbeat %s old", e.HeartbeatAge.Round(time.Millisecond)))
	}

	// The streak follows the probe alone: a region whose only agent has
	// been paused for a minute is not down the moment one probe fails.
	// Gossip needs to agree only at the end of the streak.
	if kafkaFailed {
		if t.badSince.IsZero() {
			t.badSince = e.At
		}
	} else {
		t.badSince = time.Time{}
	}
	streak := time.Duration(0)
	if !t.badSince.IsZero() && e.At.After(t.badSince) {
		streak = e.At.Sub(t.badSince)
	}
	downNow := gossipDead && kafkaFailed && !hbFresh && streak >= t.cfg.DownAfter

	switch {
	case downNow:
		t.verdict, t.goodSince = Down, time.Time{}
		t.reason = fmt.Sprintf("%s for %s", strings.Join(bad, ", "), streak.Round(time.Millisecond))
	case t.verdict == Down && !gossipDead && !kafkaFailed:
		// Hysteresis: a down region is up again once gossip and probe have
		// been good for UpAfter. A stale heartbeat does not hold it down:
		// its replication may only resume once it is up.
		if t.goodSince.IsZero() {
			t.goodSince = e.At
		}
		if good := e.At.Sub(t.goodSince); good >= t.cfg.UpAfter {
			t.verdict, t.reason, t.goodSince = Up, "", time.Time{}
		} else {
			t.reason = fmt.Sprintf("recovering for %s", good.Round(time.Millisecond))
		}
	case t.verdict == Down:
		// Gossip or probe still bad (or a fresh heartbeat alone): the
		// recovery clock restarts.
		t.goodSince = time.Time{}
		t.reason = strings.Join(bad, ", ")
	case len(bad) > 0:
		t.verdict, t.reason = Suspect, strings.Join(bad, ", ")
		if hbFresh {
			t.reason += ", heartbeat fresh"
		}
	default:
		t.verdict, t.reason = Up, ""
	}
	return t.verdict
}
