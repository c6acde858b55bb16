// Package topology reads the YAML file that describes a geomesh mesh, checks
// it, fills in defaults, and plans the flows the mirror engine runs.
//
// # The file
//
// A mesh file names the mesh, picks a topology kind, lists the regions and
// says what to replicate and how to fail over:
//
//	mesh: shop
//	topology:
//	  kind: active-passive        # active-passive | active-active | hub-spoke
//	  primary: us-east
//	  standby: [eu-west]
//	regions:
//	  - name: us-east
//	    kafka:
//	      bootstrap: [kafka-1.us-east.example.com:9093]
//	      tls: {ca_file: /etc/geomesh/ca.pem}
//	      sasl: {mechanism: SCRAM-SHA-512, username: geomesh, password: env:KAFKA_PASSWORD}
//	    agents:
//	      - {id: us-east-1, gossip: 10.1.0.10:7946, api: 10.1.0.10:8080, control: 10.1.0.10:6222}
//	  - name: eu-west
//	    kafka: {bootstrap: [kafka-1.eu-west.example.com:9093]}
//	    agents:
//	      - {id: eu-west-1, gossip: 10.2.0.10:7946, api: 10.2.0.10:8080, control: 10.2.0.10:6222}
//	  - name: witness             # no kafka: its agent only votes
//	    witness: true
//	    agents:
//	      - {id: witness-1, gossip: 10.3.0.10:7946, api: 10.3.0.10:8080, control: 10.3.0.10:6222}
//	topics: {include: ["orders.*", "payments"], exclude: [".*\\.internal"]}
//	failover: {mode: automatic}
//	api: {read_token: file:/etc/geomesh/read-token, admin_token: file:/etc/geomesh/admin-token}
//	control_plane:                # see Control plane below
//	  embedded: true
//	  tls: {ca_file: /etc/geomesh/nats-ca.pem, cert_file: /etc/geomesh/nats.pem, key_file: /etc/geomesh/nats-key.pem}
//
// Hub-spoke sets hub, spokes and optionally standby_hub and broadcast under
// topology instead of primary and standby. configs/examples holds a
// complete, runnable file for each kind, and configs/topology.schema.json
// lets editors complete and check files (it is generated from this package
// by `go test ./topology -update`, and a test fails if it drifts).
//
// Secrets are never written in the file: a password is "env:VARIABLE" or
// "file:/path", resolved with [Secret.Resolve] when the agent connects.
//
// # Control plane
//
// The NATS nodes that store the mesh epoch are embedded in the agents
// (control_plane: {embedded: true}, each node on its agent's control
// address) or an external cluster (urls). Without tls and credentials any
// server that knows the mesh name can route to an embedded node and have
// its writes acknowledged, so a mesh outside one host sets both:
//
//	control_plane:
//	  embedded: true
//	  tls:                          # mutual TLS on every route
//	    ca_file: /etc/geomesh/nats-ca.pem
//	    cert_file: /etc/geomesh/nats.pem
//	    key_file: /etc/geomesh/nats-key.pem
//	  credentials:                  # every route and client gives them
//	    user: geomesh
//	    password: file:/run/secrets/nats
//
// Embedded credentials need tls: a node sends its password to whatever
// listens on a peer's address. accept_passwords lets the route password
// rotate on a running mesh. With urls, tls verifies the servers (and
// shows a client certificate if cert_file is set) and credentials are
// user and password or nkey_seed_file. See [ControlPlaneTLS] and
// [ControlPlaneCredentials].
//
// An embedded node keeps the mesh state on its host, in
// <state_dir>/<agent id>, and the agent locks that directory while it
// runs. state_dir must be absolute and outlive restarts; by default it is
// /var/lib/geomesh/<mesh> under `geomesh agent` (the systemd unit's
// StateDirectory) and $XDG_STATE_HOME/geomesh/<mesh> under `geomesh up`.
//
// # Files that would do harm
//
// Besides what is malformed, Parse refuses what would run and hurt:
// two regions whose bootstrap lists share a broker (host:port, compared
// without case, spaces or a final dot), which would copy one cluster onto
// itself; a dead_letter_topic that a flow copies in or out of a target,
// that geomesh writes itself ([ReservedTopics]) or that is one of Kafka's
// (__…); and an include pattern that can only select topics no flow
// copies: Kafka's or geomesh's, or topics named after a region and a dot,
// which geomesh takes for that region's copies (a region named like the
// topics' prefix). A '.' in a pattern counts there as the dot it usually
// stands for. Agent ids, region and mesh names keep to the alphabets
// their fields state, since they name directories, nodes, subjects and
// topics.
//
// # Insecure settings
//
// A file that exposes the mesh to its network is refused unless it names
// the exposure under allow_insecure, and agents warn of each accepted one
// at every start ([Mesh.Insecure]): sasl-plain-without-tls,
// insecure-skip-verify-with-password, control-plane-without-tls and
// api-without-token (see [Insecure]). Addresses on loopback expose
// nothing, so local meshes need none.
//
// # YAML
//
// A topology file is one YAML 1.2 document, in UTF-8 (UTF-16 with a byte
// order mark is read too), of at most 4 MiB ([MaxFileSize]; a thousand
// regions take about 200 KB). [Load] reads regular files only: a
// directory, a named pipe, a device or a socket is refused before
// anything is read, so validate neither waits on a pipe nor reads
// /dev/zero until memory runs out.
//
//   - A %YAML 1.2 or 1.1 directive may open the file; other versions are
//     refused.
//   - Anchors and aliases (&tls, *tls) and merge keys (<<: *defaults, or
//     a list of mappings, the first winning) are supported; a key the
//     mapping sets itself wins over a merged one. What aliases repeat is
//     bounded: at most twice the nodes the file writes plus 10,000, so
//     that a small file cannot expand to millions of values (an "alias
//     bomb").
//   - Integers are decimal, hexadecimal (0x1f), octal (0o17) or binary
//     (0b101), with _ between digits if wished; a leading zero (010) is
//     refused, since YAML 1.1 reads it as octal and 1.2 as decimal.
//   - Booleans are true and false: yes, no, on and off are strings in
//     YAML 1.2, and refused where a boolean belongs.
//   - Durations are Go durations (500ms, 2s, 1m30s), at most about 292
//     years.
//   - Tags other than the core schema's (!!str, !!int, ...) are refused.
//   - Tabs may not indent; NUL, other control characters and bytes that
//     are not UTF-8 are refused where they stand.
//
// # Errors
//
// [Load] and [Parse] report every problem at once, as [Errors], each
// "file:line:col: message" with the position of the offending value, or of
// the key for an unknown or missing one. Decoding is strict: unknown keys,
// duplicate keys and values of the wrong type are errors, and one mistake
// in a block does not hide another. A YAML syntax error stops the parser,
// so it is reported alone, at the character where the parser gave up
// (yaml.v3 itself names only the line where the broken block began; see
// syntax.go). Messages quote at most the first 64 bytes of a long value,
// and say how long it was. Each kind of error has a fixture in
// testdata/invalid with its exact message pinned in a golden file.
//
// # Defaults
//
// Applied in one place, before validation:
//
//	key                                        default
//	topics.include                             [".*"]  every topic
//	groups.include                             [".*"]  every consumer group
//	flows[].topics.include, .exclude           the mesh's topics.include, .exclude
//	naming                                     prefix for active-active and hub-spoke, identity for active-passive
//	replication.mode                           exactly-once
//	replication.on_error                       pause
//	replication.compression                    source: each flow's copies take the codec of their source batches
//	flows[].compression                        replication.compression
//	failover.mode                              manual
//	failover.stranded                          quarantine
//	failover.detection.probe_interval          1s
//	failover.detection.probe_timeout           500ms
//	failover.detection.suspicion_mult          4
//	failover.detection.kafka_probe_interval    2s
//	failover.detection.down_after              10s
//	failover.quorum.voters                     every region, witnesses included
//	control_plane                              {embedded: true}
//	control_plane.tls                          none: plaintext (local meshes only)
//	control_plane.tls.ca_file                  external: the system pool
//	control_plane.tls.server_name              the host of each control address or url
//	control_plane.credentials                  none: any server or client is let in (local meshes only)
//	control_plane.credentials.accept_passwords none
//	control_plane.state_dir                    /var/lib/geomesh/<mesh> (geomesh agent), $XDG_STATE_HOME/geomesh/<mesh> (geomesh up)
//	topology.broadcast                         nothing is broadcast
//
// A default fills only what the file leaves out: "include: []" is written
// and selects nothing, at every level (see [Selection]).
//
// Gossip declares a silent agent dead after about probe_interval +
// probe_timeout + suspicion_mult × max(1, log10(agents)) × probe_interval:
// 5.5s with the defaults and up to ten agents. down_after must be at least
// that, and at least two kafka_probe_intervals; see [Detection]. A
// failover is proposed down_after after the first evidence, and written
// as soon as the control plane has a stream leader: at once unless the
// lost region's node led it, else once the survivors have elected one,
// 2–3s after its last heartbeat with embedded nodes (see package
// failover/quorum), which a down_after of 2s or more mostly hides.
//
// Every number has bounds, stated with its field and enforced by [Parse]:
//
//	key                                        bounds
//	failover.detection.probe_interval          10ms to 1m
//	failover.detection.probe_timeout           5ms to 1m, and below probe_interval
//	failover.detection.suspicion_mult          1 to 100
//	failover.detection.kafka_probe_interval    100ms to 10m
//	failover.detection.down_after              1s to 24h, and as above
//	failover.hooks[].timeout                   100ms to 1h
//
// Automatic failover needs at least three voting regions, so that a
// majority survives the loss of any one: two data regions need a witness.
//
// # Flows
//
// [Plan] turns a mesh into directed flows:
//
//   - active-passive: primary → each standby, "replicate".
//   - active-active: every ordered pair of data regions, "replicate".
//   - hub-spoke: each spoke → hub, "aggregate"; hub → each spoke,
//     "broadcast", identity names, only topics matching topology.broadcast;
//     hub → standby hub, "standby", identity names, every topic including
//     aggregated copies.
//
// The flows list of the file can replace the topic selection of single
// planned flows; it cannot add flows.
//
// [Flow.Selects] decides whether a flow copies a topic, and
// [Flow.TargetTopic] names the copy. Loops cannot form under prefix naming:
// a topic carrying any region's prefix is a copy and is never forwarded
// (except to a standby hub, which must hold everything), and a topic with
// the target's own prefix is never sent back to it. Kafka's internal topics
// (a leading "__") and geomesh's own (geomesh.*) are never selected. Under
// identity naming in an active-active mesh, loops are prevented by the
// provenance headers the mirror engine writes, not here.
package topology
