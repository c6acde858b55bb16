// Package demo is `geomesh demo`. It is not product code: it starts an
// example mesh in this process (package local, on free ports), drives it
// as an operator and an application would, and scores what it sees. The
// agents' own code knows nothing of it.
//
// [Run] produces records into every source region, reads every region the
// plan sends them to with read_committed consumers started before the
// first record, and checks each copy: lost, duplicated, out of order, and
// the replication latency. Where flows select consumer groups, it commits
// a group in the middle of every source partition and checks that group
// offset sync moves it onto the copies of those records.
//
// [RunFailover] then stops one region's agent and cluster and waits for
// what the topology promises: a decision that hands the region's role to
// another region, or, where nobody takes it over, the survivors' verdict
// and no decision. A watch samples what every running agent acts on and
// judges split brain for the topology kind (failover/machine) from before
// the loss to the end. When the region is an active-passive primary, an
// application (a producer and a consumer group following the mesh through
// the client library) runs throughout; the region returns, settles what
// it stranded, and fails back through its survivor's API, as `geomesh
// failback` would.
//
// It reads the agents through their exported methods and HTTP API only,
// and waits for states it can ask for (pollUntil, with deadlines), never
// for a fixed time.
package demo
