package quorum

import (
	"sync"
	"time"
	_ "unsafe" // for go:linkname
)

// nats-server's raft lets a follower stand for election only after
// 4–9s without a heartbeat from its leader (sent every second), and
// offers no option to change it. When the region whose node leads the
// mesh state's stream dies, no decision can be written until then: that
// wait, not gossip or the Kafka probes, would set the failover time. Its
// own tests shorten these timers; an embedded node does the same, before
// its first server starts. The heartbeat stays at 1s, so a follower
// stands only after two missed heartbeats: links with 100ms delay and 2%
// loss (TCP stalls of 200ms) cause no election.
//
//go:linkname natsMinElectionTimeout github.com/nats-io/nats-server/v2/server.minElectionTimeout
var natsMinElectionTimeout time.Duration

//go:linkname natsMaxElectionTimeout github.com/nats-io/nats-server/v2/server.maxElectionTimeout
var natsMaxElectionTimeout time.Duration

// ElectionTimeoutMin and ElectionTimeoutMax bound how long an embedded
// node's stream and meta followers wait without a leader's heartbeat
// before standing for election (nats-server's defaults: 4s and 9s).
const (
	ElectionTimeoutMin = 2 * time.Second
	ElectionTimeoutMax = 3500 * time.Millisecond
)

var tuneElectionOnce sync.Once

// tuneElection sets nats-server's election timeouts once per process,
// before any server of this process reads them.
func tuneElection() {
	tuneElectionOnce.Do(func() {
		natsMinElectionTimeout, natsMaxElectionTimeout = ElectionTimeoutMin, ElectionTimeoutMax
	})
}
