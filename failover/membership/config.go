package membership

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config configures a Membership. The zero value of every optional field
// means "use the default", and all defaults are applied in one place,
// [Config.withDefaults], before validation.
type Config struct {
	// AgentID identifies this agent within its region. Required. It is
	// carried in the member metadata and is the default NodeName.
	AgentID string

	// NodeName is the name memberlist gossips for this node; it must be
	// unique among all nodes of the gossip pool, since a second live node
	// with the same name is rejected. Default: AgentID. It exists apart
	// from AgentID so that a later pool spanning regions can use
	// "<region>/<agent>" without changing what peers read as the agent id.
	NodeName string

	// Region is the region this agent serves, carried in the metadata so
	// that peers can tell their own region's agents from others'.
	// Optional.
	Region string

	// APIAddr is the host:port of this agent's HTTP API, carried in the
	// metadata so that a peer can reach it (status, forwarding). Optional.
	APIAddr string

	// BindAddr is the host:port to listen on for gossip, TCP and UDP on
	// the same port. Default "0.0.0.0:7946" (memberlist's port). Port 0
	// picks a free port; the advertised port is then the one picked, and
	// [Membership.LocalAddr] reports it once Start has returned.
	BindAddr string

	// AdvertiseAddr is the host:port peers should use to reach this node,
	// for NAT or when BindAddr is 0.0.0.0. The host must be an IP address.
	// Default "": the bind address, or, when that is 0.0.0.0, the first
	// private IPv4 address of this host. A port of 0 means the bind port.
	AdvertiseAddr string

	// Seeds are host:port addresses of other agents to join at Start.
	// Start returns once one answered; the others are greeted (a full
	// state exchange) once in the background. Addresses of this node
	// itself are ignored, so every agent of a region can be given the
	// same list. Empty means this agent waits to be joined.
	Seeds []string

	// SecretKeys enable encryption and authentication of all gossip (AES-GCM)
	// when non-empty. Each key is 16, 24 or 32 bytes (AES-128/192/256).
	// The first key encrypts; all of them are tried to decrypt, which lets
	// an operator rotate keys: add the new key second everywhere, then
	// move it first everywhere, then drop the old one. A node without a
	// matching key can neither join nor be joined. Default: none (plain
	// text), acceptable only inside a trusted network.
	SecretKeys [][]byte

	// Timing sets failure-detection speed. Zero fields take the value of
	// [LAN]. See [Timing] for how they turn into detection seconds.
	Timing Timing

	// JoinTimeout bounds how long Start keeps retrying Seeds before it
	// gives up and returns with this node alone (not an error: the first
	// agent of a region has nobody to join). Default 5s.
	JoinTimeout time.Duration

	// RejoinInterval is how often a node that is alone retries Seeds in
	// the background, so that agents started in any order, or cut off and
	// declared dead by all peers, find each other again. Default 5s.
	RejoinInterval time.Duration

	// LeaveTimeout bounds how long Close waits for the leave message to be
	// gossiped before shutting down. Default 2s.
	LeaveTimeout time.Duration

	// SettleChecks is how many consecutive probe intervals the member set
	// must stay the same for [Membership.WaitSettled] to return. Default 3.
	SettleChecks int

	// Logger receives membership events at Info and memberlist's own log
	// lines at Debug (memberlist logs expected trouble, such as failed
	// probes of a dead node, as errors; the events that matter are logged
	// by this package). Default slog.Default().
	Logger *slog.Logger

	// Transport, when non-nil, replaces memberlist's UDP+TCP transport; it
	// is passed through to memberlist.Config.Transport. It exists so tests
	// can inject WAN delay and loss. BindAddr is then ignored, and
	// AdvertiseAddr is given to the transport's FinalAdvertiseAddr.
	Transport memberlist.Transport
}

