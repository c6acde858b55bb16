package secure

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// roundTrip creates a topic through geomesh's connection, produces a
// record and reads it back.
func roundTrip(t *testing.T, region string, k *topology.Kafka, topic string) error {
	t.Helper()
	cl, err := broker.NewClient(region, k, kgo.DefaultProduceTopic(topic), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RequestRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := t.Context()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		return broker.Explain(region, k, err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("hello "+topic)).FirstErr(); err != nil {
		return broker.Explain(region, k, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return broker.Explain(region, k, err)
		}
		if fs.NumRecords() > 0 {
			if got := string(fs.Records()[0].Value); got != "hello "+topic {
				t.Errorf("%s: read %q", topic, got)
			}
			return nil
		}
	}
	t.Fatalf("%s: record not read back within 15s", topic)
	return nil
}

// TestMechanisms connects as geomesh does, with every SASL mechanism the
// topology offers over TLS verified against the cluster's CA, passwords
// from env: and file: references, GSSAPI with a keytab from the KDC, and
// with a client certificate on the listener that requires one.
func TestMechanisms(t *testing.T) {
	t.Setenv("GEOMESH_TEST_KAFKA_PASSWORD", geomeshPass)
	env := topology.Secret{Ref: "env:GEOMESH_TEST_KAFKA_PASSWORD"}
	file := topology.Secret{Ref: "file:" + testkit.TempFile(t, "secret", geomeshPass+"\n")}
	for _, tc := range []struct {
		name string
		k    *topology.Kafka
	}{
		{"plain-env", saslKafka(east, "PLAIN", geomeshUser, env)},
		{"scram-sha-256-file", saslKafka(east, "SCRAM-SHA-256", geomeshUser, file)},
		{"scram-sha-512-env", saslKafka(east, "SCRAM-SHA-512", geomeshUser, env)},
		{"scram-sha-512-file", saslKafka(east, "SCRAM-SHA-512", geomeshUser, file)},
		{"gssapi-keytab", kafkaAs(t, east, "GSSAPI", topology.Secret{})},
		{"oauthbearer-file", kafkaAs(t, east, "OAUTHBEARER", topology.Secret{})},
		{"mtls", kafkaAs(t, east, "mTLS", topology.Secret{})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := roundTrip(t, "east", tc.k, "mech-"+tc.name); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestAuthFailures checks that every way of holding the wrong credential
// fails with a message naming the region and the mechanism or
// certificate, and never the secret.
func TestAuthFailures(t *testing.T) {
	const wrong = "not-the-Password-77"
	t.Setenv("GEOMESH_TEST_WRONG_PASSWORD", wrong)
	env := topology.Secret{Ref: "env:GEOMESH_TEST_WRONG_PASSWORD"}
	noCert := &topology.Kafka{Bootstrap: east.MTLSBootstrap(), TLS: &topology.TLS{CAFile: east.CAFile()}}
	otherCA := mtlsKafka(t, west, geomeshUser) // signed by west's CA, which east does not trust
	otherCA.Bootstrap = east.MTLSBootstrap()
	otherCA.TLS.CAFile = east.CAFile()
	otherKeytab, err := kdc.AddPrincipal(t.Context(), "intruder")
	if err != nil {
		t.Fatal(err)
	}
	// An identity provider the brokers do not know: its tokens name
	// another issuer and carry another key's signature.
	stranger, err := kafkatest.NewIdP(map[string]string{geomeshUser: oauthSecret}, tokenLifetime)
	if err != nil {
		t.Fatal(err)
	}
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	untrusted := oauthKafka(east, topology.Secret{Ref: "file:" + testkit.TempFile(t, "oauth-secret", oauthSecret)})
	untrusted.SASL.OAuth.TokenEndpoint = stranger.TokenURL()
	for _, tc := range []struct {
		name string
		k    *topology.Kafka
		want []string
	}{
		{"scram-sha-512", saslKafka(east, "SCRAM-SHA-512", geomeshUser, env),
			[]string{"region east: kafka authentication failed: sasl SCRAM-SHA-512 as user \"geomesh\"", "env:GEOMESH_TEST_WRONG_PASSWORD"}},
		{"scram-sha-256", saslKafka(east, "SCRAM-SHA-256", geomeshUser, topology.Secret{Ref: "file:" + testkit.TempFile(t, "secret", wrong+"\n")}),
			[]string{"region east: kafka authentication failed: sasl SCRAM-SHA-256 as user \"geomesh\"", "file:"}},
		{"plain", saslKafka(east, "PLAIN", geomeshUser, env),
			[]string{"region east: kafka authentication failed: sasl PLAIN as user \"geomesh\""}},
		{"wrong-ca", withCA(saslKafka(east, "SCRAM-SHA-512", geomeshUser, env), west.CAFile()),
			[]string{"region east: kafka authentication failed: tls: broker certificate not trusted", west.CAFile()}},
		{"no-client-cert", noCert,
			[]string{"region east: kafka authentication failed: tls: the broker refused the connection", "cert_file"}},
		{"untrusted-client-cert", otherCA,
			[]string{"region east: kafka authentication failed: tls: the broker refused client certificate " + otherCA.TLS.CertFile}},
		{"gssapi-wrong-keytab", krbKafka(east, geomeshUser, otherKeytab),
			[]string{"region east: kafka authentication failed: sasl GSSAPI as user \"geomesh\"", otherKeytab}},
		{"oauth-wrong-secret", oauthKafka(east, env),
			[]string{"region east: kafka authentication failed: sasl OAUTHBEARER as client \"geomesh\" of " + idp.TokenURL(),
				"env:GEOMESH_TEST_WRONG_PASSWORD", "401 Unauthorized: invalid_client"}},
		{"oauth-untrusted-issuer", untrusted,
			[]string{"region east: kafka authentication failed: sasl OAUTHBEARER as client \"geomesh\" of " + stranger.TokenURL(), "SASL_AUTHENTICATION_FAILED"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := roundTrip(t, "east", tc.k, "fail-"+tc.name)
			var ae *broker.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want an authentication error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), geomeshPass) {
				t.Errorf("error shows a password: %v", err)
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}
}

func withCA(k *topology.Kafka, caFile string) *topology.Kafka {
	k.TLS.CAFile = caFile
	return k
}
