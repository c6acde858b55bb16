package secure

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/topology"
)

// lockedBuffer collects an agent's logs while it writes them.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNoSecretLeaks runs a replicating agent with known secrets (Kafka
// password, API tokens, gossip key), logging at debug, reads its status
// and metrics, runs geomesh plan and validate on its topology, and makes
// a connection with a wrong password; no secret may appear in any of it.
func TestNoSecretLeaks(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	gossipKey := base64.StdEncoding.EncodeToString(key)
	const readToken, adminToken, wrongPass = "leak-Read-Token-4c1d", "leak-Admin-Token-77e0", "leak-Wrong-Pass-a5b6"
	secrets := []string{geomeshPass, readToken, adminToken, wrongPass, gossipKey}
	t.Setenv(passwordEnv, geomeshPass)
	t.Setenv("GEOMESH_LEAK_GOSSIP_KEY", gossipKey)
	t.Setenv("GEOMESH_LEAK_READ_TOKEN", readToken)
	t.Setenv("GEOMESH_LEAK_WRONG", wrongPass)
	adminFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(adminFile, []byte(adminToken), 0o600); err != nil {
		t.Fatal(err)
	}
	const mesh = "leak"
	if _, err := admin(t, east).CreateTopic(t.Context(), 1, 1, nil, mesh+"-data"); err != nil {
		t.Fatal(err)
	}
	path := meshFile(t, mesh, "api: {read_token: env:GEOMESH_LEAK_READ_TOKEN, admin_token: file:"+adminFile+"}\n"+
		"gossip: {keys: [env:GEOMESH_LEAK_GOSSIP_KEY]}\n", scram512)
	logs := &lockedBuffer{}
	a := startAgent(t, path, "west", slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err := produceAs(t, east, geomeshUser, geomeshPass, mesh+"-data"); err != nil {
		t.Fatal(err)
	}

	var outputs []string
	get := func(path, token string) string {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+a.APIAddr()+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor(t, 30*time.Second, "the copy of the record", func() error {
		st := get("/v1/status", readToken)
		if !strings.Contains(st, `"records_copied"`) && !strings.Contains(st, mesh+"-data") {
			return errors.New("no flow of " + mesh + "-data in the status yet")
		}
		return nil
	})
	// Each copy session logs its start at debug; without debug lines the
	// scan below would prove little.
	waitFor(t, 30*time.Second, "a debug line in the agent's log", func() error {
		if !strings.Contains(logs.String(), "level=DEBUG") {
			return errors.New("no debug line yet")
		}
		return nil
	})
	outputs = append(outputs, get("/v1/status", readToken), get("/v1/status", "wrong"), get("/metrics", adminToken), get("/v1/keys", readToken))

	bin := filepath.Join(t.TempDir(), "geomesh")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/geomesh").CombinedOutput(); err != nil {
		t.Fatalf("build geomesh: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"plan", path}, {"plan", "--json", path}, {"validate", path}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("geomesh %v: %v\n%s", args, err, out)
		}
		outputs = append(outputs, string(out))
	}

	wrong := saslKafka(east, "SCRAM-SHA-512", geomeshUser, topology.Secret{Ref: "env:GEOMESH_LEAK_WRONG"})
	err := roundTrip(t, "east", wrong, mesh+"-wrong")
	if err == nil {
		t.Fatal("a wrong password was accepted")
	}
	outputs = append(outputs, err.Error(), logs.String())
	for i, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("output %d shows secret %q:\n%s", i, s, out)
			}
		}
	}
	t.Logf("scanned %d outputs, %d bytes of agent logs", len(outputs), len(logs.String()))
}
