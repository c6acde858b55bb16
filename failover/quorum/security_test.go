package quorum

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
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/internal/syncbuf"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// testCA issues certificates for 127.0.0.1 that serve both as server and
// as client certificates, as a route's certificate must.
type testCA struct {
	dir  string
	file string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{dir: t.TempDir(), cert: cert, key: key}
	ca.file = writePEM(t, ca.dir, name+"-ca.pem", "CERTIFICATE", der)
	return ca
}

func (ca *testCA) issue(t *testing.T, name string) *topology.ControlPlaneTLS {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return &topology.ControlPlaneTLS{
		CAFile:   ca.file,
		CertFile: writePEM(t, ca.dir, name+".pem", "CERTIFICATE", der),
		KeyFile:  writePEM(t, ca.dir, name+"-key.pem", "EC PRIVATE KEY", kb),
	}
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// secretFile writes value to a file and returns its file: reference.
func secretFile(t *testing.T, value string) topology.Secret {
	t.Helper()
	return topology.Secret{Ref: "file:" + testkit.TempFile(t, "secret", value+"\n")}
}

// alwaysFor fails the test if f returns an error at any poll within d:
// the window is the test (nothing may happen in it), not a wait for a
// state.
func alwaysFor(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	routePass    = "route-Pass-7c1e2f"
	strangerPass = "stranger-Pass-94ab0d"
)

// TestSecureCluster closes the hole TestCluster's comment describes: on
// routes with mutual TLS and credentials, a server that gives the mesh's
// cluster name but not its CA's certificate or the route password cannot
// join, neither while the cluster is whole nor when it dials a node left
// alone, on the address of one of that node's stopped peers. Its
// events do not reach the nodes, its writes do not change the epoch, and
// the lone node still gets ErrNoQuorum.
func TestSecureCluster(t *testing.T) {
	ctx := context.Background()
	ca, other := newCA(t, "mesh"), newCA(t, "other")
	logs := &syncbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pass := secretFile(t, routePass)
	nodes, stores, formed := clusterWith(t, 3, func(c *Config) {
		c.TLS = ca.issue(t, c.Name)
		c.Credentials = &topology.ControlPlaneCredentials{User: "geomesh", Password: pass}
		c.Logger = logger
	})
	t.Logf("3 nodes with route mTLS and credentials: cluster formed and bucket open after %v", formed.Round(time.Millisecond))
	mesh := nodes[0].cfg.Mesh
	addrs := []string{nodes[0].cfg.ClusterAddr, nodes[1].cfg.ClusterAddr, nodes[2].cfg.ClusterAddr}

	rev, err := stores[0].CompareAndSet(ctx, 0, state(1))
	if err != nil {
		t.Fatalf("compare-and-set on the secure cluster: %v", err)
	}
	if st, r, err := stores[2].Load(ctx); err != nil || st == nil || st.Epoch != 1 || r != rev {
		t.Fatalf("load on another node: %+v, %d, %v; want epoch 1 at revision %d", st, r, err, rev)
	}

	events := make(chan api.Event, 16)
	stop, err := stores[0].SubscribeEvents(func(e api.Event) { events <- e })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	// Strangers of three kinds, each with the mesh's cluster name.
	strangers := []struct {
		name string
		cfg  func(c *Config)
	}{
		{"plain", func(c *Config) {}},
		{"other-ca", func(c *Config) {
			c.TLS = other.issue(t, c.Name)
			c.Credentials = &topology.ControlPlaneCredentials{User: "geomesh", Password: pass}
		}},
		{"wrong-password", func(c *Config) {
			c.TLS = ca.issue(t, c.Name)
			c.Credentials = &topology.ControlPlaneCredentials{User: "geomesh", Password: secretFile(t, strangerPass)}
		}},
	}
	start := func(name, addr string, peers []string, secure func(*Config)) *Node {
		cfg := Config{Mesh: mesh, Name: "stranger-" + name, ClusterAddr: addr, Peers: peers,
			StoreDir: t.TempDir(), Timeout: time.Second, Logger: logger}
		secure(&cfg)
		s := NewNode(cfg)
		t.Cleanup(func() { _ = s.Close() })
		if err := s.Start(ctx); err != nil {
			t.Fatalf("stranger %s: %v", name, err)
		}
		return s
	}
	var running []*Node
	for _, s := range strangers {
		running = append(running, start(s.name, testkit.FreeAddr(t), addrs, s.cfg))
	}
	// routes checks that each of ns is routed to want servers, all of
	// them nodes of the mesh. Only the nodes' side counts: a stranger
	// that dials a node lists the route from the node's INFO until the
	// node, having checked its CONNECT, closes it; nothing is sent on it.
	routes := func(want int, ns ...*Node) func() error {
		return func() error {
			for _, n := range ns {
				peers, err := routedTo(n)
				if err != nil {
					return err
				}
				if len(peers) != want {
					return fmt.Errorf("%s: routed to %v, want %d servers", n.cfg.Name, peers, want)
				}
				for _, p := range peers {
					if strings.HasPrefix(p, "stranger-") {
						return fmt.Errorf("%s: routed to %v", n.cfg.Name, peers)
					}
				}
			}
			return nil
		}
	}
	alwaysFor(t, 2*time.Second, routes(2, nodes...))

	// Each stranger announces a failover and writes epoch 666 straight
	// to the bucket's subject; then a node announces one. Only the node's
	// arrives.
	fake, _ := json.Marshal(state(666))
	for _, s := range running {
		nc := s.Conn()
		ev, _ := json.Marshal(api.Event{Kind: api.DecisionFailover, Epoch: 666, From: "a", To: "b", Time: time.Now().UTC()})
		if err := nc.Publish(EventsSubject(mesh), ev); err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("$KV."+Bucket(mesh)+"."+Key, fake); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := stores[2].PublishEvent(api.Event{Kind: api.DecisionFailover, Epoch: 2, From: "a", To: "b", Time: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]int{}
	timeout := time.After(5 * time.Second)
	for got[2] == 0 {
		select {
		case e := <-events:
			got[e.Epoch]++
		case <-timeout:
			t.Fatalf("the node's event did not arrive; events by epoch: %v", got)
		}
	}
	// Half a second more of listening, not a wait for a state: a
	// stranger's event or a duplicate would arrive now.
	settle := time.After(500 * time.Millisecond)
	for done := false; !done; {
		select {
		case e := <-events:
			got[e.Epoch]++
		case <-settle:
			done = true
		}
	}
	if got[666] != 0 || got[2] != 1 {
		t.Fatalf("events received by epoch: %v; want only the node's epoch 2, once", got)
	}
	if st, r, err := stores[1].Load(ctx); err != nil || st == nil || st.Epoch != 1 || r != rev {
		t.Fatalf("after the strangers' writes: %+v, revision %d, %v; want epoch 1 at revision %d", st, r, err, rev)
	}
	t.Logf("%d strangers: no route for %v, their events and writes unseen, epoch still 1 at revision %d", len(running), 2*time.Second, rev)

	// Leave node 1 alone; the strangers take its stopped peers' addresses
	// (and one a fresh one), route to it, and are dialled by it.
	for _, s := range running {
		_ = s.Close()
	}
	_ = nodes[0].Close()
	_ = nodes[2].Close()
	lone := []string{addrs[1]}
	for i, addr := range []string{addrs[0], addrs[2], testkit.FreeAddr(t)} {
		start(strangers[i].name+"-2", addr, lone, strangers[i].cfg)
	}
	alwaysFor(t, 2*time.Second, routes(0, nodes[1]))
	begin := time.Now()
	if _, err := stores[1].CompareAndSet(ctx, rev, state(2)); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("compare-and-set on the lone node among strangers: %v, want ErrNoQuorum", err)
	}
	if err := stores[1].Check(ctx); !errors.Is(err, ErrNoQuorum) {
		peers, _ := routedTo(nodes[1])
		t.Fatalf("check on the lone node among strangers: %v, want ErrNoQuorum (routed to %v)", err, peers)
	}
	t.Logf("lone node among 3 strangers on its peers' addresses: 0 routes, ErrNoQuorum after %v", time.Since(begin).Round(time.Millisecond))

	out := logs.String()
	if !strings.Contains(out, "level=DEBUG") {
		t.Fatal("no log lines from the nodes; the scan below would prove nothing")
	}
	for _, secret := range []string{routePass, strangerPass} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs show the password %q", secret)
		}
	}
}

