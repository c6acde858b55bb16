package topology

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Kind is the shape of a mesh: which regions take writes and where records flow.
type Kind string

const (
	// KindActivePassive has one primary that takes writes and standbys that
	// hold identical copies, ready to be promoted.
	KindActivePassive Kind = "active-passive"
	// KindActiveActive lets every data region take writes; each region gets
	// the others' topics.
	KindActiveActive Kind = "active-active"
	// KindHubSpoke aggregates every spoke into a hub and broadcasts chosen hub
	// topics back to the spokes.
	KindHubSpoke Kind = "hub-spoke"
)

func (Kind) values() []string {
	return []string{string(KindActivePassive), string(KindActiveActive), string(KindHubSpoke)}
}

// Naming decides the name a replicated topic gets in the target cluster.
type Naming string

const (
	// NamingPrefix names the copy "<source-region>.<topic>", so copies of
	// same-named topics from several regions never mix and loops cannot form.
	NamingPrefix Naming = "prefix"
	// NamingIdentity keeps the name, so consumers switch regions without
	// changing topic names.
	NamingIdentity Naming = "identity"
)

func (Naming) values() []string { return []string{string(NamingPrefix), string(NamingIdentity)} }

// ReplicationMode is the delivery guarantee of the copy between clusters.
type ReplicationMode string

const (
	// ReplicationExactlyOnce writes copies and progress in one Kafka
	// transaction: no loss and no duplicates across crashes.
	ReplicationExactlyOnce ReplicationMode = "exactly-once"
	// ReplicationAtLeastOnce skips transactions for throughput; a crash may
	// copy some records twice.
	ReplicationAtLeastOnce ReplicationMode = "at-least-once"
)

func (ReplicationMode) values() []string {
	return []string{string(ReplicationExactlyOnce), string(ReplicationAtLeastOnce)}
}

// OnError is what a flow does with a record it cannot write to the target.
type OnError string

const (
	// OnErrorPause stops the partition's copy and alerts; nothing is skipped.
	OnErrorPause OnError = "pause"
	// OnErrorDeadLetter writes the record to Replication.DeadLetterTopic in
	// the target cluster and carries on.
	OnErrorDeadLetter OnError = "dead-letter"
)

func (OnError) values() []string { return []string{string(OnErrorPause), string(OnErrorDeadLetter)} }

// Compression is the codec a flow writes its copies with.
type Compression string

const (
	// CompressionSource writes copies with the codec of the source
	// batches they come from: what the source topic's compression.type
	// makes the broker store, or the producer's codec where it says
	// producer. Copies then take about as many bytes on the target's
	// disk as the records do on the source's.
	CompressionSource Compression = "source"
	CompressionNone   Compression = "none"
	CompressionGzip   Compression = "gzip"
	CompressionSnappy Compression = "snappy"
	CompressionLZ4    Compression = "lz4"
	CompressionZstd   Compression = "zstd"
)

func (Compression) values() []string {
	return []string{string(CompressionSource), string(CompressionNone), string(CompressionGzip),
		string(CompressionSnappy), string(CompressionLZ4), string(CompressionZstd)}
}

// TopicDeletion is what happens to a target topic whose source topic is
// deleted.
type TopicDeletion string

const (
	// TopicDeletionOff keeps the copy: after a failover it may be the only
	// one left, and deleting data is an operator's decision.
	TopicDeletionOff TopicDeletion = "off"
	// TopicDeletionFollow deletes a copy geomesh created once its source
	// has been gone for two consecutive topic-sync passes.
	TopicDeletionFollow TopicDeletion = "follow"
)

func (TopicDeletion) values() []string {
	return []string{string(TopicDeletionOff), string(TopicDeletionFollow)}
}

// FailoverMode says whether a quorum may promote a region on its own.
type FailoverMode string

const (
	// FailoverAutomatic promotes a standby when a region is judged down and a
	// quorum of voters agrees.
	FailoverAutomatic FailoverMode = "automatic"
	// FailoverManual only alerts; an operator runs `geomesh failover --to`.
	FailoverManual FailoverMode = "manual"
)

func (FailoverMode) values() []string {
	return []string{string(FailoverAutomatic), string(FailoverManual)}
}

