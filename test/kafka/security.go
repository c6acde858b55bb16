package kafkatest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Security turns on encryption, authentication and authorization for
// every listener of a cluster, as a production cluster would run:
//
//   - SASL_SSL on the client port (Cluster.Bootstrap): TLS with a broker
//     certificate signed by a CA the harness generates (Cluster.CAFile),
//     then SASL with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512;
//   - SSL with ssl.client.auth=required on a second client port
//     (Cluster.MTLSBootstrap): clients authenticate with a certificate
//     from Cluster.ClientCert, and their principal is User:CN=<name>;
//   - the inter-broker and controller listeners use SSL with client
//     authentication too, the brokers presenting their own certificate
//     (principal User:CN=kafka-broker, a super user), so nothing on the
//     cluster is reachable without a credential;
//   - StandardAuthorizer with allow.everyone.if.no.acl.found=false: a
//     principal without an ACL can do nothing.
//
// The harness creates a super user "admin" with a random password, which
// Cluster.ClientOptions uses (SCRAM-SHA-512), so tests create topics and
// ACLs as before.
type Security struct {
	// Users are SASL users, name → password, created when storage is
	// formatted with both SCRAM-SHA-256 and SCRAM-SHA-512 credentials and
	// listed for PLAIN. Names and passwords are letters, digits and
	// "-_.@!#%+" only, since they travel through properties files and
	// the storage tool's command line.
	Users map[string]string

	// Kerberos, when set, adds a SASL_SSL listener with GSSAPI
	// (Cluster.KerberosBootstrap, TLS with the same CA) whose brokers are
	// kafka/127.0.0.1 in this KDC's realm; a client principal
	// geomesh@GEOMESH.TEST is User:geomesh to the authorizer. Clusters
	// may share a KDC: their brokers share the principal and its keytab.
	Kerberos *KDC

	// OAuth, when set, adds a SASL_SSL listener with OAUTHBEARER
	// (Cluster.OAuthBootstrap, TLS with the same CA) whose brokers accept
	// the tokens of this identity provider: signature by its key,
	// issuer, audience, expiry with no clock skew. Connections must
	// re-authenticate (KIP-368) before their token expires, or the broker
	// closes them: connections.max.reauth.ms is set on the listener, so a
	// session lasts until its token's exp. A client's principal is
	// User:<client id>.
	OAuth *IdP

	// SuperUsers are principals allowed everything, in addition to the
	// harness's admin and the brokers: "User:name" for a SASL user,
	// "User:CN=name" for a client certificate.
	SuperUsers []string
}

// AdminUser is the SASL super user the harness creates on secured clusters.
const AdminUser = "admin"

// brokerCN is the common name of every broker's certificate, and so its
// principal on the SSL listeners.
const brokerCN = "kafka-broker"

var credentialRE = regexp.MustCompile(`^[A-Za-z0-9_.@!#%+-]+$`)

func (s *Security) validate() []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(s.Users)) {
		if name == AdminUser {
			errs = append(errs, fmt.Errorf("kafkatest: Security.Users may not define %q: the harness owns it", AdminUser))
		}
		if !credentialRE.MatchString(name) || !credentialRE.MatchString(s.Users[name]) {
			errs = append(errs, fmt.Errorf("kafkatest: Security.Users: user %q: name and password must match %s", name, credentialRE))
		}
	}
	for _, p := range s.SuperUsers {
		if !strings.HasPrefix(p, "User:") || strings.Contains(p, ";") {
			errs = append(errs, fmt.Errorf("kafkatest: Security.SuperUsers: %q is not a principal such as User:name", p))
		}
	}
	return errs
}

// pki is what a secured cluster generated for itself: a CA, the broker key
// pair, the admin password, and where their files are.
type pki struct {
	dir       string
	caCert    *x509.Certificate
	caKey     *ecdsa.PrivateKey
	caFile    string
	keystore  string // broker key and certificate chain, PEM
	adminPass string
	serial    int64
	// brokerKeytab holds kafka/127.0.0.1's key when Security.Kerberos is set.
	brokerKeytab string
}

