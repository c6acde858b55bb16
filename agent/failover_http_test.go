package agent

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/geomesh/geomesh/topology"
)

// TestFailoverBadRequests: a malformed body or an unknown region is a 400
// with a JSON error before the machine is asked; a command to an agent
// whose failover plane is not running is a 503.
func TestFailoverBadRequests(t *testing.T) {
	m, err := topology.Load("../configs/examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Mesh: m, Region: "eu-west", ControlDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		body string
		code int
		want string
	}{
		{`{"to":`, 400, "bad failover request"},
		{`{"to":"eu-west","force":"yes"}`, 400, "bad failover request"},
		{`{"region":"eu-west"}`, 400, "unknown field"},
		{`{}`, 400, `names no region`},
		{`{"to":"mars"}`, 400, `no region \"mars\" in mesh shop`},
		{`{"to":"eu-west"}`, 503, "failover plane is not running"},
	} {
		rec := httptest.NewRecorder()
		a.serveFailover(rec, httptest.NewRequest(http.MethodPost, "/v1/failover", strings.NewReader(c.body)))
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("POST %s: %d %s, want %d with %q", c.body, rec.Code, rec.Body, c.code, c.want)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("POST %s: content type %q", c.body, ct)
		}
	}
}
