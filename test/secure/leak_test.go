package secure

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/failover/quorum"
	"github.com/geomesh/geomesh/internal/syncbuf"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/test/internal/agenttest"
	"github.com/geomesh/geomesh/topology"
	"github.com/nats-io/nats-server/v2/server"
)

// natsServer runs a NATS server that takes TLS clients logging in as
// user geomesh with password pass, and returns its URL and CA file.
func natsServer(t *testing.T, pass string) (*server.Server, string, string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "leak-nats-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject: pkix.Name{CommonName: "nats"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "nats-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := testkit.NATSServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(),
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12,
			Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		TLSTimeout: 2,
		Users:      []*server.User{{Username: geomeshUser, Password: pass}}})
	return srv, "tls://" + srv.Addr().String(), caFile
}

// TestNoSecretLeaks runs a replicating agent with known secrets (Kafka
// password, API tokens, gossip key, NATS password), logging at debug,
// reads its status and metrics, runs geomesh plan and validate on its
// topology, and makes a Kafka and a NATS connection with a wrong
// password; no secret may appear in any of it.
func TestNoSecretLeaks(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	gossipKey := base64.StdEncoding.EncodeToString(key)
	const readToken, adminToken, wrongPass = "leak-Read-Token-4c1d", "leak-Admin-Token-77e0", "leak-Wrong-Pass-a5b6"
	const natsPass = "leak-Nats-Pass-e2f9"
	secrets := []string{geomeshPass, readToken, adminToken, wrongPass, gossipKey, natsPass}
	t.Setenv(passwordEnv, geomeshPass)
	t.Setenv("GEOMESH_LEAK_GOSSIP_KEY", gossipKey)
	t.Setenv("GEOMESH_LEAK_READ_TOKEN", readToken)
	t.Setenv("GEOMESH_LEAK_WRONG", wrongPass)
	t.Setenv("GEOMESH_LEAK_NATS_PASS", natsPass)
	adminFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(adminFile, []byte(adminToken), 0o600); err != nil {
		t.Fatal(err)
	}
	const mesh = "leak"
	testkit.CreateTopic(t, admin(t, east), 1, 1, nil, mesh+"-data")
	path := meshFile(t, mesh, "api: {read_token: env:GEOMESH_LEAK_READ_TOKEN, admin_token: file:"+adminFile+"}\n"+
		"gossip: {keys: [env:GEOMESH_LEAK_GOSSIP_KEY]}\n", scram512)
	// The agent logs in to a NATS server of its own with the password.
	nats, natsURL, natsCA := natsServer(t, natsPass)
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	plainCP := regexp.MustCompile(`control_plane: \{urls: \["nats://[^"]*"\]\}`)
	if !plainCP.Match(file) {
		t.Fatalf("%s has no control_plane urls line to replace", path)
	}
	file = plainCP.ReplaceAllLiteral(file, []byte(`control_plane: {urls: ["`+natsURL+`"], tls: {ca_file: `+natsCA+`}, `+
		`credentials: {user: `+geomeshUser+`, password: env:GEOMESH_LEAK_NATS_PASS}}`))
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	a := agenttest.Start(t, path, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), "west")[0]
	waitFor(t, 30*time.Second, "the agent's login to NATS", func() error {
		cz, err := nats.Connz(&server.ConnzOptions{Username: true})
		if err != nil {
			return err
		}
		for _, c := range cz.Conns {
			if c.Name == "geomesh-west-1" && c.AuthorizedUser == geomeshUser && c.TLSVersion != "" {
				return nil
			}
		}
		return errors.New("no TLS connection of geomesh-west-1 as user " + geomeshUser)
	})
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
	err = roundTrip(t, "east", wrong, mesh+"-wrong")
	if err == nil {
		t.Fatal("a wrong password was accepted")
	}
	outputs = append(outputs, err.Error())
	node := quorum.NewNode(quorum.Config{Mesh: mesh, Name: "leak-wrong", URLs: []string{natsURL}, Replicas: 1,
		TLS:         &topology.ControlPlaneTLS{CAFile: natsCA},
		Credentials: &topology.ControlPlaneCredentials{User: geomeshUser, Password: topology.Secret{Ref: "env:GEOMESH_LEAK_WRONG"}}})
	err = node.Start(t.Context())
	_ = node.Close()
	if err == nil {
		t.Fatal("NATS took a wrong password")
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
