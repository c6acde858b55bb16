//go:build linux

package e2e

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestRollingRestartSIGTERM restarts the two agents of a region one at a
// time with SIGTERM while records stream in, as an operator rolls a
// release: each agent stops within 10 s (finishing or aborting its open
// transaction and leaving the gossip pool), the other takes its shards,
// and the target ends with every committed record exactly once.
func TestRollingRestartSIGTERM(t *testing.T) {
	const topic = "rolling-orders"
	rng := rand.New(rand.NewPCG(seed(t), 4))
	mesh := splitMesh(t, "e2e-rolling", "rolling-east", "rolling-west", topic, 6)
	path := meshFile(t, mesh, []region{{"rolling-east", clusters[1], 1}, {"rolling-west", clusters[2], 2}}, `
topology: {kind: active-passive, primary: rolling-east, standby: [rolling-west]}
topics: {include: ["`+topic+`"]}
`)
	src, tgt := clusters[1], clusters[2]
	createTopic(t, src, topic, 6, nil)
	st := startStream(t, src, "rolling-east", topic, 6, rng.Uint64(), 100*time.Millisecond)

	a := newAgentProc(t, path, "rolling-west", "rolling-west-1")
	b := newAgentProc(t, path, "rolling-west", "rolling-west-2")
	a.start()
	b.start()
	before := waitSplit(t, a, b, dataShards(topic, 6))
	all := append(keys(before[a.name]), keys(before[b.name])...)
	slices.Sort(all)

	for round, pair := range [][2]*agentProc{{a, b}, {b, a}, {a, b}} {
		stopping, staying := pair[0], pair[1]
		waitRecords(t, staying, nil, 300)
		begin := time.Now()
		if err := stopping.terminate(10 * time.Second); err != nil {
			t.Fatalf("round %d: %s: %v", round, stopping.name, err)
		}
		stopped := time.Since(begin)
		moved := waitOwns(t, staying, all, begin, 10*time.Second, 30*time.Second)
		t.Logf("round %d: %s stopped %s after SIGTERM; %s owned all shards %s after it",
			round, stopping.name, stopped.Round(time.Millisecond), staying.name, moved.owned.Round(time.Millisecond))
		stopping.start()
		// Back to two agents sharing the shards before the next one goes.
		waitSplit(t, a, b, all)
	}
	st.stop(t)
	n := st.verify(t, tgt, "rolling-east,rolling-west", 90*time.Second)
	t.Logf("target holds each of the %d committed records exactly once; source: %s", n, st)
}
