// Package e2e holds end-to-end tests of geomesh against real Apache Kafka:
// agents replicating between KRaft clusters that the test/kafka harness
// starts from Maven Central jars, under each topology kind, with crashes,
// takeovers and bad data.
package e2e