// routedTo lists the servers n has routes to, once each (a pair of
// servers keeps a pool of route connections).
func routedTo(n *Node) ([]string, error) {
	rz, err := n.srv.Routez(nil)
	if err != nil {
		return nil, fmt.Errorf("%s: routez: %w", n.cfg.Name, err)
	}
	seen := map[string]bool{}
	var names []string
	for _, r := range rz.Routes {
		if !seen[r.RemoteName] {
			seen[r.RemoteName] = true
			names = append(names, r.RemoteName)
		}
	}
	return names, nil
}

// TestExternalSecure runs a NATS server that takes TLS clients with a
// user and password or an nkey: nodes with them open the store and
// change the epoch; nodes without them fail Start, naming the URL and
// what was refused.
func TestExternalSecure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca := newCA(t, "nats")
	srvTLS := ca.issue(t, "server")
	pair, err := tls.LoadX509KeyPair(srvTLS.CertFile, srvTLS.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	seedFile := filepath.Join(t.TempDir(), "agent.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	const pass = "client-Pass-3d9a41"
	srv := testkit.NATSServer(t, &server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(),
		TLSConfig:  &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		TLSTimeout: 2,
		Users:      []*server.User{{Username: "geomesh", Password: pass}},
		Nkeys:      []*server.NkeyUser{{Nkey: pub}},
	})
	url := "tls://" + srv.Addr().String()
	mesh := "external-secure"
	node := func(name string, tlsc *topology.ControlPlaneTLS, cred *topology.ControlPlaneCredentials) *Node {
		n := NewNode(Config{Mesh: mesh, Name: name, URLs: []string{url}, Replicas: 1, Timeout: 2 * time.Second, TLS: tlsc, Credentials: cred})
		t.Cleanup(func() { _ = n.Close() })
		return n
	}
	trust := &topology.ControlPlaneTLS{CAFile: ca.file}

	withPass := node("with-pass", trust, &topology.ControlPlaneCredentials{User: "geomesh", Password: secretFile(t, pass)})
	if err := withPass.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s1, err := withPass.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := s1.CompareAndSet(ctx, 0, state(1))
	if err != nil {
		t.Fatalf("compare-and-set as user geomesh: %v", err)
	}
	withNkey := node("with-nkey", trust, &topology.ControlPlaneCredentials{NkeySeedFile: seedFile})
	if err := withNkey.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s2, err := withNkey.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rev2, err := s2.CompareAndSet(ctx, rev, state(2))
	if err != nil {
		t.Fatalf("compare-and-set with the nkey: %v", err)
	}
	if st, r, err := s1.Load(ctx); err != nil || st == nil || st.Epoch != 2 || r != rev2 {
		t.Fatalf("load after the nkey's write: %+v, %d, %v; want epoch 2 at revision %d", st, r, err, rev2)
	}
	t.Logf("user/password and nkey over TLS: epoch 1 at revision %d, epoch 2 at revision %d", rev, rev2)

	otherSeed, _ := nkeys.CreateUser()
	os2, _ := otherSeed.Seed()
	otherSeedFile := filepath.Join(t.TempDir(), "other.nk")
	if err := os.WriteFile(otherSeedFile, os2, 0o600); err != nil {
		t.Fatal(err)
	}
	wrongRef := secretFile(t, "wrong-Pass-b71c")
	for _, tc := range []struct {
		name string
		tls  *topology.ControlPlaneTLS
		cred *topology.ControlPlaneCredentials
		want []string
	}{
		{"wrong-password", trust, &topology.ControlPlaneCredentials{User: "geomesh", Password: wrongRef},
			[]string{`authentication as user "geomesh" failed`, wrongRef.Ref, "Authorization Violation"}},
		{"unknown-user", trust, &topology.ControlPlaneCredentials{User: "intruder", Password: secretFile(t, pass)},
			[]string{`authentication as user "intruder" failed`, "Authorization Violation"}},
		{"no-credentials", trust, nil, []string{"the servers want credentials", "Authorization Violation"}},
		{"unknown-nkey", trust, &topology.ControlPlaneCredentials{NkeySeedFile: otherSeedFile},
			[]string{"authentication with the nkey of " + otherSeedFile + " failed", "Authorization Violation"}},
		{"other-ca", &topology.ControlPlaneTLS{CAFile: newCA(t, "elsewhere").file}, &topology.ControlPlaneCredentials{User: "geomesh", Password: secretFile(t, pass)},
			[]string{"server certificate not signed by a CA of"}},
	} {
		n := node(tc.name, tc.tls, tc.cred)
		err := n.Start(ctx)
		if err == nil {
			t.Errorf("%s: Start succeeded", tc.name)
			continue
		}
		for _, w := range append([]string{"quorum: node " + tc.name + ": connect to " + url + ": "}, tc.want...) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), pass) || strings.Contains(err.Error(), "wrong-Pass-b71c") {
			t.Errorf("%s: error shows a password: %v", tc.name, err)
		}
		t.Logf("%s: %v", tc.name, err)
	}
	if st, r, err := s1.Load(ctx); err != nil || st.Epoch != 2 || r != rev2 {
		t.Fatalf("after the refused nodes: %+v, %d, %v; want epoch 2 at revision %d", st, r, err, rev2)
	}
}

