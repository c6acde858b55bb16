package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
)

// meshOf is a mesh of one agent per address, with the api tokens given
// through environment variables.
func meshOf(t *testing.T, addrs ...string) *topology.Mesh {
	t.Setenv("GM_READ", "r-token")
	t.Setenv("GM_ADMIN", "a-token")
	m := &topology.Mesh{Name: "m"}
	m.API.ReadToken = topology.Secret{Ref: "env:GM_READ"}
	m.API.AdminToken = topology.Secret{Ref: "env:GM_ADMIN"}
	for i, a := range addrs {
		name := string(rune('a' + i))
		m.Regions = append(m.Regions, topology.Region{Name: name, Agents: []topology.Agent{{ID: name + "-1", API: a}}})
	}
	return m
}

func TestClientTokensAndErrors(t *testing.T) {
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/v1/failover":
			_ = json.NewEncoder(w).Encode(api.FailoverStatus{Mesh: "m", Role: api.RolePrimary, Epoch: 3,
				State: &api.State{Epoch: 3, Regions: map[string]api.RegionState{"a": {Role: api.RolePrimary}}}})
		default:
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: "another decision came first"})
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	m := meshOf(t, addr)

	fs, err := api.NewClient(m, api.ClientOptions{}).Failover(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	if gotAuth != "Bearer r-token" || fs.Epoch != 3 || fs.State.SoleWriter(topology.KindActivePassive) != "a" {
		t.Fatalf("auth %q, status %+v", gotAuth, fs)
	}
	_, err = api.NewClient(m, api.ClientOptions{Admin: true}).Command(context.Background(), "/v1/failback", nil)
	if gotAuth != "Bearer a-token" {
		t.Errorf("admin request sent %q", gotAuth)
	}
	if api.StatusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "another decision came first") {
		t.Errorf("refusal: %v", err)
	}
}

// TestAnySkipsUnreachable: an agent that does not answer, or answers 503,
// is skipped; the next one's answer counts.
func TestAnySkipsUnreachable(t *testing.T) {
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer unavailable.Close()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(api.FailoverStatus{Mesh: "m", Epoch: 7})
	}))
	defer ok.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	goneAddr := strings.TrimPrefix(gone.URL, "http://")
	gone.Close()
	m := meshOf(t, goneAddr, strings.TrimPrefix(unavailable.URL, "http://"), strings.TrimPrefix(ok.URL, "http://"))
	var fs api.FailoverStatus
	id, err := api.NewClient(m, api.ClientOptions{}).Any(context.Background(), http.MethodGet, "/v1/failover", nil, &fs)
	if err != nil || id != "c-1" || fs.Epoch != 7 {
		t.Fatalf("Any = %q, %+v, %v; want c-1 at epoch 7", id, fs, err)
	}
}

// TestWireShapes pins the JSON keys of the answers clients in other
// languages read: snake_case, as documented in docs/api.md.
func TestWireShapes(t *testing.T) {
	for name, tc := range map[string]struct {
		v    any
		keys []string
	}{
		"failover status": {api.FailoverStatus{State: &api.State{}, Stranded: &api.StrandedStatus{}},
			[]string{"mesh", "region", "agent", "control_plane", "state", "revision", "role", "epoch", "fenced", "views", "flows", "events", "stranded"}},
		"state": {api.State{Switch: &api.Switch{}}, []string{"epoch", "regions", "switch", "decision", "reason", "time"}},
		"translation": {api.Translation{State: api.TranslationCopied},
			[]string{"topic", "partition", "source_offset", "target_topic", "target_offset", "state", "origin_offset"}},
		"translate response": {api.TranslateResponse{}, []string{"group", "from", "to", "partitions"}},
		"failover request":   {api.FailoverRequest{From: "a"}, []string{"to", "from", "force"}},
	} {
		data, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		for _, k := range tc.keys {
			if _, ok := got[k]; !ok {
				t.Errorf("%s: no key %q in %s", name, k, data)
			}
		}
		if len(got) != len(tc.keys) {
			t.Errorf("%s: %d keys, want %d: %s", name, len(got), len(tc.keys), data)
		}
	}
}