// Stranded is what happens to records the failed primary took that never
// reached the standby before it was promoted. The old primary's agent
// settles them when it returns, before it rejoins as a standby, and
// reports how many (package mirror/stranded).
type Stranded string

const (
	// StrandedQuarantine copies them, with provenance headers, to
	// "<target topic>.stranded" on the new primary for a human to judge.
	StrandedQuarantine Stranded = "quarantine"
	// StrandedReplay produces them again into the live topic, after the
	// records written since the failover.
	StrandedReplay Stranded = "replay"
	// StrandedDrop discards them; only for data that is cheap to lose.
	StrandedDrop Stranded = "drop"
)

func (Stranded) values() []string {
	return []string{string(StrandedQuarantine), string(StrandedReplay), string(StrandedDrop)}
}

// saslMechanisms are the SASL mechanisms geomesh speaks through franz-go.
// PLAIN sends the password itself and relies on TLS to hide it; GSSAPI is
// Kerberos with a keytab; OAUTHBEARER sends a token from an OAuth 2 token
// endpoint; AWS_MSK_IAM signs with AWS credentials (Amazon MSK).
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER", "AWS_MSK_IAM"}

// userMechanisms are those that log in as a named user.
var userMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI"}

// Mesh is a validated topology with every default applied.
type Mesh struct {
	Name         string
	Kind         Kind
	Roles        Roles
	Regions      []Region
	Topics       Selection
	Groups       Selection
	Naming       Naming
	Replication  Replication
	Failover     Failover
	ControlPlane ControlPlane
	Flows        []FlowOverride
	API          API
	Gossip       Gossip
	// AllowInsecure lists the insecure settings the file accepts.
	AllowInsecure []Insecure
}

// Region returns the region with the given name.
func (m *Mesh) Region(name string) (*Region, bool) {
	for i := range m.Regions {
		if m.Regions[i].Name == name {
			return &m.Regions[i], true
		}
	}
	return nil, false
}

// DataRegions returns the names of the regions that have a Kafka cluster, in
// file order.
func (m *Mesh) DataRegions() []string {
	var names []string
	for _, r := range m.Regions {
		if !r.Witness {
			names = append(names, r.Name)
		}
	}
	return names
}

// MapPrincipal names, on region to's cluster, the principal called
// principal on region from's cluster: through the mesh-wide name that
// from's kafka.principals maps to it, then to's name for that.
func (m *Mesh) MapPrincipal(from, to, principal string) string {
	meshName := principal
	if r, ok := m.Region(from); ok && r.Kafka != nil {
		for k, v := range r.Kafka.Principals {
			if v == principal {
				meshName = k
				break
			}
		}
	}
	if r, ok := m.Region(to); ok && r.Kafka != nil {
		if v, ok := r.Kafka.Principals[meshName]; ok {
			return v
		}
	}
	return meshName
}

// Agents returns how many agents the mesh runs; gossip timings scale with it.
func (m *Mesh) Agents() int {
	n := 0
	for _, r := range m.Regions {
		n += len(r.Agents)
	}
	return n
}