// TestSecurityConfig pins the errors of unreadable security files, each
// naming the node and what failed.
func TestSecurityConfig(t *testing.T) {
	ca := newCA(t, "cfg")
	good := ca.issue(t, "n")
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no-ca", Config{TLS: &topology.ControlPlaneTLS{CAFile: "/nonexistent/ca.pem", CertFile: good.CertFile, KeyFile: good.KeyFile}},
			"quorum: node no-ca: route tls: read ca file: open /nonexistent/ca.pem: no such file or directory"},
		{"bad-ca", Config{TLS: &topology.ControlPlaneTLS{CAFile: good.KeyFile, CertFile: good.CertFile, KeyFile: good.KeyFile}},
			"quorum: node bad-ca: route tls: ca file " + good.KeyFile + ": no PEM certificate found"},
		{"no-key", Config{TLS: &topology.ControlPlaneTLS{CAFile: ca.file, CertFile: good.CertFile, KeyFile: "/nonexistent/key.pem"}},
			"quorum: node no-key: route tls: key: stat /nonexistent/key.pem: no such file or directory"},
		{"half-tls", Config{TLS: &topology.ControlPlaneTLS{CAFile: ca.file}},
			"quorum: node half-tls: invalid config: route tls needs a ca file, a certificate and its key"},
		{"no-password", Config{TLS: good, Credentials: &topology.ControlPlaneCredentials{User: "geomesh", Password: topology.Secret{Ref: "env:GEOMESH_QUORUM_UNSET"}}},
			`quorum: node no-password: credentials of user "geomesh": secret env:GEOMESH_QUORUM_UNSET: environment variable GEOMESH_QUORUM_UNSET is not set`},
		{"nkey-embedded", Config{Credentials: &topology.ControlPlaneCredentials{NkeySeedFile: "/x.nk"}},
			"quorum: node nkey-embedded: invalid config: route credentials need a user and password (nkey seeds are for an external control plane)"},
		{"missing-seed", Config{URLs: []string{"nats://" + testkit.FreeAddr(t)}, Credentials: &topology.ControlPlaneCredentials{NkeySeedFile: "/nonexistent/x.nk"}},
			"quorum: node missing-seed: nkey seed file /nonexistent/x.nk: "},
	} {
		cfg := tc.cfg
		cfg.Mesh, cfg.Name, cfg.StoreDir = "m", tc.name, t.TempDir()
		if len(cfg.URLs) == 0 {
			cfg.ClusterAddr = testkit.FreeAddr(t)
		}
		n := NewNode(cfg)
		err := n.Start(context.Background())
		_ = n.Close()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestRoutePasswordRotation forms a cluster in the middle of a rotation
// of the route password: two nodes already send the new password and
// accept the old one, one still sends the old and accepts the new. All
// of them route to each other and decide.
func TestRoutePasswordRotation(t *testing.T) {
	ca := newCA(t, "rotate")
	oldPass, newPass := secretFile(t, "old-Route-Pass-1"), secretFile(t, "new-Route-Pass-2")
	nodes, stores, formed := clusterWith(t, 3, func(c *Config) {
		c.TLS = ca.issue(t, c.Name)
		cred := &topology.ControlPlaneCredentials{User: "geomesh", Password: newPass, AcceptPasswords: []topology.Secret{oldPass}}
		if c.Name == "n1" {
			cred = &topology.ControlPlaneCredentials{User: "geomesh", Password: oldPass, AcceptPasswords: []topology.Secret{newPass}}
		}
		c.Credentials = cred
	})
	for _, n := range nodes {
		peers, err := routedTo(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(peers) != 2 {
			t.Fatalf("%s: routed to %v, want the 2 other nodes", n.cfg.Name, peers)
		}
	}
	rev, err := stores[1].CompareAndSet(context.Background(), 0, state(1))
	if err != nil {
		t.Fatalf("compare-and-set mid-rotation: %v", err)
	}
	if st, r, err := stores[0].Load(context.Background()); err != nil || st == nil || st.Epoch != 1 || r != rev {
		t.Fatalf("load mid-rotation: %+v, %d, %v", st, r, err)
	}
	t.Logf("mid-rotation cluster (2 nodes on the new password, 1 on the old) formed after %v and decided", formed.Round(time.Millisecond))
}

// TestSecureClientPort checks the embedded node's client port: with
// route TLS and credentials it takes only TLS clients that show a
// certificate of the mesh's CA and give the route user and password.
func TestSecureClientPort(t *testing.T) {
	ca := newCA(t, "client-port")
	addr := testkit.FreeAddr(t)
	n := NewNode(Config{Mesh: "client-port", Name: "n0", ClusterAddr: testkit.FreeAddr(t), ClientAddr: addr,
		StoreDir: t.TempDir(), Timeout: time.Second, TLS: ca.issue(t, "n0"),
		Credentials: &topology.ControlPlaneCredentials{User: "geomesh", Password: secretFile(t, routePass)}})
	t.Cleanup(func() { _ = n.Close() })
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	client := ca.issue(t, "debug")
	pair, err := tls.LoadX509KeyPair(client.CertFile, client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	withCert := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	noCert := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	for _, tc := range []struct {
		name string
		opts []nats.Option
		ok   bool
	}{
		{"cert and password", []nats.Option{nats.Secure(withCert), nats.UserInfo("geomesh", routePass)}, true},
		{"no tls", []nats.Option{nats.UserInfo("geomesh", routePass)}, false},
		{"no client certificate", []nats.Option{nats.Secure(noCert), nats.UserInfo("geomesh", routePass)}, false},
		{"wrong password", []nats.Option{nats.Secure(withCert), nats.UserInfo("geomesh", strangerPass)}, false},
		{"no password", []nats.Option{nats.Secure(withCert)}, false},
	} {
		nc, err := nats.Connect("nats://"+addr, append(tc.opts, nats.Timeout(2*time.Second))...)
		if err == nil {
			err = nc.Publish(EventsSubject("client-port"), []byte("{}"))
			if err == nil {
				err = nc.Flush()
			}
			nc.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s: connect and publish: %v, want success %v", tc.name, err, tc.ok)
		}
	}
}
