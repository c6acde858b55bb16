// Package broker turns a region's Kafka connection settings from the
// topology file into franz-go clients, offers the few admin helpers the
// rest of geomesh shares, and runs embedded in-process clusters for local
// mode.
//
// # Connections
//
// [Options] maps a [topology.Kafka] to kgo options: seed brokers, TLS (own
// CA, server name, client certificate for mTLS) and SASL (PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512). Secrets are resolved when the client
// authenticates, not when the options are built, so a rotated password
// file is picked up on the next connection; client certificates are
// re-read when their files change for the same reason.
//
// [Explain] turns a refused credential deep inside a franz-go error into
// an [*AuthError] naming the region, the mechanism and user or the
// certificate, and where the secret comes from, never the secret itself.
// A GSSAPI login that the KDC or the keytab fails, before any broker sees
// a credential, is explained the same way, naming the keytab.
//
// # Embedded clusters
//
// [Embedded] wraps franz-go's kfake cluster and binds it to the exact
// loopback address that the topology file names, so that tools outside
// the process (kcat, a Java client, another geomesh) can reach it. It
// serves local mode, the demo and fast unit tests; Kafka behaviour is
// proven against real Apache Kafka by the test/kafka harness.
package broker
