// Package client is the geomesh library for Go applications: a consumer
// that moves its consumer group between regions without skipping or
// repeating a record, a producer that writes only where the mesh takes
// writes, and a keyed view that resolves concurrent writes of one key in
// an active-active mesh. It wraps franz-go (kgo) and depends on the broker
// and topology packages only: translations come from the agents' HTTP API,
// and the provenance headers it reads are a wire contract (headers.go).
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
// explains the translation.
//
// # Producer
//
// NewProducer(mesh) writes to the primary (active-passive), the hub
// (hub-spoke) or the region given with Region (active-active) and refuses
// records for a topic the region does not take writes for, with an error
// wrapping ErrNotPrimary. Switch(ctx, region) follows a failover.
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
