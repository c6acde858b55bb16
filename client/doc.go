// Package client is the geomesh library for Go applications: a consumer
// that moves its consumer group between regions without skipping or
// repeating a record, a producer that writes only where the mesh takes
// writes, and a keyed view that resolves concurrent writes of one key in
// an active-active mesh. It wraps franz-go (kgo) and depends on the api,
// broker and topology packages only: the mesh state and translations come
// from the agents' HTTP API (package api), and the provenance headers it
// reads are a wire contract (headers.go). The follow decision is the
// table in testdata/decide.json, which the Java and Python libraries
// under clients/ run too.
//
// # Consumer
//
// NewConsumer(mesh, group, Topics("orders")) reads the group's topics in
// one region: their origin region by default (the primary of an
// active-passive mesh). Topic names follow the mesh's flows: in another
// region the consumer reads the copy, "orders" under identity naming,
// "<origin>.orders" under prefix naming.
//
// Switch(ctx, region) moves the group: final commit in the old region,
// exact translation by the new region's agent (GET /v1/translate, the same
// mapping as `geomesh translate`), commit in the new region, join. When
// the old region is gone, the group resumes from the offsets the agents
// synced (group offset sync, every second): no record skipped, but those
// consumed after the last synced commit are read again. docs/offsets.md
// explains the translation, and the two cases the consumer settles
// itself in an active-passive mesh: a partition whose last record read
// is a copy of a record of the region it moves to resumes right after
// that original (a switch back), and where the agent answers "end" the
// group resumes right after the last copy, so that what the new primary
// took before the consumer arrived is read too.
//
// # Producer
//
// NewProducer(mesh) writes to the primary (active-passive), the hub
// (hub-spoke) or the region given with Region (active-active) and refuses
// records for a topic the region does not take writes for, with an error
// wrapping ErrNotPrimary. Switch(ctx, region) follows a failover.
//
// # Following the mesh
//
// NewFollower(mesh, []Followed{producer, consumer}) makes the clients
// follow the failover decisions by themselves. Every FollowInterval
// (default 500ms) it reads the mesh state (epoch, role per region,
// planned switch in progress) from the agents' GET /v1/failover, asking
// them in file order with the api section's TLS and read token, skipping
// an agent that does not answer within 2s, and preferring one that
// reaches the control plane; a state older than the one followed is
// ignored. Then, for each client (decide, a pure function):
//
//	switchover-started   a producer writing to the switch's From pauses:
//	                     its records in flight are answered, and Produce
//	                     waits until the switch completes or aborts (a
//	                     record whose ctx ends first fails with ErrPaused)
//	switchover           clients of the old primary (hub) Switch to the new
//	                     one, consumers with translated offsets; the
//	                     producer resumes there
//	switchover-aborted   the producer resumes where it was
//	failover             clients of the lost primary (hub) Switch to the
//	                     new one; a producer waits at most 1s for its
//	                     records in flight to the lost region, which fail
//	                     after that (ErrClientClosed)
//	evacuate             active-active: a region's clients Switch to the
//	                     region that serves them, and back on failback
//
// After a flip a producer resumes only once the consumers of the same
// Follower have switched (at most 30s): their translated offsets are
// exact about the copies in the new primary, but records written there
// before a consumer arrives can be counted as read (see docs/offsets.md),
// so following producers and consumers from one Follower is the safe
// layout. A consumer started in a standby or a spoke, and a producer of a
// spoke, stay where they are. Epoch reports the epoch followed; OnEvent gets
// every transition (also logged). A switch that fails (the translation
// waits longer than SwitchTimeout) is retried on the next read.
//
// The follower polls the agents' API rather than subscribing to the NATS
// subject geomesh.<mesh>.events: the control plane belongs to the agents
// (embedded nodes listen on their route addresses only, and the topology
// file names no client address or credentials for it), while every
// application that moves consumers already reaches the agents' API. A
// poll also sees a state that an event published during a disconnection
// would have missed. The cost is latency: a producer pauses up to one
// interval after a switch starts. The agents flip only once replication
// has drained past a heartbeat written at least the machine's PauseGrace
// (2s) after the start, so what a producer wrote before it saw the pause
// is copied before the flip. Keep FollowInterval plus one request well
// below PauseGrace.
//
// # Keyed view
//
// NewKeyedView(mesh, region) keeps the last-writer-wins version of every
// key, by origin timestamp, then a fixed region order, then origin
// position, from the provenance headers; records carrying the same
// HeaderRecordID are reported as duplicates within a bounded window.
// docs/active-active.md has the rules and their limits.
//
// # Options and defaults
//
// Options are typed: Opt goes to both NewConsumer and NewProducer,
// ConsumerOpt, ProducerOpt and ViewOpt to one each. Every option's
// documentation names its default; defaults() in options.go sets them all.
package client
