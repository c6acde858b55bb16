package client_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/client"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSwitchOldRegionGone: when the old region is gone, Switch resumes from
// the offsets synced to the new region. Two bare kfake clusters stand in
// for a mesh: the standby holds the same records, and the test commits
// there what an agent's group sync would have. Nothing is skipped; what
// was consumed after the last synced commit is read again.
func TestSwitchOldRegionGone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cls []*kfake.Cluster
	for range 2 {
		c := testkit.FakeCluster(t, kfake.SeedTopics(1, "orders"))
		cls = append(cls, c)
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("orders"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		cl.Close()
	}
	m, err := topology.Parse("gone.yaml", refusing(t, fmt.Sprintf(`
mesh: gone
topology: {kind: active-passive, primary: us, standby: [eu]}
naming: identity
regions:
  - {name: us, kafka: {bootstrap: [%q]}, agents: [{id: us-1, gossip: NOWHERE, api: NOWHERE}]}
  - {name: eu, kafka: {bootstrap: [%q]}, agents: [{id: eu-1, gossip: NOWHERE, api: NOWHERE}]}
control_plane: {urls: ["nats://NOWHERE"]}
`, cls[0].ListenAddrs()[0], cls[1].ListenAddrs()[0])))
	if err != nil {
		t.Fatal(err)
	}
	cons, err := client.NewConsumer(m, "app", client.Topics("orders"), client.CommitTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	read := func(n int) []string {
		t.Helper()
		var out []string
		for len(out) < n {
			rs, err := cons.Poll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				out = append(out, string(r.Value))
			}
		}
		return out
	}
	if got := read(100); len(got) != 100 {
		t.Fatalf("read %d records in us", len(got))
	}
	// The agent of eu synced the group's commit at 60 before us failed.
	adm := testkit.Admin(t, kgo.SeedBrokers(cls[1].ListenAddrs()...))
	synced := kadm.Offsets{}
	synced.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 60, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "app", synced); err != nil || resp.Error() != nil {
		t.Fatalf("commit on eu: %v %v", err, resp.Error())
	}
	cls[0].Close()
	start := time.Now()
	if err := cons.Switch(ctx, "eu"); err != nil {
		t.Fatal(err)
	}
	t.Logf("switch with us gone took %s", time.Since(start).Round(time.Millisecond))
	got := read(40)
	if len(got) != 40 || got[0] != "60" || got[39] != "99" {
		t.Fatalf("read %d records in eu (%v), want 60..99", len(got), got)
	}
}

// refusing replaces each NOWHERE in a topology with an address of its own
// that refuses connections (testkit.RefusedAddr): agents that are gone
// or never asked, clusters never reached, and the control plane, which a
// client never reads but a topology must name.
func refusing(t testing.TB, yaml string) []byte {
	t.Helper()
	for strings.Contains(yaml, "NOWHERE") {
		yaml = strings.Replace(yaml, "NOWHERE", testkit.RefusedAddr(t), 1)
	}
	return []byte(yaml)
}

// TestSwitchAfterLastCopy: the new primary of an active-passive mesh took
// records of its own before the consumer moved; the agent answers "end"
// (the last stable offset, past them), and the consumer resumes right
// after the last copy from the old region instead, so it reads them.
func TestSwitchAfterLastCopy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cls []*kfake.Cluster
	for range 2 {
		c := testkit.FakeCluster(t, kfake.SeedTopics(1, "orders"))
		cls = append(cls, c)
	}
	// us took 0..9, all consumed; eu holds their copies, then 10..14 of
	// its own, written after the flip.
	src := testkit.Client(t, kgo.SeedBrokers(cls[0].ListenAddrs()...), kgo.DefaultProduceTopic("orders"))
	dst := testkit.Client(t, kgo.SeedBrokers(cls[1].ListenAddrs()...), kgo.DefaultProduceTopic("orders"))
	for i := range 15 {
		r := &kgo.Record{Value: []byte(strconv.Itoa(i))}
		if i < 10 {
			if err := src.ProduceSync(ctx, &kgo.Record{Value: r.Value}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			r.Headers = []kgo.RecordHeader{{Key: client.HeaderOriginRegion, Value: []byte("us")}, {Key: client.HeaderOriginTopic, Value: []byte("orders")},
				{Key: client.HeaderOriginPartition, Value: []byte("0")}, {Key: client.HeaderOriginOffset, Value: []byte(strconv.Itoa(i))}}
		}
		if err := dst.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	eu := newFakeAgent(t)
	eu.from = testkit.Client(t, kgo.SeedBrokers(cls[0].ListenAddrs()...))
	eu.state.Store(apState(3, "switchover", "eu", "us", nil))
	eu.end = 15 // the agent's "end": eu's last stable offset
	m, err := topology.Parse("end.yaml", refusing(t, fmt.Sprintf(`
mesh: end
topology: {kind: active-passive, primary: us, standby: [eu]}
regions:
  - {name: us, kafka: {bootstrap: [%q]}, agents: [{id: us-1, gossip: NOWHERE, api: NOWHERE}]}
  - {name: eu, kafka: {bootstrap: [%q]}, agents: [{id: eu-1, gossip: NOWHERE, api: %q}]}
control_plane: {urls: ["nats://NOWHERE"]}
`, cls[0].ListenAddrs()[0], cls[1].ListenAddrs()[0], eu.addr())))
	if err != nil {
		t.Fatal(err)
	}
	cons, err := client.NewConsumer(m, "app", client.Topics("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	for len(got) < 10 {
		rs, err := cons.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			got = append(got, string(r.Value))
		}
	}
	if err := cons.Switch(ctx, "eu"); err != nil {
		t.Fatal(err)
	}
	for len(got) < 15 {
		rs, err := cons.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			got = append(got, string(r.Value))
		}
	}
	if fmt.Sprint(got) != "[0 1 2 3 4 5 6 7 8 9 10 11 12 13 14]" {
		t.Fatalf("read %v", got)
	}
}
