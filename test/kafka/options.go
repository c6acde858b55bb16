package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// Options configures a Cluster. The zero value is a one-broker cluster
// with the defaults below; New applies them, in one place, withDefaults.
//
// Callers that connect through Cluster.ClientOptions rather than building
// their own kgo.SeedBrokers from Bootstrap work with a secured cluster
// unchanged.
type Options struct {
	// Brokers is the number of Kafka nodes. Each runs in KRaft combined
	// mode (broker and controller in one JVM) and every node is a voter,
	// so a 3-node cluster keeps a controller quorum with one node down.
	// Node i has node.id i. Default 1.
	Brokers int

	// ServerProperties are set in every node's server.properties after
	// the harness's test defaults, so they override them. The defaults
	// favour fast tests: num.partitions=1,
	// auto.create.topics.enable=false, group.initial.rebalance.delay.ms=0,
	// internal topics (offsets, transactions, share state) and
	// default.replication.factor at min(Brokers,3) replicas with
	// min.insync.replicas and transaction.state.log.min.isr at one less
	// (but at least 1), 5 partitions for the offsets and transaction
	// topics instead of 50, a 32 MiB log cleaner buffer instead of
	// 128 MiB, and broker heartbeats every 500ms with a 4s session
	// instead of 2s and 9s, so a killed node is fenced and its partitions
	// get new leaders in about 4s. Properties the harness needs to address and wire the nodes
	// (node.id, process.roles, listeners, controller.quorum.voters,
	// log.dirs and the like) cannot be set here; New rejects them.
	ServerProperties map[string]string

	// JVMFlags are passed to each JVM after the harness's flags. The JVM
	// honours the last of repeated flags, so "-Xmx1g" here replaces the
	// default. The defaults start a node fastest on a small machine:
	// -Xmx512m, -XX:+UseSerialGC and -XX:TieredStopAtLevel=1 (no C2
	// compiler, which trades peak throughput for less CPU at start;
	// benchmarks should pass -XX:TieredStopAtLevel=4).
	JVMFlags []string

	// Security, when set, secures every listener: SASL_SSL and mTLS for
	// clients, SSL with client certificates between nodes, and ACLs
	// enforced by StandardAuthorizer. See Security. Default: plaintext
	// listeners and no authorizer.
	Security *Security

	// Authorizer, when set, enforces ACLs on a plaintext cluster for the
	// users of a second, SASL_PLAINTEXT listener, while the plaintext
	// listeners stay open to everything. See Authorizer. Not with
	// Security. Default: no authorizer.
	Authorizer *Authorizer

	// StartTimeout bounds how long Start, and StartBroker, wait for nodes
	// to serve metadata naming every running node. Default 90s.
	StartTimeout time.Duration

	// Host is the IPv4 address every node listens on and advertises, for
	// clusters that run inside a network namespace (see CommandPrefix).
	// Only plaintext clusters take it. Default 127.0.0.1.
	Host string

	// BasePort, when set, is the first of the consecutive ports the
	// nodes listen on, in node order, each node's client, controller and
	// then its SASL, mTLS, inter-broker and Kerberos listeners as it has
	// them, instead of free ports of the loopback. For clusters in
	// network namespaces of their own (Host), whose ports no one else
	// takes, that must serve on the same ports in every region, as
	// clients that follow a DNS name between regions need. Default 0:
	// free ports.
	BasePort int

	// CommandPrefix runs every JVM through another program, which gets
	// the java command line as its arguments: for example
	// {"ip", "netns", "exec", "ns1"} starts the nodes in network
	// namespace ns1. The program must exec java in place (as ip netns
	// exec does), so that signals reach the JVM. Default: java is run
	// directly.
	CommandPrefix []string

	// Dial connects the harness's own clients (readiness probes) and
	// the clients built from ClientOptions, for nodes that the test's
	// network namespace cannot reach directly. Default: kgo's dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)

	// StopTimeout is how long StopBroker waits after SIGTERM for a clean
	// shutdown (leadership moved away, logs flushed) before it sends
	// SIGKILL. Close waits only 2s instead, since a cluster being torn
	// down need not shut down cleanly. Default 30s.
	StopTimeout time.Duration
}

// closeGrace is how long Close lets nodes shut down before SIGKILL. A
// node that is not the active controller stops in well under a second;
// the active controller's Raft client then waits 5s for followers that
// are already gone. Close discards the data, so that wait buys nothing.
const closeGrace = 2 * time.Second

