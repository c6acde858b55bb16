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
// # Issue 6's acceptance
//
// TestNetnsAcceptance runs the failover acceptance suite on one mesh: us-east
// (primary), eu-west (standby) and a witness, each in its namespace with
// its agent as a process and an embedded control-plane node, 40ms each
// way between every two of them for gossip (UDP relays), control plane
// and Kafka (TCP relays), and an application in a fourth namespace, as
// far from every region: a producer and a consumer group that follow the
// mesh with a client.Follower (200ms follow interval), dialling agents and
// brokers through the relays. Its detection settings (fastDetection)
// are probe_interval 300ms, probe_timeout 200ms, suspicion_mult 2,
// kafka_probe_interval 500ms and down_after 2s: gossip finds a silent
// agent dead in 1.1s, the Kafka probe's streak makes a region down 2s
// after its first failure (the last heartbeat copied is stale by then),
// and a failover is decided about 3s after a region dies: the control
// plane's election after the loss of its stream leader (2–3s after the
// last heartbeat, quorum.ElectionTimeoutMin) runs meanwhile. Its parts,
// in order:
//
//   - region-kill: SIGKILL of us-east's agent and broker. Detection is
//     the time from the kill to eu-west reporting itself primary at the
//     next epoch (polled every 200ms); RTO the time from the kill to
//     the first record eu-west acknowledges through the Follower, which
//     must be at most 15s. The region is restored, settles its stranded
//     records (quarantine into orders.stranded on eu-west) and rejoins as
//     a standby, and `geomesh failback` moves the primary back under
//     load. In the end the consumer must have read every acknowledged
//     record that was not stranded, each once in all regions together
//     (a failover resumes from the offsets the agents last synced, and
//     the consumer drops the copies of what it had read in us-east), and
//     orders.stranded must hold each reported stranded record once. It
//     prints detection, RTO (p50 and p99 over the kills) and the stranded
//     count.
//   - partitions: seeded schedules (SplitSchedule), each one of: the
//     primary region cut off, a one-way cut between the data regions, the
//     witness cut off, one agent SIGSTOPped for 8s. After each the mesh
//     settles (one unfenced primary, one unfenced standby); the roles the
//     agents reported must show no epoch with two primaries and no two
//     regions surely primary at once (watchEpochs records what a poll
//     proves, and a killed or stopped agent as acting as nothing).
//   - planned-switch (GEOMESH_E2E_SWITCH=1): `geomesh failover --to
//     eu-west` and `geomesh failback` under load; nothing lost, nothing
//     read twice, in any region.
//   - soak (GEOMESH_E2E_SOAK, a duration; first, on a mesh of its own
//     with the topology's default detection): links of 100ms each way
//     losing 2% of packets, one agent frozen for 3s every 30s in turn;
//     the epoch must stay 1 and the application lose and duplicate
//     nothing.
//
// GEOMESH_E2E_KILLS (default 1), GEOMESH_E2E_SCHEDULES (default 2) and
// GEOMESH_E2E_SEED (default the clock) set the counts; make test runs the
// defaults, one kill with its failback and two schedules, in about three
// minutes on a 2-core machine. make e2e runs 20 kills, 20 schedules, the
// planned switch and a 30m soak (KILLS, SCHEDULES, SOAK, SEED).
//
// # Running it
//
//	make chaos RUNS=20 LENGTH=2m SEED=42
//
// runs 20 schedules seeded 42, 43, ... of about two minutes of faults
// each; without SEED the clock picks it and the log prints it. A seed
// (GEOMESH_CHAOS_SEED) replays a run's faults, their order and hold times,
// and the producer's choices; how the processes interleave with them
// differs from run to run. make chaos then runs as many partition
// schedules of TestNetnsAcceptance (its partitions part alone, from the
// same seed: GEOMESH_E2E_SCHEDULES, GEOMESH_E2E_SEED), where the mesh
// fails over. Under make test, TestChaos runs 3 schedules of
// 20s, 115-150s in all on a 2-core machine, a third of it building the CLI
// and starting the brokers; the two failover tests take 25-60s each.
package chaos
