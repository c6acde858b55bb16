// Package chaos runs seeded fault schedules against geomesh on real Kafka
// and judges each run with the history checker (package
// test/chaos/history).
//
// # A run
//
// TestChaos builds the geomesh CLI and puts two regions, us-east
// (primary) and eu-west (standby), in network namespaces of their own
// (test/netns) with a 10ms WAN link between them and a single-node KRaft
// cluster in each (test/kafka). Each run, on a topic of its own:
//
//   - a transactional producer in us-east writes transactions of 5-30
//     records over 3 partitions, one in eight aborted, and records every
//     record, acknowledged (committed) or not, with its offset;
//   - the eu-west agent runs as a process in eu-west's namespace and
//     copies the topic exactly once;
//   - a read_committed consumer in eu-west records every record it reads;
//   - the agent's role and epoch are recorded from /v1/status when it
//     reports one;
//   - Schedule(seed, length) draws the faults: SIGKILL and restart of the
//     agent, SIGSTOP and SIGCONT, a partition between the regions, a slow
//     and lossy link (150ms ±20ms, 1% loss), a kill and restart of either
//     region's broker; each held for a random time, then undone.
//
// When the schedule ends the producer stops, the consumer gets up to 90s
// to catch up, and the checker must find nothing: every acknowledged
// record read in eu-west, none twice, each partition in order, no aborted
// record read. A failed run saves its history to
// $TMPDIR/geomesh-chaos-SEED.jsonl and logs the checkhistory command that
// re-checks it.
//
// That mesh has no reachable control plane, so no failover is decided:
// these runs prove the exactly-once copy under faults.
//
// # Failover across namespaces
//
// TestNetnsFailover runs the decisions: us-east (primary), eu-west
// (standby) and a witness, each agent a process in its region's namespace
// with an embedded control-plane node, gossip and control traffic over
// 10ms links. Isolating us-east (cut from both others) must fence it and
// promote eu-west at epoch 2 (about 9s with down_after 3s); eu-west then
// takes writes, and once the cut heals us-east rejoins as a standby and
// receives them. The roles every agent reported go into the history, so
// the checker also proves that no epoch had two primaries and that
// us-east stopped acting as primary before eu-west started.
// TestNetnsWitnessCutOff cuts the witness off instead: the data regions
// still make a majority, so no region is fenced, no epoch passes 1 and
// replication goes on.
//
// # Running it
//
//	make chaos RUNS=20 LENGTH=2m SEED=42
//
// runs 20 schedules seeded 42, 43, ... of about two minutes of faults
// each; without SEED the clock picks it and the log prints it. A seed
// (GEOMESH_CHAOS_SEED) replays a run's faults, their order and hold times,
// and the producer's choices; how the processes interleave with them
// differs from run to run. Under make test, TestChaos runs 3 schedules of
// 20s, 115-150s in all on a 2-core machine, a third of it building the CLI
// and starting the brokers; the two failover tests take 25-60s each.
package chaos