// newPKI generates the CA and the broker certificate in dir. The broker
// certificate serves both ends of TLS, so that brokers authenticate to
// each other and to the controllers with it.
func newPKI(dir string) (*pki, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: ca key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kafkatest CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: ca certificate: %w", err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pki{dir: dir, caCert: ca, caKey: key, caFile: filepath.Join(dir, "ca.pem"), serial: 1}
	if err := os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, fmt.Errorf("kafkatest: write ca: %w", err)
	}
	certPEM, keyPEM, err := p.issue(brokerCN, true)
	if err != nil {
		return nil, err
	}
	p.keystore = filepath.Join(dir, "broker-keystore.pem")
	if err := os.WriteFile(p.keystore, append(keyPEM, certPEM...), 0o600); err != nil {
		return nil, fmt.Errorf("kafkatest: write keystore: %w", err)
	}
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	p.adminPass = fmt.Sprintf("%x", b)
	return p, nil
}

// issue signs a certificate for cn; a server certificate also names the
// loopback addresses, which is where every node listens.
func (p *pki) issue(cn string, server bool) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("kafkatest: key for %s: %w", cn, err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("kafkatest: certificate for %s: %w", cn, err)
	}
	// Kafka's PEM key store reads unencrypted PKCS#8 keys only.
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("kafkatest: key for %s: %w", cn, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// listenerProperties returns the listener, TLS, SASL and authorizer
// properties of node n on a secured cluster.
func (p *pki) listenerProperties(n *node, sec *Security) map[string]string {
	props := map[string]string{
		"listeners": fmt.Sprintf("SASL_SSL://127.0.0.1:%d,MTLS://127.0.0.1:%d,INTERNAL://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d",
			n.brokerPort, n.mtlsPort, n.internalPort, n.controllerPort),
		"advertised.listeners": fmt.Sprintf("SASL_SSL://%s,MTLS://127.0.0.1:%d,INTERNAL://127.0.0.1:%d",
			n.addr(), n.mtlsPort, n.internalPort),
		"listener.security.protocol.map": "SASL_SSL:SASL_SSL,MTLS:SSL,INTERNAL:SSL,CONTROLLER:SSL",
		"inter.broker.listener.name":     "INTERNAL",

		"ssl.keystore.type":                        "PEM",
		"ssl.keystore.location":                    p.keystore,
		"ssl.truststore.type":                      "PEM",
		"ssl.truststore.location":                  p.caFile,
		"listener.name.mtls.ssl.client.auth":       "required",
		"listener.name.internal.ssl.client.auth":   "required",
		"listener.name.controller.ssl.client.auth": "required",

		"sasl.enabled.mechanisms":                               "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
		"listener.name.sasl_ssl.plain.sasl.jaas.config":         p.plainJAAS(sec),

		"authorizer.class.name":          "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"allow.everyone.if.no.acl.found": "false",
		"super.users":                    strings.Join(append([]string{"User:" + AdminUser, "User:CN=" + brokerCN}, sec.SuperUsers...), ";"),
	}
	if p := sec.OAuth; p != nil {
		props["listeners"] += fmt.Sprintf(",OAUTH://127.0.0.1:%d", n.oauthPort)
		props["advertised.listeners"] += fmt.Sprintf(",OAUTH://127.0.0.1:%d", n.oauthPort)
		props["listener.security.protocol.map"] += ",OAUTH:SASL_SSL"
		props["listener.name.oauth.sasl.enabled.mechanisms"] = "OAUTHBEARER"
		props["listener.name.oauth.oauthbearer.sasl.server.callback.handler.class"] = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
		props["listener.name.oauth.oauthbearer.sasl.jaas.config"] = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"
		props["listener.name.oauth.oauthbearer.connections.max.reauth.ms"] = "3600000"
		// Kafka 4.1's default validator (DefaultJwtValidator, made
		// without a key resolver by the callback handler) checks no
		// signature: any well-formed token would pass. The broker's
		// validator checks the signature against the JWKS, issuer,
		// audience and expiry.
		props["sasl.oauthbearer.jwt.validator.class"] = "org.apache.kafka.common.security.oauthbearer.BrokerJwtValidator"
		props["sasl.oauthbearer.jwks.endpoint.url"] = p.JWKSURL()
		props["sasl.oauthbearer.expected.issuer"] = p.Issuer()
		props["sasl.oauthbearer.expected.audience"] = Audience
		props["sasl.oauthbearer.clock.skew.seconds"] = "0"
	}
	if sec.Kerberos != nil {
		props["listeners"] += fmt.Sprintf(",KERBEROS://127.0.0.1:%d", n.krbPort)
		props["advertised.listeners"] += fmt.Sprintf(",KERBEROS://127.0.0.1:%d", n.krbPort)
		props["listener.security.protocol.map"] += ",KERBEROS:SASL_SSL"
		props["listener.name.kerberos.sasl.enabled.mechanisms"] = "GSSAPI"
		props["listener.name.kerberos.gssapi.sasl.jaas.config"] = fmt.Sprintf(
			`com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true keyTab="%s" principal="kafka/127.0.0.1@%s";`,
			p.brokerKeytab, KDCRealm)
		props["sasl.kerberos.service.name"] = "kafka"
	}
	return props
}

// KerberosBootstrap returns every node's address on the GSSAPI listener;
// nil without Security.Kerberos.
func (c *Cluster) KerberosBootstrap() []string {
	return c.secureListener(func(s *Security) bool { return s.Kerberos != nil }, func(n *node) int { return n.krbPort })
}

// OAuthBootstrap returns every node's address on the OAUTHBEARER
// listener; nil without Security.OAuth.
func (c *Cluster) OAuthBootstrap() []string {
	return c.secureListener(func(s *Security) bool { return s.OAuth != nil }, func(n *node) int { return n.oauthPort })
}

// secureListener returns every node's address on the optional listener
// of a secured cluster that port picks, nil unless on says the cluster
// has it.
func (c *Cluster) secureListener(on func(*Security) bool, port func(*node) int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pki == nil || !on(c.opts.Security) {
		return nil
	}
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", port(n))
	}
	return addrs
}

