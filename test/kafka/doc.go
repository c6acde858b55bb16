// Package kafkatest runs real Apache Kafka clusters for geomesh's
// integration, end-to-end and chaos tests. Embedded fakes (kfake) are for
// unit tests; any claim about how Kafka behaves is proven here.
//
// # Using it
//
// In a test:
//
//	c := kafkatest.Start(t, kafkatest.Options{Brokers: 3})
//	testkit.CreateTopic(t, testkit.Admin(t, c.ClientOptions()...), 3, -1, nil, "orders")
//	cl := testkit.Client(t, append(c.ClientOptions(), kgo.ConsumeTopics("orders"))...)
//
// Start returns a running cluster and registers cleanup that stops it;
// if the test failed, cleanup first logs the last 200 lines of each
// node's log. A JVM start costs seconds, so a package whose tests do not
// restart nodes should share one cluster from TestMain, with New, Start
// and Close (see main_test.go here), giving each test its own topics.
// The helpers that work on any cluster, this one or kfake (a client, a
// topic, records written and read back, free and refused loopback
// addresses), are internal/testkit's.
//
// StopBroker, KillBroker and StartBroker take a node down cleanly or as a
// crash and bring it back with the same directory and ports, for rolling
// restarts and chaos tests. StartBroker returns once the node is back in
// every ISR, so the next node can go down at once.
//
// On this project's 2-core test machine a 1-node cluster starts in about
// 3s and a 3-node one in 6-7s; Close takes about 2s.
//
// # Where Kafka comes from
//
// Kafka is not installed: pom.xml (the only place the Kafka version is
// pinned) lists the Kafka jars on Maven Central, and fetch.sh copies them
// with their dependencies into $GEOMESH_KAFKA_HOME/libs, by default
// ~/.cache/geomesh/kafka-<version>. Start runs fetch.sh itself when the
// jars are missing, under a file lock so that test binaries running in
// parallel fetch once; that takes under 10s with a reachable Maven
// Central, and nothing after. Java 17+ and Maven are needed at test time
// only. Version reports the version of the jars in use. The jars include
// Kafka's command-line tools (kafka-tools); Libs names their directory,
// for tests that run a tool as an operator would.
//
// # What runs
//
// Each node is one JVM (java -cp 'libs/*' kafka.Kafka) in KRaft combined
// mode: broker and controller in one process, every node a voter in a
// static controller.quorum.voters, node i with node.id i. Ports are free
// loopback ports picked at Start and kept for the cluster's life; if
// another process takes one first, Start retries with new ports. Storage
// is formatted with a random cluster id. Each node lives in
// <tmp>/kafkatest-*/node-<i>/ with its server.properties, data/ and
// server.log, which holds the log4j output and anything the JVM printed;
// Close removes it all. Options documents the test defaults (small heap,
// replication sized to the node count, fast fencing) and how to override
// them.
//
// # Clusters in a network namespace
//
// Multi-region tests (test/netns) run each region's cluster in a network
// namespace of its own: Options.CommandPrefix starts every JVM through
// "ip netns exec NS", Options.Host makes the nodes listen on and advertise
// the namespace's address instead of 127.0.0.1, and Options.Dial lets the
// harness, and clients built from ClientOptions, reach them from the
// test's namespace. Ports are still picked on the test's loopback; a
// fresh namespace has every port free.
//
// # Secured clusters
//
// Options.Security starts a cluster as production runs it: SASL_SSL
// (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and mTLS client listeners with a
// CA and broker certificate generated in Go (PEM key and trust stores),
// SCRAM users created when storage is formatted, SSL with client
// certificates between nodes, and StandardAuthorizer refusing whatever no
// ACL allows. ClientOptions then connect as the harness's super user;
// CAFile, ClientCert, MTLSBootstrap and AdminPassword give tests what
// they need to connect as someone else. Security.Kerberos adds a SASL_SSL
// listener for GSSAPI (KerberosBootstrap) against an MIT KDC that
// StartKDC runs for one test, or NewKDC for a TestMain whose clusters
// share it.
//
// Options.Authorizer instead keeps the plaintext listeners, everyone on
// them a super user, and adds a SASL_PLAINTEXT listener (PLAIN) whose
// users StandardAuthorizer judges with allow.everyone.if.no.acl.found:
// ACLs take effect inside network namespaces, where TLS for 127.0.0.1
// does not fit. UserOptions connects as one of them (SASLBootstrap).
//
// JVMs run in their own process group and are killed if the test binary
// dies without cleaning up (for example on a -timeout panic), so no run
// leaves Kafka behind.
package kafkatest