// Timing holds the failure-detector settings. memberlist runs SWIM with
// Lifeguard's extensions; the settings turn into detection time as follows.
//
// Every ProbeInterval each node probes one peer, walking a shuffled list of
// all peers, so a given peer is probed by someone about once per interval.
// A probe sends a UDP ping and waits ProbeTimeout for the ack; without one
// it asks up to three other nodes to ping indirectly (and tries TCP) and
// waits until the end of the interval. If that fails too the prober marks
// the target suspect and gossips it. A suspect that does not refute within
// the suspicion timeout is declared dead:
//
//	suspicion = SuspicionMult × max(1, log10(n)) × ProbeInterval
//
// for n known nodes, so it is SuspicionMult × ProbeInterval up to 10 nodes.
// (Lifeguard: when n ≥ SuspicionMult, the timer starts at
// SuspicionMaxTimeoutMult × suspicion and shrinks to the suspicion figure
// as SuspicionMult−2 other nodes independently confirm; with fewer nodes,
// or SuspicionMaxTimeoutMult 1 as in [LAN], it is the figure from the
// start. DetectionTime assumes the latter.) The dead message then reaches all peers within a few
// GossipIntervals. In all, a crashed node is seen dead by all peers after
//
//	detection ≈ (n−1)×ProbeInterval  until some peer probes it (worst case)
//	          + ProbeInterval        the failed probe round
//	          + suspicion
//	          + 2×GossipInterval     spreading the verdict
//
// which [Timing.DetectionTime] computes. With [LAN] (0.5s, 0.25s, 4) that
// is 3.2s for 2 nodes, 3.7s for 3 and 4.7s for 5: an agent is declared
// dead within about 5s. Typical runs are faster, because with several
// probers the first probe usually comes within one interval: on loopback,
// 30 crashes each at 3 and 5 agents were seen dead by all peers after
// 2.9–3.4s (3 agents) and 2.9–3.9s (5 agents). A node that
// leaves gracefully ([Membership.Close]) is gone from its peers' view
// within a few GossipIntervals.
//
// Faster settings cost false suspicions under load (a GC pause or a busy
// host longer than ProbeTimeout starts a suspicion) and more packets. A
// false death in one region only moves copy shards, which Kafka fencing
// keeps safe, so the in-region profile is aggressive. [WAN] is the
// profile of the cross-region pool, where a dead verdict is one of two
// signals that a region is down.
type Timing struct {
	// ProbeInterval is the time between probes of one peer by a node.
	// LAN: 500ms (memberlist's LAN default is 1s).
	ProbeInterval time.Duration

	// ProbeTimeout is how long a direct probe waits for its ack; it must
	// exceed the round-trip time and be less than ProbeInterval.
	// LAN: 250ms, plenty for an in-region round trip under 10ms while
	// riding out short pauses (memberlist LAN default 500ms).
	ProbeTimeout time.Duration

	// SuspicionMult scales the suspicion timeout (formula above); larger
	// gives a falsely suspected node more time to refute. LAN: 4, as
	// memberlist.
	SuspicionMult int

	// SuspicionMaxTimeoutMult is Lifeguard's starting suspicion timer, as a
	// multiple of the minimum, used while fewer than SuspicionMult−2
	// other nodes have confirmed the suspicion. LAN: 1 (memberlist: 6),
	// which turns the stretch off: at 4–5 agents the confirmations come
	// from the next probers' rounds, up to seconds later, and with 2 the
	// detection time measured at 5 agents reached 5.9s. A falsely
	// suspected agent still refutes as soon as the suspicion reaches it,
	// and Lifeguard's slowdown of an unhealthy prober stays on.
	SuspicionMaxTimeoutMult int

	// GossipInterval is how often a node sends queued messages (joins,
	// suspicions, deaths) to a few random peers. LAN: 100ms (memberlist
	// LAN default 200ms); messages are tiny at a handful of agents.
	GossipInterval time.Duration

	// PushPullInterval is how often a node exchanges its full state with a
	// random peer over TCP, repairing anything gossip missed. LAN: 15s
	// (memberlist 30s); the state of a few agents is a few hundred bytes.
	PushPullInterval time.Duration

	// TCPTimeout bounds a TCP connection to a peer (join, push-pull, TCP
	// fallback probe). LAN: 3s (memberlist 10s), so a seed that drops
	// packets does not hold Start or Close for long.
	TCPTimeout time.Duration
}

// LAN returns the in-region profile: agents of one region on one network,
// a dead agent declared dead within about 5s at 2–5 agents.
func LAN() Timing {
	return Timing{
		ProbeInterval:           500 * time.Millisecond,
		ProbeTimeout:            250 * time.Millisecond,
		SuspicionMult:           4,
		SuspicionMaxTimeoutMult: 1,
		GossipInterval:          100 * time.Millisecond,
		PushPullInterval:        15 * time.Second,
		TCPTimeout:              3 * time.Second,
	}
}

// SuspicionTimeout is memberlist's minimum suspicion timeout for n known
// nodes (including the suspect).
func (t Timing) SuspicionTimeout(n int) time.Duration {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	return time.Duration(float64(t.SuspicionMult) * scale * float64(t.ProbeInterval))
}

