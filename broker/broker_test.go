package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestOptionsErrors(t *testing.T) {
	cases := []struct {
		name string
		k    *topology.Kafka
		want string
	}{
		{"no cluster", nil, "region r: no kafka cluster configured"},
		{"empty bootstrap", &topology.Kafka{}, "region r: kafka bootstrap list is empty"},
		{"unknown mechanism", &topology.Kafka{Bootstrap: []string{"a:1"}, SASL: &topology.SASL{Mechanism: "SCRAM-SHA-1"}},
			`region r: kafka sasl: unsupported mechanism "SCRAM-SHA-1"`},
		{"oauth without settings", &topology.Kafka{Bootstrap: []string{"a:1"}, SASL: &topology.SASL{Mechanism: "OAUTHBEARER"}},
			`region r: kafka sasl: mechanism OAUTHBEARER needs oauth settings`},
		{"missing ca", &topology.Kafka{Bootstrap: []string{"a:1"}, TLS: &topology.TLS{CAFile: "/nonexistent/ca.pem"}},
			"region r: kafka tls: read ca file"},
		{"cert without key", &topology.Kafka{Bootstrap: []string{"a:1"}, TLS: &topology.TLS{CertFile: "c.pem"}},
			"needs both cert_file and key_file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Options("r", c.k)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// writeKeyPair writes a self-signed certificate and its key as PEM files.
func writeKeyPair(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLSConfigReloadsClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, _ := writeKeyPair(t, dir, "ca")
	cert, key := writeKeyPair(t, dir, "client")
	tc, err := tlsConfig(&topology.TLS{CAFile: ca, CertFile: cert, KeyFile: key, ServerName: "broker"})
	if err != nil {
		t.Fatal(err)
	}
	if tc.RootCAs == nil || tc.ServerName != "broker" || tc.MinVersion < 0x0303 {
		t.Fatalf("unexpected tls config: %+v", tc)
	}
	first, err := tc.GetClientCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	// A rotated certificate (new files, later modification time) is
	// served on the next handshake without a restart.
	newCert, newKey := writeKeyPair(t, t.TempDir(), "client")
	for _, p := range [][2]string{{newCert, cert}, {newKey, key}} {
		data, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p[1], data, 0o600); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Second)
		if err := os.Chtimes(p[1], later, later); err != nil {
			t.Fatal(err)
		}
	}
	second, err := tc.GetClientCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(first.Certificate[0]) == string(second.Certificate[0]) {
		t.Fatal("client certificate was not reloaded after its files changed")
	}
}

func TestSASLResolvesSecretAtAuthentication(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "geomesh", "right"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			t.Setenv("GEOMESH_TEST_PASSWORD", "wrong")
			k := &topology.Kafka{Bootstrap: c.ListenAddrs(), SASL: &topology.SASL{
				Mechanism: mech, Username: "geomesh", Password: topology.Secret{Ref: "env:GEOMESH_TEST_PASSWORD"},
			}}
			cl, err := NewClient("r", k, kgo.RetryTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if _, err := Ping(ctx, "r", kadm.NewClient(cl)); err == nil {
				t.Fatal("authenticated with the wrong password")
			}
			// The same client picks up the corrected secret on its next
			// connection: secrets are read at authentication time.
			t.Setenv("GEOMESH_TEST_PASSWORD", "right")
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, err := Ping(ctx, "r", kadm.NewClient(cl))
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("still failing after the secret was fixed: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

func TestEmbeddedServesKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := testkit.FreeAddr(t)
	e := NewEmbedded("local", addr)
	if got := e.Addrs(); got != nil {
		t.Fatalf("addresses before Start: %v", got)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := e.Addrs(); len(got) != 1 || got[0] != addr {
		t.Fatalf("listening on %v, want exactly %s", got, addr)
	}
	if err := e.Start(ctx); err == nil {
		t.Fatal("a second Start must fail")
	}

	k := &topology.Kafka{Bootstrap: []string{addr}, Embedded: true}
	cl, err := NewClient("local", k, kgo.DefaultProduceTopic("t"), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	brokers, err := Ping(ctx, "local", adm)
	if err != nil || len(brokers) != 1 {
		t.Fatalf("ping: %v %v", brokers, err)
	}
	testkit.CreateTopic(t, adm, 2, 1, nil, "t")
	want := map[string]bool{}
	for i := range 50 {
		v := string(rune('a'+i%26)) + strings.Repeat("x", i)
		want[v] = true
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll with %d records missing: %v", len(want), err)
		}
		fs.EachRecord(func(r *kgo.Record) { delete(want, string(r.Value)) })
	}

	e.Close()
	e.Close() // idempotent
	if _, err := Ping(ctx, "local", kadm.NewClient(mustClient(t, addr))); err == nil {
		t.Fatal("ping after Close succeeded")
	}
}

func mustClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := NewClient("local", &topology.Kafka{Bootstrap: []string{addr}}, kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestStartAllClosesOnFailure(t *testing.T) {
	addr := testkit.FreeAddr(t)
	taken, err := net.Listen("tcp", testkit.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	first := NewEmbedded("a", addr)
	second := NewEmbedded("b", taken.Addr().String())
	err = StartAll(context.Background(), []*Embedded{first, second})
	if err == nil || !strings.Contains(err.Error(), "region b") {
		t.Fatalf("want an error naming region b, got %v", err)
	}
	if first.Addrs() != nil {
		t.Fatal("the first cluster is still running after StartAll failed")
	}
}

func TestEmbeddedFor(t *testing.T) {
	m, err := topology.Load("../configs/examples/active-active.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := EmbeddedFor(m)
	if len(got) != 3 || got[0].Region() != "us-east" || got[0].addr != m.Regions[0].Kafka.Bootstrap[0] {
		t.Fatalf("unexpected embedded clusters: %+v", got)
	}
}