// document is the file as written; Parse turns it into a Mesh. It differs
// from Mesh only where the file groups things for readability (topology:)
// or where absence must be told apart from a zero value (control_plane:).
type document struct {
	// Name of the mesh: lowercase letters, digits and '-', at most 63
	// characters, starting and ending with a letter or digit. It names the
	// control-plane subjects (geomesh.<mesh>.events) and geomesh's own topics.
	Mesh string `yaml:"mesh" required:"true"`
	// Shape of the mesh and the role of each data region.
	Topology topologySpec `yaml:"topology" required:"true"`
	// Every region of the mesh: data regions with a Kafka cluster and witness
	// regions that only vote.
	Regions []Region `yaml:"regions" required:"true"`
	// Topics to replicate, as full-match regular expressions. An absent
	// include is every topic (".*"); "include: []" is none.
	Topics Selection `yaml:"topics"`
	// Consumer groups whose offsets are translated and synced. An absent
	// include is every group (".*"); "include: []" is none.
	Groups Selection `yaml:"groups"`
	// Name of a topic copy in the target cluster. Default: prefix for
	// active-active and hub-spoke, identity for active-passive.
	Naming Naming `yaml:"naming"`
	// How records are copied.
	Replication Replication `yaml:"replication"`
	// When and how a region's traffic moves to another region.
	Failover Failover `yaml:"failover"`
	// Who may use the agents' HTTP APIs, and TLS for them. Default: plain
	// HTTP without tokens, for local meshes only.
	API API `yaml:"api"`
	// Encryption of the agents' gossip. Default: none, for local meshes only.
	Gossip Gossip `yaml:"gossip"`
	// The NATS cluster that stores failover decisions. Default: embedded.
	ControlPlane *ControlPlane `yaml:"control_plane"`
	// Narrower topic selections for single flows the topology plans.
	Flows []FlowOverride `yaml:"flows"`
	// Insecure settings this mesh accepts, each refused otherwise:
	// sasl-plain-without-tls, insecure-skip-verify-with-password,
	// control-plane-without-tls (on non-loopback addresses) and
	// api-without-token (on non-loopback addresses). Agents warn of each
	// one in use at every start. Default: none.
	AllowInsecure []Insecure `yaml:"allow_insecure"`
}

// topologySpec is the "topology:" section of the file.
type topologySpec struct {
	// active-passive, active-active or hub-spoke.
	Kind  Kind `yaml:"kind" required:"true"`
	Roles `yaml:",inline"`
}

// Roles assigns data regions to the parts of a topology. Only the fields of
// the mesh's Kind may be set.
type Roles struct {
	// active-passive: the region that takes writes.
	Primary string `yaml:"primary"`
	// active-passive: regions that receive every selected topic from the
	// primary and can be promoted.
	Standby []string `yaml:"standby"`
	// hub-spoke: the region every spoke feeds.
	Hub string `yaml:"hub"`
	// hub-spoke: a region holding a full copy of the hub, promoted if the hub fails.
	StandbyHub string `yaml:"standby_hub"`
	// hub-spoke: the regions that feed the hub.
	Spokes []string `yaml:"spokes"`
	// hub-spoke: hub topics copied to every spoke under the same name.
	// An absent or empty include broadcasts nothing. Mesh-wide topic
	// excludes apply as well.
	Broadcast Selection `yaml:"broadcast"`
}

// Region is one failure domain: a data region with a Kafka cluster, or a
// witness region that only runs agents to vote on failovers.
type Region struct {
	// Region name; also the topic prefix under prefix naming, so lowercase
	// letters, digits and '-' only, at most 63 characters, starting and
	// ending with a letter or digit. "geomesh" is reserved.
	Name string `yaml:"name" required:"true"`
	// A witness region has no Kafka cluster; its agents only vote, breaking
	// ties between two data regions.
	Witness bool `yaml:"witness"`
	// The region's Kafka cluster; required unless witness is true.
	Kafka *Kafka `yaml:"kafka"`
	// The geomesh agents running in this region; at least one.
	Agents []Agent `yaml:"agents" required:"true"`
}

// Kafka is how agents reach a region's cluster.
type Kafka struct {
	// Seed brokers as host:port.
	Bootstrap []string `yaml:"bootstrap"`
	// Local mode: geomesh runs an in-process cluster listening on
	// bootstrap[0], which must be a loopback address.
	Embedded bool `yaml:"embedded"`
	// TLS to the brokers; absent means plaintext.
	TLS *TLS `yaml:"tls"`
	// SASL authentication; absent means none.
	SASL *SASL `yaml:"sasl"`
	// How the mesh's principals are named on this cluster, for ACL sync:
	// mesh principal → this cluster's principal, for example
	// "User:orders": "User:orders-eu". An ACL copied from another region is
	// granted to the principal its owner has here. Principals not listed
	// keep their name.
	Principals map[string]string `yaml:"principals"`
}