// plainJAAS lists the PLAIN users; the broker checks PLAIN passwords
// against this list, not against the SCRAM credentials.
func (p *pki) plainJAAS(sec *Security) string {
	var b strings.Builder
	b.WriteString("org.apache.kafka.common.security.plain.PlainLoginModule required")
	fmt.Fprintf(&b, ` user_%s="%s"`, AdminUser, p.adminPass)
	for _, name := range slices.Sorted(maps.Keys(sec.Users)) {
		fmt.Fprintf(&b, ` user_%s="%s"`, name, sec.Users[name])
	}
	b.WriteString(";")
	return b.String()
}

// formatArgs creates the SCRAM credentials in the cluster metadata when
// storage is formatted, before any broker runs: KRaft keeps them there,
// and a cluster whose every listener needs a credential could not be
// given one afterwards without one.
func (p *pki) formatArgs(sec *Security) []string {
	users := map[string]string{AdminUser: p.adminPass}
	for k, v := range sec.Users {
		users[k] = v
	}
	var args []string
	for _, name := range slices.Sorted(maps.Keys(users)) {
		for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
			args = append(args, "--add-scram", fmt.Sprintf("%s=[name=%s,password=%s]", mech, name, users[name]))
		}
	}
	return args
}

// tlsConfig verifies brokers against the cluster's CA.
func (p *pki) tlsConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.caCert)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// adminOptions reach the SASL_SSL listener as the admin.
func (p *pki) adminOptions() []kgo.Opt {
	return []kgo.Opt{
		kgo.DialTLSConfig(p.tlsConfig()),
		kgo.SASL(scram.Auth{User: AdminUser, Pass: p.adminPass}.AsSha512Mechanism()),
	}
}

// CAFile returns the PEM file of the CA that signed the brokers'
// certificates; empty for a cluster without Security.
func (c *Cluster) CAFile() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pki == nil {
		return ""
	}
	return c.pki.caFile
}

// AdminPassword returns the password of AdminUser on a secured cluster.
func (c *Cluster) AdminPassword() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pki == nil {
		return ""
	}
	return c.pki.adminPass
}

// MTLSBootstrap returns every node's address on the listener that
// authenticates clients by certificate; nil without Security.
func (c *Cluster) MTLSBootstrap() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pki == nil {
		return nil
	}
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", n.mtlsPort)
	}
	return addrs
}

// ClientCert writes a client certificate for principal User:CN=<cn>,
// signed by the cluster's CA, and its key as PEM files in dir.
func (c *Cluster) ClientCert(dir, cn string) (certFile, keyFile string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pki == nil {
		return "", "", errors.New("kafkatest: ClientCert needs a cluster with Security")
	}
	certPEM, keyPEM, err := c.pki.issue(cn, false)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("kafkatest: write client certificate: %w", err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("kafkatest: write client key: %w", err)
	}
	return certFile, keyFile, nil
}
