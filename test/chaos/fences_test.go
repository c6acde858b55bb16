//go:build linux

package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/geomesh/geomesh/internal/poll"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/test/netns"
)

// The failover meshes' clusters run an authorizer (kafkatest.Authorizer):
// the agents and the tests' own clients use the plaintext listener as a
// super user, and the application is appUser on the SASL listener, with
// WRITE, READ and DESCRIBE on orders in both regions, as an operator
// grants it where the application may move. So the DENY a region's fence
// adds refuses the application's writes there, as it would in production.
const (
	appUser = "app"
	appPass = "app-secret"
)

// authorizer is the failover meshes' clusters' authorizer.
func authorizer() *kafkatest.Authorizer {
	return &kafkatest.Authorizer{Users: map[string]string{appUser: appPass}}
}

// grantApp gives the application its ACLs on orders in c.
func grantApp(t *testing.T, c *kafkatest.Cluster) {
	t.Helper()
	cl, err := kgo.NewClient(c.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).CreateACLs(t.Context(), kadm.NewACLs().Topics("orders").
		Allow("User:"+appUser).Operations(kadm.OpWrite, kadm.OpRead, kadm.OpDescribe))
	for _, r := range res {
		err = errors.Join(err, r.Err)
	}
	if err != nil {
		t.Fatalf("grant the application its ACLs: %v", err)
	}
}

// appTopology writes the application's copy of the topology file: the
// same mesh, with every region's cluster reached as appUser on its SASL
// listener.
func appTopology(t *testing.T, mesh, detection string, clusters map[*netns.NS]*kafkatest.Cluster, regions []*netns.NS) string {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "app-password")
	if err := os.WriteFile(pw, []byte(appPass), 0o600); err != nil {
		t.Fatal(err)
	}
	kafka := func(ns *netns.NS) string {
		if clusters[ns] == nil {
			return ""
		}
		return fmt.Sprintf("{bootstrap: [%s], sasl: {mechanism: PLAIN, username: %s, password: \"file:%s\"}}",
			clusters[ns].SASLBootstrap()[0], appUser, pw)
	}
	return writeTopology(t, "app.yaml", mesh, detection, regions, kafka)
}

// appWrite writes one record to orders in c as the application, and
// returns why not: TOPIC_AUTHORIZATION_FAILED where the fence refuses it.
func appWrite(ctx context.Context, c *kafkatest.Cluster) error {
	cl, err := kgo.NewClient(append(c.UserOptions(appUser), kgo.DefaultProduceTopic("orders"), kgo.RecordRetries(2))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("fence-probe")}).FirstErr()
}

// events are every agent's journal events so far, in time order; a
// journal line that does not parse fails the test.
func (m *failoverMesh) events(t *testing.T) []agentEvent {
	t.Helper()
	var all []agentEvent
	for _, a := range m.agents {
		evs, err := journalOf(a).read()
		if err != nil {
			t.Error(err)
		}
		all = append(all, evs...)
	}
	slices.SortStableFunc(all, func(a, b agentEvent) int { return a.at.Compare(b.at) })
	return all
}

// since keeps the events at or after t.
func since(evs []agentEvent, t time.Time) []agentEvent {
	var out []agentEvent
	for _, e := range evs {
		if !e.at.Before(t) {
			out = append(out, e)
		}
	}
	return out
}

// firstRole is the first role event of region matching ok.
func firstRole(evs []agentEvent, region string, ok func(agentEvent) bool) (agentEvent, bool) {
	for _, e := range evs {
		if e.msg == msgRole && e.region == region && ok(e) {
			return e, true
		}
	}
	return agentEvent{}, false
}

// firstFence is the first fence event of region's cluster saying writes.
func firstFence(evs []agentEvent, cluster, writes string) (agentEvent, bool) {
	for _, e := range evs {
		if e.msg == msgFence && e.cluster == cluster && e.writes == writes {
			return e, true
		}
	}
	return agentEvent{}, false
}

// fences are the fence events of cluster.
func fences(evs []agentEvent, cluster string) []agentEvent {
	var out []agentEvent
	for _, e := range evs {
		if e.msg == msgFence && e.cluster == cluster {
			out = append(out, e)
		}
	}
	return out
}

// waitFence waits until an event after t says cluster's writes are
// writes, and returns it.
func (m *failoverMesh) waitFence(tt *testing.T, after time.Time, cluster, writes string, timeout time.Duration) agentEvent {
	tt.Helper()
	var got agentEvent
	poll.Until(tt, timeout, func() error {
		e, ok := firstFence(since(m.events(tt), after), cluster, writes)
		if !ok {
			return fmt.Errorf("no agent confirmed that %s's cluster %s writes", cluster, writes)
		}
		got = e
		return nil
	})
	return got
}

// rel is t relative to base, for the logs.
func rel(t, base time.Time) string { return fmt.Sprintf("%+.2fs", t.Sub(base).Seconds()) }
