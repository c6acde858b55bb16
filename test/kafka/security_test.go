package kafkatest_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
)

// TestSecurity checks what a secured cluster promises: the admin works
// through ClientOptions, a user without ACLs is authenticated but refused,
// a wrong password is refused, and a CA-signed client certificate gets in
// on the mTLS listener.
func TestSecurity(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Options{Security: &kafkatest.Security{
		Users: map[string]string{"alice": "alice-pw"},
	}})
	testkit.CreateTopic(t, testkit.Admin(t, c.ClientOptions()...), 1, -1, nil, "secured")
	produce(t, c, "secured", 1, 0, 10)

	pem, err := os.ReadFile(c.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tc := &tls.Config{RootCAs: pool}
	as := func(user, pass string) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.DialTLSConfig(tc),
			kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		_, err = kadm.NewClient(cl).ListTopics(t.Context(), "secured")
		if err == nil {
			_, err = kadm.NewClient(cl).DescribeTopicConfigs(t.Context(), "secured")
		}
		return err
	}
	if err := as("alice", "wrong"); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("wrong password: got %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	if err := as("alice", "alice-pw"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("alice without ACLs: got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	dir := t.TempDir()
	certFile, keyFile, err := c.ClientCert(dir, "geomesh")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	mtc := tc.Clone()
	mtc.Certificates = []tls.Certificate{pair}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.MTLSBootstrap()...), kgo.DialTLSConfig(mtc))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).BrokerMetadata(t.Context()); err != nil {
		t.Errorf("mTLS client: %v", err)
	}
}
