package client_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/geomesh/geomesh/client"
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
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
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
	m, err := topology.Parse("gone.yaml", fmt.Appendf(nil, `
mesh: gone
topology: {kind: active-passive, primary: us, standby: [eu]}
naming: identity
regions:
  - {name: us, kafka: {bootstrap: [%q]}, agents: [{id: us-1, gossip: "127.0.0.1:1", api: "127.0.0.1:2"}]}
  - {name: eu, kafka: {bootstrap: [%q]}, agents: [{id: eu-1, gossip: "127.0.0.1:3", api: "127.0.0.1:4"}]}
control_plane: {urls: ["nats://127.0.0.1:4222"]}
`, cls[0].ListenAddrs()[0], cls[1].ListenAddrs()[0]))
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
	adm := kadm.NewClient(mustClient(t, cls[1]))
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

func mustClient(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
