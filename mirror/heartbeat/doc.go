// Package heartbeat measures end-to-end replication latency between
// regions.
//
// Each agent runs a [Writer] that appends a beat to the topic
// geomesh.heartbeats of its own region's cluster every second: key = the
// region name, value = [Beat] encoded by [Encode]. The mirror engine copies
// that topic like any other, so in a target region the copies of region
// R's beats arrive with the same delay as R's data. A reader there decodes
// each copy with [Decode]; [Latency] (now minus the beat's timestamp) is
// the replication latency from R. A [Reader] consumes the copies
// (committed records only, from a little before the end) into a
// [Tracker], which keeps the newest beat of every origin region so that a
// status page or alert can show the age of each region's data: it grows
// without bound when replication stalls, even though no record arrives to
// say so.
//
// Latency subtracts timestamps of two machines' clocks, so it includes
// their skew: with NTP that is a few milliseconds, small next to WAN
// replication delays, but a negative latency means a clock is wrong.
//
// # Encoding
//
// A beat is a few dozen bytes, versioned so readers of a mixed-version
// mesh reject, rather than misread, a newer layout:
//
//	byte     version (1)
//	uvarint  len(region), region bytes
//	uvarint  len(agent), agent bytes
//	varint   unix nanoseconds of the beat
//	uvarint  sequence (1 for an agent's first beat after start)
//
// The sequence lets a reader see lost beats (a gap) and agent restarts
// (the sequence falls back to 1).
//
// # Topic
//
// The Writer creates geomesh.heartbeats when it is missing, with one
// partition (beats of one region stay in order), cleanup.policy=delete and
// retention.ms of one hour: beats are worthless after minutes, and an
// hour lets an operator look back at an incident with a console consumer.
package heartbeat
