// Package testkit holds the helpers that the module's tests share, one
// copy each, so that a fix or a clearer failure message reaches every
// test: loopback addresses that are free, that refuse connections or
// that accept them and never answer, a file in the test's temporary
// directory, a logger for verbose runs, an in-process Kafka (kfake) or
// NATS server and a kfake that refuses a group's offset commits, a Kafka
// client or a factory of them, a topic, records written and read back,
// the geomesh binary for tests that run it as a process, and a
// testing.TB that records a helper's failure for the helpers' own tests.
//
// Every helper that can fail takes the test's testing.TB, marks itself a
// helper and stops the test with a message that names what failed: the
// topic, the partition, the address. Call them from the test's goroutine; a
// goroutine of the test's own reports its errors to it instead
// (internal/testhygiene checks this).
//
// The helpers that speak to Kafka take what reaches the cluster from the
// caller: a *kgo.Client, a *kadm.Client, or client options —
// kgo.SeedBrokers(FakeCluster(t).ListenAddrs()...) for kfake, a
// kafkatest Cluster's ClientOptions() for real Kafka. testkit imports no
// package of the module but internal/loopback, and never test/kafka, so
// that unit tests on kfake use it without the harness, and the harness
// builds on it.
//
// Waiting for a state is internal/poll's job.
package testkit
