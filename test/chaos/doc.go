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
//     record with its offset: acknowledged if its transaction committed,
//     aborted if it surely did not (an abort was asked, or a fault came
//     before the commit), unresolved if EndTransaction failed on the
//     commit, so that only us-east's log can tell;
//   - the eu-west agent runs as a process in eu-west's namespace and
//     copies the topic exactly once;
//   - a read_committed consumer in eu-west records every record it reads;
//   - the agent's role and epoch are recorded from its writer journal
//     (the "role changed" lines of its log, agent/journal.go), if any;
//   - Schedule(seed, length) draws the faults: SIGKILL and restart of the
//     agent, SIGSTOP and SIGCONT, a partition between the regions, a slow
//     and lossy link (150ms ±20ms, 1% loss), a kill and restart of either
//     region's broker; each held for a random time, then undone.
//
// When the schedule ends the producer stops and the run waits (up to 60s
// each) until no transaction is open in us-east, until the agent's
// /v1/status shows every partition copied to us-east's end offset with
// lag 0 (90s), and until no transaction is open in eu-west. Then it reads
// the topic in both regions with read_committed from the log start to
// the end offsets, and eu-west's other topics (but those of earlier runs)
// for records of this run: the ground truth. The consumer reads on to
// eu-west's end offsets, so a late duplicate or aborted copy is read too.
// The checker (package test/chaos/history, a mirror from us-east's topic
// to eu-west's) must find nothing: every record us-east committed in
// eu-west once, in its partition and order, and read there; nothing in
// eu-west that us-east did not commit (no phantom, no aborted or
// unresolved-and-aborted copy), nowhere else; every acknowledged record
// in us-east's log; no read the final log contradicts. A run must also
// acknowledge and read in eu-west at least 25 records a second of faults
// (500 in 20s; a healthy run has thousands) and have at least 60% of the
// records it sent acknowledged (about 7 in 8 in a healthy run, under half
// when most transactions fail). A failed run saves its history to
// $TMPDIR/geomesh-chaos-SEED.jsonl and logs the checkhistory command that
// re-checks it.
//
// That mesh names a control plane where nothing listens, so no failover
// is decided: these runs prove the exactly-once copy under faults.
//
// # Failover across namespaces
//
// TestNetnsFailover runs the decisions: us-east (primary), eu-west
// (standby) and a witness, each agent a process in its region's namespace
// with an embedded control-plane node, gossip and control traffic over
// 10ms links. The clusters run an authorizer (kafkatest.Authorizer): the
// agents and the test's consumers are super users on the plaintext
// listener, the application writes as a user that the write fence's
// DENYs refuse, so eu-west must refuse it while standby. Isolating
// us-east (cut from both others) must fence it and promote eu-west at
// epoch 2 within failoverBound (about 9s with down_after 3s), us-east's
// cluster refusing writes before eu-west's accepts them; eu-west then
// takes writes, and once the cut heals us-east rejoins as a standby,
// refuses the application and receives the copies. TestNetnsWitnessCutOff
// cuts the witness off instead: the data regions still make a majority,
// so no region is fenced, no write fence changes, no epoch passes 1 and
// replication goes on.
//
// The other topology kinds fail over in namespaces too (kinds_test.go).
// TestNetnsActiveActiveKill kills one of two active regions (agent and
// broker, SIGKILL) with a witness: eu-west must evacuate it within
// failoverBound and keep taking writes, and once us-east is restored it
// must receive what eu-west took meanwhile and send on what it took
// before it died; consumers in both regions must read every acknowledged
// record once (prefix naming). TestNetnsHubKill kills the hub of a
// hub-spoke mesh: the standby hub must take the role within
// failoverBound and hold each of the spoke's records once, those written
// before the kill (which it had through the standby flow) and after.
//
// Roles and fences come from the agents' writer journals, not from
// polling: each agent logs, with its own clock, one line per change of
// its region's role, epoch and self-fence, and one per change of what a
// cluster does with the applications' writes as a fence pass confirmed
// it (agent/journal.go). watchEpochs reads the log files as they grow,
// so a change shorter than any poll interval, or just before a SIGKILL,
// is in the history all the same. The checker judges the roles (no epoch
// with two primaries, no two regions surely primary at once) and the
// fences: no two clusters accept writes at once (double-writer), where a
// killed or frozen agent's cluster keeps the fence it had and only a
// confirmed refusal, or the test killing its brokers, ends a region's
// time as a writer.
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
//     the time from the kill to eu-west's agent applying its promotion
//     at the next epoch (its journal); RTO the time from the kill to
//     the first record eu-west acknowledges through the Follower, which
//     must be at most 15s. The region is restored, settles its stranded
//     records (quarantine into orders.stranded on eu-west) and rejoins as
//     a standby, and `geomesh failback` moves the primary back under
//     load. In the end the consumer must have read every acknowledged
//     record that was not stranded, each once in all regions together
//     (a failover resumes from the offsets the agents last synced, and
//     the consumer drops the copies of what it had read in us-east), and
//     orders.stranded must hold each reported stranded record once.
//     Once eu-west has copied us-east's orders to its end, orders and
//     orders.stranded in both regions are read to their end offsets and
//     judged as ground truth, both ways: what us-east took is in eu-west's
//     orders or quarantined in its orders.stranded, once, and what eu-west
//     took while primary is in us-east's orders. It
//     prints detection, RTO (p50 and p99 over the kills) and the stranded
//     count. Its history records roles, not fences: when us-east's broker
//     returns it accepts writes, its fence open as it was when it died,
//     until the new primary's write gate fences it (nobody can fence a
//     cluster that does not answer), and that window is held to
//     returnFenceBound (2s) instead; eu-west must accept writes only once
//     us-east's broker is dead.
//   - partitions: seeded schedules (SplitSchedule), each one of: the
//     primary region cut off, a one-way cut between the data regions, the
//     witness cut off, one agent SIGSTOPped for 8s. After each the mesh
//     settles (one unfenced primary, one unfenced standby) and the
//     schedule is held to what it promises (outcome in split_test.go),
//     from the agents' journals: a cut-off primary's standby is promoted
//     within promotionBound (8s, below the shortest hold) and the cut-off
//     primary's cluster refuses writes before the new primary's accepts
//     them; the witness cut off or the standby's or witness's agent
//     frozen change nothing, no epoch, no self-fence, no write fence; a
//     one-way cut or the primary's agent frozen fail nothing over and the
//     standby never accepts writes, while the primary may fence itself
//     and must accept writes again within resumeBound (15s) of the end.
//     All the events go into one history: no epoch with two primaries,
//     no two regions surely primary at once, no two clusters accepting
//     writes at once. Each schedule logs its figures (promotion, the
//     old primary's self-fence and refusal, the new primary's
//     acceptance), and the part ends with a summary per kind.
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
