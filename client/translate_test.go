package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geomesh/geomesh/topology"
)

// TestTranslateAsksAgent: the consumer sends the api read token, asks
// again while a partition is "behind", keeps only its own topics, and
// gives up at once when the agent has no flow from the old region.
func TestTranslateAsksAgent(t *testing.T) {
	t.Setenv("GM_READ_TOKEN", "s3cret")
	var calls atomic.Int32
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"a valid read bearer token is required"}`)
			return
		}
		if r.URL.Query().Get("from") != "east" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"no flow from region \"nowhere\" into west"}`)
			return
		}
		state := "behind"
		if calls.Add(1) > 2 {
			state = "copied"
		}
		fmt.Fprintf(w, `{"group":"g","from":"east","to":"west","partitions":[
			{"topic":"orders","partition":0,"source_offset":7,"target_topic":"orders","target_offset":9,"state":"end"},
			{"topic":"orders","partition":1,"source_offset":5,"target_topic":"orders","target_offset":6,"state":%q},
			{"topic":"other","partition":0,"source_offset":1,"target_topic":"other","target_offset":1,"state":"behind"}]}`, state)
	}))
	defer agent.Close()
	m, err := topology.Parse("t.yaml", fmt.Appendf(nil, `
mesh: t
topology: {kind: active-passive, primary: east, standby: [west]}
api: {read_token: "env:GM_READ_TOKEN", admin_token: "env:GM_ADMIN_TOKEN"}
regions:
  - {name: east, kafka: {bootstrap: ["127.0.0.1:1"]}, agents: [{id: east-1, gossip: "127.0.0.1:2", api: "127.0.0.1:3"}]}
  - {name: west, kafka: {bootstrap: ["127.0.0.1:4"]}, agents: [{id: west-1, gossip: "127.0.0.1:5", api: %q}]}
control_plane: {urls: ["nats://127.0.0.1:4222"]}
`, strings.TrimPrefix(agent.URL, "http://")))
	if err != nil {
		t.Fatal(err)
	}
	c := &Consumer{mesh: m, group: "g", cfg: defaults()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := c.translate(ctx, "east", "west", map[string]bool{"orders": true})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "map[orders:map[0:9 1:6]]" || calls.Load() != 3 {
		t.Fatalf("translated %v after %d calls", got, calls.Load())
	}
	if _, err := c.translate(ctx, "nowhere", "west", map[string]bool{"orders": true}); !errors.Is(err, errNoFlow) {
		t.Fatalf("no flow: %v", err)
	}
}
