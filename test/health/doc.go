// Package health proves broker/health against real Apache Kafka: a
// stopped broker shows as under-replicated partitions on /metrics and
// clears after its restart, and a consumer group that stops committing
// goes STALLED, then STOPPED once its consumer leaves. It has tests only.
package health