// TLS configures the connection to a cluster's brokers.
type TLS struct {
	// PEM bundle of the CAs that sign the brokers' certificates. Default: the
	// system pool.
	CAFile string `yaml:"ca_file" file:"true"`
	// PEM client certificate for mutual TLS; needs key_file.
	CertFile string `yaml:"cert_file" file:"true"`
	// PEM private key of cert_file.
	KeyFile string `yaml:"key_file" file:"true"`
	// Name expected in the brokers' certificates. Default: the bootstrap host.
	ServerName string `yaml:"server_name"`
	// Skip certificate verification; for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASL authenticates agents to a cluster.
type SASL struct {
	// PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI (Kerberos), OAUTHBEARER
	// (an OAuth 2 token, see oauth) or AWS_MSK_IAM (Amazon MSK's IAM
	// access control, see aws).
	Mechanism string `yaml:"mechanism" required:"true"`
	// User name; required with PLAIN, SCRAM and GSSAPI (there the
	// Kerberos principal without the realm: geomesh, or geomesh/host).
	// OAUTHBEARER and AWS_MSK_IAM take none: the token's subject or the
	// IAM identity is the principal.
	Username string `yaml:"username"`
	// Where the password is: env:VARIABLE or file:/path. Never the password
	// itself. Required with PLAIN and SCRAM.
	Password Secret `yaml:"password"`
	// GSSAPI: keytab file holding the key of username@realm; required.
	Keytab string `yaml:"keytab" file:"true"`
	// GSSAPI: Kerberos realm of username; required.
	Realm string `yaml:"realm"`
	// GSSAPI: krb5.conf naming the realm's KDCs. Default: /etc/krb5.conf.
	Krb5Conf string `yaml:"krb5_conf" file:"true"`
	// GSSAPI: service part of the brokers' principals
	// (service/broker-host@REALM). Default: kafka.
	ServiceName string `yaml:"service_name"`
	// OAUTHBEARER: how the agent gets its tokens; required.
	OAuth *OAuth `yaml:"oauth"`
	// AWS_MSK_IAM: which AWS credentials sign; optional.
	AWS *AWSIAM `yaml:"aws"`
}

// OAuth is the client credentials grant (RFC 6749 section 4.4) that
// OAUTHBEARER logs in with, as Kafka's own clients do (KIP-768): the
// agent posts its client id and secret (HTTP Basic) to the token
// endpoint, sends the access token it gets to the brokers, and fetches a
// new one when 80 % of its lifetime has passed, so that connections
// re-authenticate (KIP-368) with a valid token before the old one
// expires.
type OAuth struct {
	// Token endpoint URL: https://, or http:// on a loopback address
	// only (the client secret travels to it). Required.
	TokenEndpoint string `yaml:"token_endpoint" required:"true"`
	// Client id; required.
	ClientID string `yaml:"client_id" required:"true"`
	// Client secret: env:VARIABLE or file:/path, read for every token
	// request. Required.
	ClientSecret Secret `yaml:"client_secret" required:"true"`
	// Scopes to ask for. Default: none (the provider's default).
	Scope []string `yaml:"scope"`
	// The audience parameter some providers need (Auth0, Okta custom
	// servers). Default: none.
	Audience string `yaml:"audience"`
	// CA certificates (PEM) that verify the token endpoint. Default: the
	// system's roots.
	CAFile string `yaml:"ca_file" file:"true"`
	// SASL extensions sent with the token (KIP-342), such as Confluent
	// Cloud's logicalCluster and identityPoolId. Default: none.
	Extensions map[string]string `yaml:"extensions"`
	// The tokens' subject: the brokers make it the principal, User:<sub>
	// (sasl.oauthbearer.sub.claim.name), which ACL sync and fencing
	// leave alone as geomesh's own. Default: client_id, the subject Okta
	// and Auth0 give a client; Keycloak and Entra ID give an id: set it.
	Sub string `yaml:"subject"`
}

// Subject is the tokens' subject: Sub, else the client id.
func (o *OAuth) Subject() string {
	if o.Sub != "" {
		return o.Sub
	}
	return o.ClientID
}

// AWSIAM selects the AWS credentials that AWS_MSK_IAM signs with. They
// come from the standard AWS chain (environment, shared config and
// credentials files, web identity as on EKS, the ECS or EC2 instance
// role), refreshed before they expire. The signing region is the
// broker host's (b-1.<cluster>.kafka.<region>.amazonaws.com), else
// AWS_REGION.
type AWSIAM struct {
	// Named profile of the shared config files. Default: AWS_PROFILE, or
	// the default profile.
	Profile string `yaml:"profile"`
}

// Agent is one geomesh process in a region. The addresses are where it
// listens; peers in other regions dial them, so they must be reachable.
type Agent struct {
	// Agent id, unique in the mesh: lowercase letters, digits, '.', '_'
	// and '-', at most 63 characters, starting with a letter or digit. It
	// names the agent's memberlist node, its NATS server and its
	// control-plane store directory.
	ID string `yaml:"id" required:"true"`
	// host:port for memberlist gossip (TCP and UDP).
	Gossip string `yaml:"gossip" required:"true"`
	// host:port for the HTTP API, metrics and status page.
	API string `yaml:"api" required:"true"`
	// host:port of the embedded NATS node's cluster routes; required when the
	// control plane is embedded.
	Control string `yaml:"control"`
}

// API secures the agents' HTTP APIs. Reads (status, metrics, translate)
// and changes (failover, failback, key rotation, anything that is not a
// GET) take different bearer tokens, so that a dashboard's token cannot
// move traffic. /healthz and /readyz stay open for load balancers and
// process supervisors; they tell nothing but up or ready.
type API struct {
	// Bearer token for read endpoints (env:VARIABLE or file:/path); the
	// admin token works there too. Unset: reads need no token.
	ReadToken Secret `yaml:"read_token"`
	// Bearer token for mutating endpoints. Required when read_token is set;
	// unset (with read_token unset too): nothing needs a token.
	AdminToken Secret `yaml:"admin_token"`
	// Serve the API over TLS; absent means plain HTTP.
	TLS *APITLS `yaml:"tls"`
}

// Gossip secures memberlist traffic between agents with AES-GCM: a node
// without a matching key can neither join nor read anything. Keys rotate
// on a running mesh with `geomesh keys` (docs/security.md).
type Gossip struct {
	// Keys as env:VARIABLE or file:/path references to base64-encoded 16,
	// 24 or 32 byte keys (openssl rand -base64 32). The first encrypts,
	// all of them decrypt.
	Keys []Secret `yaml:"keys"`
}

// APITLS is the certificate each agent serves its API with. The files are
// read again when they change, so a renewed certificate needs no restart.
// Every agent reads the same paths on its own host.
type APITLS struct {
	// PEM certificate chain of the agent's API.
	CertFile string `yaml:"cert_file" required:"true" file:"true"`
	// PEM private key of cert_file.
	KeyFile string `yaml:"key_file" required:"true" file:"true"`
}

// Replication tunes the copy of records between clusters.
type Replication struct {
	// exactly-once or at-least-once. Default: exactly-once.
	Mode ReplicationMode `yaml:"mode"`
	// pause or dead-letter. Default: pause.
	OnError OnError `yaml:"on_error"`
	// Topic in the target cluster for records that cannot be written; required
	// with on_error: dead-letter.
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// off or follow: whether a copy is deleted when its source topic is.
	// Default: off.
	TopicDeletion TopicDeletion `yaml:"topic_deletion"`
	// Codec of the copies: source, none, gzip, snappy, lz4 or zstd.
	// source writes each flow's copies with the strongest codec its
	// source batches carry, so that the target stores about what the
	// source does. flows[].compression overrides it per flow. Default:
	// source.
	Compression Compression `yaml:"compression"`
}

// Failover decides when a region counts as down and who may promote another.
type Failover struct {
	// automatic or manual. Default: manual, so a mesh never moves traffic on
	// its own until an operator opts in.
	Mode FailoverMode `yaml:"mode"`
	// Timings of failure detection.
	Detection Detection `yaml:"detection"`
	// Regions whose agents vote on failovers.
	Quorum Quorum `yaml:"quorum"`
	// quarantine, replay or drop. Default: quarantine, which loses nothing.
	Stranded Stranded `yaml:"stranded"`
	// Commands and webhooks run on every decision (failover, switchover,
	// rejoin ...) by the agent whose proposal won, each with the event's JSON
	// on stdin or as the POST body.
	Hooks []Hook `yaml:"hooks"`
}

// Hook is one action run on every failover decision: exactly one of Exec
// and Webhook.
type Hook struct {
	// Command and arguments to run (no shell), with the event's JSON on stdin.
	Exec []string `yaml:"exec"`
	// http:// or https:// URL that receives the event's JSON in a POST.
	Webhook string `yaml:"webhook"`
	// How long the hook may take before it is killed or abandoned. At least
	// 100ms, at most 1h. Default: 10s.
	Timeout time.Duration `yaml:"timeout" min:"100ms" max:"1h"`
}

// Detection holds the timings that turn silence into a verdict. Gossip
// (memberlist SWIM with Lifeguard) suspects a silent agent; the Kafka probe
// checks the region's cluster directly; a region is down only when both
// agree for DownAfter.
//
// Gossip detection takes about
//
//	ProbeInterval + ProbeTimeout + SuspicionMult × max(1, log10(agents)) × ProbeInterval
//
// With the defaults (1s, 500ms, 4) and up to ten agents that is
// 1s + 0.5s + 4s = 5.5s; with 100 agents 1.5s + 8s = 9.5s. DownAfter must not
// be shorter than that, or the region would be declared down before gossip
// could possibly agree.
type Detection struct {
	// How often each agent probes a random peer. Lower detects sooner but
	// sends more packets across regions. Default: 1s (memberlist's WAN
	// profile uses 5s; regions on one continent answer well within 1s).
	// At least 10ms, at most 1m.
	ProbeInterval time.Duration `yaml:"probe_interval" min:"10ms" max:"1m"`
	// How long a probe waits for an ack before asking other agents to probe
	// indirectly. Must be below probe_interval and above the worst normal
	// round trip between regions. At least 5ms, at most 1m. Default: 500ms.
	ProbeTimeout time.Duration `yaml:"probe_timeout" min:"5ms" max:"1m"`
	// How many probe intervals (scaled by log10 of the agent count) a suspect
	// has to refute the suspicion before it is declared dead. Higher means
	// fewer false alarms on lossy links and slower detection. At least 1,
	// at most 100. Default: 4.
	SuspicionMult int `yaml:"suspicion_mult" min:"1" max:"100"`
	// How often each agent checks its own region's cluster (metadata request
	// to every broker). At least 100ms, at most 10m. Default: 2s.
	KafkaProbeInterval time.Duration `yaml:"kafka_probe_interval" min:"100ms" max:"10m"`
	// How long a region must look down (gossip dead and Kafka probes failing)
	// before a failover is proposed. At least the gossip detection time and
	// two Kafka probe intervals. At least 1s, at most 24h. Default: 10s.
	DownAfter time.Duration `yaml:"down_after" min:"1s" max:"24h"`
}

// GossipDetection is the time memberlist needs, with these settings and this
// many agents, to declare a silent agent dead. A result of more than 2⁶²ns
// (about 146 years, far past any bound the file allows) is the largest
// Duration, never a wrapped negative one.
func (d Detection) GossipDetection(agents int) time.Duration {
	scale := 1.0
	if l := math.Log10(float64(agents)); l > 1 {
		scale = l
	}
	suspicion := float64(d.SuspicionMult) * scale * float64(d.ProbeInterval)
	if total := float64(d.ProbeInterval) + float64(d.ProbeTimeout) + suspicion; !(total < 1<<62) {
		return time.Duration(math.MaxInt64)
	}
	return d.ProbeInterval + d.ProbeTimeout + time.Duration(suspicion)
}

// Quorum is the set of regions that vote. A decision needs a majority of
// them, so automatic failover needs at least three: with two, losing either
// one leaves no majority.
type Quorum struct {
	// Region names. Default: every region, witnesses included.
	Voters []string `yaml:"voters"`
}

// ControlPlane is where the mesh epoch and failover decisions are stored.
// Exactly one of Embedded and URLs is set.
type ControlPlane struct {
	// Each agent runs a NATS node listening on its control address and routing
	// to the others.
	Embedded bool `yaml:"embedded"`
	// An existing NATS cluster with JetStream, as nats://host:port or tls://host:port.
	URLs []string `yaml:"urls"`
	// TLS for the control plane. Embedded: mutual TLS on the cluster routes
	// between the agents' nodes (and on a node's client port), ca_file,
	// cert_file and key_file required. External: TLS to urls. Default: none,
	// for local meshes only.
	TLS *ControlPlaneTLS `yaml:"tls"`
	// Authentication to the control plane. Embedded: every route and every
	// client of a node must give user and password; needs tls, or a node
	// would send the password in the clear to whatever listens on a peer's
	// address. External: the agent's NATS user. Default: none, for local
	// meshes only.
	Credentials *ControlPlaneCredentials `yaml:"credentials"`
	// Embedded only: the directory of the mesh's control-plane state on
	// every agent host, an absolute path. Each agent's node keeps its
	// JetStream data in <state_dir>/<agent id> and locks it while the
	// agent runs, so a second agent given the same directory stops at
	// start. It must survive restarts: an agent that loses it rejoins
	// with no state and must catch up from its peers. Default:
	// /var/lib/geomesh/<mesh> for `geomesh agent` (the directory the
	// systemd unit of deploy/systemd keeps), $XDG_STATE_HOME/geomesh/<mesh>
	// (~/.local/state/geomesh/<mesh>) for `geomesh up`; `geomesh agent
	// --state-dir` overrides it.
	StateDir string `yaml:"state_dir"`
}

// ControlPlaneTLS is the certificate an agent shows the control plane and
// the CAs it trusts there. Certificate and key are read again when their
// files change, so a renewed certificate needs no restart. Every agent
// reads the same paths on its own host.
type ControlPlaneTLS struct {
	// PEM bundle of the CAs that sign the NATS certificates. Embedded:
	// required; a peer's route is accepted only with a certificate it
	// signed. External: default the system pool.
	CAFile string `yaml:"ca_file" file:"true"`
	// PEM certificate of this agent. Embedded: required, shown both to the
	// peers it dials and to those that dial it, so it must be valid for
	// server and client use and name the agent's control host (or
	// server_name). External: a client certificate for mutual TLS; needs
	// key_file.
	CertFile string `yaml:"cert_file" file:"true"`
	// PEM private key of cert_file.
	KeyFile string `yaml:"key_file" file:"true"`
	// Name expected in the certificates of peers (embedded) or servers
	// (external). Default: the host of each control address or url.
	ServerName string `yaml:"server_name"`
}

// ControlPlaneCredentials authenticate an agent to the control plane:
// user and password, or (external only) an nkey.
type ControlPlaneCredentials struct {
	// NATS user name. Embedded: the one user every route and client of the
	// nodes must give; every agent of the mesh uses it.
	User string `yaml:"user"`
	// Password of user: env:VARIABLE or file:/path. Required with user.
	Password Secret `yaml:"password"`
	// Embedded only: further passwords a node accepts on its routes but
	// never sends, so that the route password rotates without a moment
	// in which two nodes refuse each other: the new one before the switch,
	// the old one after it (docs/security.md). Default: none.
	AcceptPasswords []Secret `yaml:"accept_passwords"`
	// External only: file holding this agent's nkey seed (SU..., from
	// `nk -gen user`), which signs the server's challenge; the server lists
	// the public key. Each host can hold its own seed, so each agent has its
	// own identity. Not with user.
	NkeySeedFile string `yaml:"nkey_seed_file" file:"true"`
}

// FlowOverride replaces the topic selection of one flow the topology plans,
// to keep a topic in one region without changing the mesh-wide selection.
type FlowOverride struct {
	// Source region of the planned flow.
	Source string `yaml:"source" required:"true"`
	// Target region of the planned flow.
	Target string `yaml:"target" required:"true"`
	// Topics this flow copies instead of the ones the topology gives it.
	// An absent include or exclude is the mesh's (topics); "include: []"
	// copies nothing.
	Topics Selection `yaml:"topics" required:"true"`
	// Codec of this flow's copies, as replication.compression. Default:
	// replication.compression.
	Compression Compression `yaml:"compression"`
}

// NoRegion is the error for a region name that is not in the mesh,
// naming the regions that are.
func (m *Mesh) NoRegion(name string) error {
	names := make([]string, 0, len(m.Regions))
	for _, r := range m.Regions {
		names = append(names, r.Name)
	}
	return fmt.Errorf("no region %q in mesh %s (regions: %s)", name, m.Name, strings.Join(names, ", "))
}
