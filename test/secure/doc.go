// Package secure holds geomesh's tests against secured Apache Kafka:
// clusters started by the test/kafka harness with SASL_SSL and mTLS
// listeners and StandardAuthorizer, reached with every mechanism the
// topology offers, replicated between, with their ACLs mirrored.
package secure