var defaultJVMFlags = []string{
	"-Xmx512m",
	"-XX:+UseSerialGC",
	"-XX:TieredStopAtLevel=1",
	// No hsperfdata files in /tmp for every JVM the tests start.
	"-XX:-UsePerfData",
	"-Djava.awt.headless=true",
}

// harnessProperties are written by the harness for each node; letting
// ServerProperties change them would break addressing or readiness.
var harnessProperties = []string{
	"node.id",
	"broker.id",
	"process.roles",
	"listeners",
	"advertised.listeners",
	"listener.security.protocol.map",
	"controller.listener.names",
	"inter.broker.listener.name",
	"controller.quorum.voters",
	"controller.quorum.bootstrap.servers",
	"log.dirs",
	"log.dir",
	"metadata.log.dir",
}

func (o Options) withDefaults() Options {
	if o.Brokers == 0 {
		o.Brokers = 1
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 90 * time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 30 * time.Second
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	return o
}

// validate reports every problem at once.
func (o Options) validate() error {
	var errs []error
	if o.Brokers < 0 {
		errs = append(errs, fmt.Errorf("kafkatest: Brokers is %d, want at least 1", o.Brokers))
	}
	if o.StartTimeout < 0 {
		errs = append(errs, fmt.Errorf("kafkatest: StartTimeout is negative (%s)", o.StartTimeout))
	}
	if o.StopTimeout < 0 {
		errs = append(errs, fmt.Errorf("kafkatest: StopTimeout is negative (%s)", o.StopTimeout))
	}
	if o.Host != "" {
		if a, err := netip.ParseAddr(o.Host); err != nil || !a.Is4() {
			errs = append(errs, fmt.Errorf("kafkatest: Host %q is not an IPv4 address", o.Host))
		} else if o.Security != nil && o.Host != "127.0.0.1" {
			errs = append(errs, fmt.Errorf("kafkatest: Host %s: secured clusters listen on 127.0.0.1 only", o.Host))
		}
	}
	if o.BasePort != 0 && (o.BasePort < 1024 || o.BasePort > 60000 || o.Host == "" || o.Host == "127.0.0.1") {
		errs = append(errs, fmt.Errorf("kafkatest: BasePort %d: want 1024–60000, for a cluster with a Host of its own", o.BasePort))
	}
	if o.Security != nil {
		errs = append(errs, o.Security.validate()...)
	}
	if o.Authorizer != nil {
		if o.Security != nil {
			errs = append(errs, errors.New("kafkatest: Security and Authorizer exclude each other: a secured cluster has an authorizer already"))
		}
		errs = append(errs, o.Authorizer.validate()...)
	}
	keys := make([]string, 0, len(o.ServerProperties))
	for k := range o.ServerProperties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if slices.Contains(harnessProperties, k) {
			errs = append(errs, fmt.Errorf("kafkatest: ServerProperties may not set %q: the harness owns it", k))
		}
	}
	return errors.Join(errs...)
}

// serverProperties returns the test defaults for a cluster of n nodes
// with the caller's overrides applied.
func (o Options) serverProperties() map[string]string {
	rf := min(o.Brokers, 3)
	// One less than the replicas keeps acks=all writes and transactions
	// working while one node is down, as rolling-restart tests need.
	minISR := max(rf-1, 1)
	p := map[string]string{
		"num.partitions":                                   "1",
		"default.replication.factor":                       strconv.Itoa(rf),
		"min.insync.replicas":                              strconv.Itoa(minISR),
		"auto.create.topics.enable":                        "false",
		"group.initial.rebalance.delay.ms":                 "0",
		"offsets.topic.replication.factor":                 strconv.Itoa(rf),
		"offsets.topic.num.partitions":                     "5",
		"transaction.state.log.num.partitions":             "5",
		"transaction.state.log.replication.factor":         strconv.Itoa(rf),
		"transaction.state.log.min.isr":                    strconv.Itoa(minISR),
		"share.coordinator.state.topic.replication.factor": strconv.Itoa(rf),
		"share.coordinator.state.topic.min.isr":            strconv.Itoa(minISR),
		"log.cleaner.dedupe.buffer.size":                   strconv.Itoa(32 << 20),
		"broker.heartbeat.interval.ms":                     "500",
		"broker.session.timeout.ms":                        "4000",
	}
	for k, v := range o.ServerProperties {
		p[k] = v
	}
	return p
}