// DetectionTime estimates the longest time, for a pool of n nodes
// (including the one that fails), from a node's crash until every peer
// has declared it dead, without packet loss. The formula is in [Timing].
// Tests assert against it; operators can size alerts by it.
func (t Timing) DetectionTime(n int) time.Duration {
	if n < 2 {
		n = 2
	}
	return time.Duration(n-1)*t.ProbeInterval + t.ProbeInterval +
		t.SuspicionTimeout(n) + 2*t.GossipInterval
}

func (t Timing) withDefaults() Timing {
	d := LAN()
	if t.ProbeInterval == 0 {
		t.ProbeInterval = d.ProbeInterval
	}
	if t.ProbeTimeout == 0 {
		t.ProbeTimeout = d.ProbeTimeout
	}
	if t.SuspicionMult == 0 {
		t.SuspicionMult = d.SuspicionMult
	}
	if t.SuspicionMaxTimeoutMult == 0 {
		t.SuspicionMaxTimeoutMult = d.SuspicionMaxTimeoutMult
	}
	if t.GossipInterval == 0 {
		t.GossipInterval = d.GossipInterval
	}
	if t.PushPullInterval == 0 {
		t.PushPullInterval = d.PushPullInterval
	}
	if t.TCPTimeout == 0 {
		t.TCPTimeout = d.TCPTimeout
	}
	return t
}

// Defaults not covered by Timing.
const (
	defaultBindAddr       = "0.0.0.0:7946"
	defaultJoinTimeout    = 5 * time.Second
	defaultRejoinInterval = 5 * time.Second
	defaultLeaveTimeout   = 2 * time.Second
	defaultSettleChecks   = 3
)

// withDefaults returns c with every unset optional field set. It is the
// only place defaults are applied.
func (c Config) withDefaults() Config {
	if c.NodeName == "" {
		c.NodeName = c.AgentID
	}
	if c.BindAddr == "" {
		c.BindAddr = defaultBindAddr
	}
	c.Timing = c.Timing.withDefaults()
	if c.JoinTimeout == 0 {
		c.JoinTimeout = defaultJoinTimeout
	}
	if c.RejoinInterval == 0 {
		c.RejoinInterval = defaultRejoinInterval
	}
	if c.LeaveTimeout == 0 {
		c.LeaveTimeout = defaultLeaveTimeout
	}
	if c.SettleChecks == 0 {
		c.SettleChecks = defaultSettleChecks
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// validate reports every problem of a defaulted config at once.
func (c Config) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.AgentID == "" {
		add("agent id is required")
	}
	if c.Transport == nil {
		if _, _, err := splitHostPort(c.BindAddr); err != nil {
			add("bind address %q: %w", c.BindAddr, err)
		}
	}
	if c.AdvertiseAddr != "" {
		host, _, err := splitHostPort(c.AdvertiseAddr)
		if err != nil {
			add("advertise address %q: %w", c.AdvertiseAddr, err)
		} else if net.ParseIP(host) == nil {
			add("advertise address %q: host must be an IP address", c.AdvertiseAddr)
		}
	}
	for _, s := range c.Seeds {
		if _, _, err := splitHostPort(s); err != nil {
			add("seed %q: %w", s, err)
		}
	}
	for i, k := range c.SecretKeys {
		if n := len(k); n != 16 && n != 24 && n != 32 {
			add("secret key %d: %d bytes, want 16, 24 or 32", i, n)
		}
	}
	t := c.Timing
	if t.ProbeInterval < 0 || t.ProbeTimeout < 0 || t.GossipInterval < 0 ||
		t.PushPullInterval < 0 || t.TCPTimeout < 0 {
		add("timing: durations must not be negative")
	}
	if t.ProbeTimeout >= t.ProbeInterval {
		add("timing: probe timeout %v must be less than probe interval %v", t.ProbeTimeout, t.ProbeInterval)
	}
	if t.SuspicionMult < 1 || t.SuspicionMaxTimeoutMult < 1 {
		add("timing: suspicion multipliers must be at least 1")
	}
	if c.JoinTimeout < 0 || c.RejoinInterval < 0 || c.LeaveTimeout < 0 || c.SettleChecks < 0 {
		add("join timeout, rejoin interval, leave timeout and settle checks must not be negative")
	}
	if n := len(encodeMeta(c.meta())); n > memberlist.MetaMaxSize {
		add("metadata is %d bytes encoded, memberlist allows %d", n, memberlist.MetaMaxSize)
	}
	if len(errs) > 0 {
		return fmt.Errorf("membership: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

func (c Config) meta() Meta {
	return Meta{Region: c.Region, AgentID: c.AgentID, APIAddr: c.APIAddr}
}

// splitHostPort is net.SplitHostPort plus a numeric port check.
func splitHostPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number in 0..65535", portStr)
	}
	return host, int(port), nil
}
