package apiserve

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// tokenFile is a secret read from a file that holds value and a newline.
func tokenFile(t *testing.T, value string) topology.Secret {
	t.Helper()
	return topology.Secret{Ref: "file:" + testkit.TempFile(t, "token", value+"\n")}
}

// TestAPITokens checks every mutating endpoint against no token, the read
// token and a wrong token (401, counted), and the right token (served);
// read endpoints take either token; /healthz and /readyz take none.
func TestAPITokens(t *testing.T) {
	const readTok, adminTok = "read-Tok-1f2e", "admin-Tok-9a8b"
	reg := prometheus.NewRegistry()
	au, err := NewAuthenticator(topology.API{ReadToken: tokenFile(t, readTok), AdminToken: tokenFile(t, adminTok)}, reg)
	if err != nil {
		t.Fatal(err)
	}
	served := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"ok": r.URL.Path})
	})
	srv, err := Start("127.0.0.1:0", au.Wrap(Admit(served, DefaultLimits())), nil, DefaultLimits(), au.shed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	do := func(method, path, token string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), method, "http://"+srv.Addr()+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body["error"]
	}
	mutating := []struct{ method, path string }{
		{"POST", "/v1/failover"}, {"POST", "/v1/failback"}, {"POST", "/v1/keys/install"},
		{"POST", "/v1/keys/use"}, {"POST", "/v1/keys/remove"}, {"GET", "/v1/translate?apply=true"},
	}
	for _, e := range mutating {
		for _, tok := range []string{"", readTok, "wrong"} {
			code, msg := do(e.method, e.path, tok)
			if code != http.StatusUnauthorized || msg != "a valid admin bearer token is required" {
				t.Errorf("%s %s with token %q: %d %q, want 401", e.method, e.path, tok, code, msg)
			}
		}
		if code, _ := do(e.method, e.path, adminTok); code != http.StatusOK {
			t.Errorf("%s %s with the admin token: %d, want 200", e.method, e.path, code)
		}
	}
	for _, path := range []string{"/v1/status", "/metrics", "/v1/translate?group=g"} {
		for _, tok := range []string{"", "wrong", adminTok + "x"} {
			if code, msg := do("GET", path, tok); code != http.StatusUnauthorized || strings.Contains(msg, tok) && tok != "" {
				t.Errorf("GET %s with token %q: %d %q, want 401", path, tok, code, msg)
			}
		}
		for _, tok := range []string{readTok, adminTok} {
			if code, _ := do("GET", path, tok); code != http.StatusOK {
				t.Errorf("GET %s with a valid token: %d, want 200", path, code)
			}
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _ := do("GET", path, ""); code != http.StatusOK {
			t.Errorf("GET %s without a token: %d, want 200", path, code)
		}
	}
	if got := counterValue(t, au.unauthorized.WithLabelValues("/v1/failover")); got != 3 {
		t.Errorf("geomesh_api_unauthorized_total{endpoint=/v1/failover} = %v, want 3", got)
	}
	if got := counterValue(t, au.unauthorized.WithLabelValues("/v1/status")); got != 3 {
		t.Errorf("geomesh_api_unauthorized_total{endpoint=/v1/status} = %v, want 3", got)
	}
}

// TestAPITLSReload serves the API over TLS and picks up a renewed
// certificate without a restart.
func TestAPITLSReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "api.pem"), filepath.Join(dir, "api-key.pem")
	writeCert := func(cn string, mod time.Time) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		kder, _ := x509.MarshalECPrivateKey(key)
		_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
		_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
		_ = os.Chtimes(certFile, mod, mod)
		_ = os.Chtimes(keyFile, mod, mod)
	}
	writeCert("first", time.Now().Add(-time.Minute))
	tc, err := TLSConfig(&topology.APITLS{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Start("127.0.0.1:0", http.NotFoundHandler(), tc, DefaultLimits(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	served := func() string {
		conn, err := tls.Dial("tcp", srv.Addr(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reading the served certificate
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := served(); got != "first" {
		t.Fatalf("served %q, want first", got)
	}
	writeCert("renewed", time.Now())
	if got := served(); got != "renewed" {
		t.Errorf("after renewal served %q, want renewed", got)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
