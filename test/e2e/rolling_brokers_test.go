//go:build linux

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/internal/poll"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
)

// rollBrokers restarts the brokers of c one at a time, as an operator
// rolls a Kafka upgrade: a clean stop, a few seconds down under load,
// then a start that returns once every replica is back in sync.
func rollBrokers(t *testing.T, c *kafkatest.Cluster, name string, brokers int) {
	t.Helper()
	for i := range brokers {
		begin := time.Now()
		if err := c.StopBroker(i); err != nil {
			t.Fatalf("%s broker %d: %v", name, i, err)
		}
		time.Sleep(3 * time.Second)
		if err := c.StartBroker(t.Context(), i); err != nil {
			t.Fatalf("%s broker %d: %v", name, i, err)
		}
		t.Logf("%s broker %d restarted, back in sync %s after its stop", name, i, time.Since(begin).Round(time.Millisecond))
	}
}

// TestRollingBrokerRestarts copies between two 3-broker clusters while
// every broker of each is restarted in turn under a transactional load,
// then fails over while a broker of the new primary is down and rolls
// the other cluster again under load in the reversed direction. Both
// streams must arrive exactly once: no record lost, none duplicated, none
// of an aborted transaction.
func TestRollingBrokerRestarts(t *testing.T) {
	const mesh, brokers = "e2e-roll", 3
	orders, payments := mesh+"-orders", mesh+"-payments"
	begin := time.Now()
	east := kafkatest.Start(t, kafkatest.Options{Brokers: brokers})
	west := kafkatest.Start(t, kafkatest.Options{Brokers: brokers})
	t.Logf("two %d-broker clusters started in %s", brokers, time.Since(begin).Round(time.Millisecond))
	path, _ := applyMesh(t, mesh, east, west, `"`+orders+`", "`+payments+`"`)
	createTopic(t, east, orders, 6, nil)
	createTopic(t, east, payments, 6, nil)
	rng := rand.New(rand.NewPCG(seed(t), 23))

	ma := newMeshAgents(t, path)
	eastAgent, westAgent, witness := ma.startActivePassive(mesh)
	st := startStream(t, east, mesh+"-east", orders, 6, rng.Uint64(), 50*time.Millisecond)
	readTopic(t, west, orders, 50, 60*time.Second)
	rollBrokers(t, east, "east (source)", brokers)
	rollBrokers(t, west, "west (target)", brokers)
	st.stop(t)
	n := st.verify(t, west, mesh+"-east,"+mesh+"-west", 120*time.Second)
	t.Logf("rolling both clusters while copying: %d committed records in west once each; source: %s", n, st)

	// The planned switch waits for west's copy of payments (created by
	// topic sync) before the stream starts there.
	adm := kadm.NewClient(client(t, west))
	poll.Until(t, 60*time.Second, func() error {
		if err := upByMajority([]*agent.Agent{eastAgent, westAgent, witness}, mesh+"-east", mesh+"-west"); err != nil {
			return err
		}
		tds, err := adm.ListTopics(t.Context(), payments)
		if err != nil || !tds.Has(payments) {
			return fmt.Errorf("west has no %s yet (%v)", payments, err)
		}
		return nil
	})
	if err := west.StopBroker(1); err != nil {
		t.Fatal(err)
	}
	switched := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	res, err := westAgent.Command(ctx, machine.Command{Kind: machine.CommandFailover, To: mesh + "-west"})
	if err != nil || res.Code != 200 {
		t.Fatalf("failover to west with a west broker down: %+v, %v", res, err)
	}
	poll.Until(t, 2*time.Minute, func() error {
		fs := westAgent.Failover()
		if fs.Role != api.RolePrimary || fs.State == nil || fs.State.Switch != nil {
			return fmt.Errorf("west is %s at epoch %d, switch %v", fs.Role, fs.Epoch, fs.State != nil && fs.State.Switch != nil)
		}
		return roleAt(eastAgent, "standby", fs.Epoch)
	})
	t.Logf("planned failover to west with west's broker 1 down: done in %s", time.Since(switched).Round(time.Millisecond))
	if err := west.StartBroker(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	st2 := startStream(t, west, mesh+"-west", payments, 6, rng.Uint64(), 50*time.Millisecond)
	readTopic(t, east, payments, 50, 60*time.Second)
	rollBrokers(t, east, "east (new target)", brokers)
	st2.stop(t)
	n = st2.verify(t, east, mesh+"-west,"+mesh+"-east", 120*time.Second)
	t.Logf("rolling east after the failover while west's writes flow back: %d committed records in east once each; source: %s", n, st2)
}
