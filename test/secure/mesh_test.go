package secure

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/topology"
)

// mechanisms are the ways geomesh authenticates to Kafka, as kafkaAs
// names them: the SASL mechanisms over SASL_SSL, and a client certificate
// alone on the mTLS listener.
var mechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER", "mTLS"}

// kafkaAs is the topology's view of cluster c as user geomesh
// authenticating with mech, one of mechanisms. The password mechanisms
// take the password from pass; GSSAPI uses geomesh's keytab, OAUTHBEARER
// tokens of idp for client geomesh, and mTLS a certificate for
// CN=geomesh signed by c's CA.
func kafkaAs(t testing.TB, c *kafkatest.Cluster, mech string, pass topology.Secret) *topology.Kafka {
	t.Helper()
	switch mech {
	case "GSSAPI":
		return krbKafka(c, geomeshUser, geomeshKeytab)
	case "OAUTHBEARER":
		return oauthKafka(c, topology.Secret{Ref: "file:" + testkit.TempFile(t, "oauth-secret", oauthSecret+"\n")})
	case "mTLS":
		return mtlsKafka(t, c, geomeshUser)
	}
	return saslKafka(c, mech, geomeshUser, pass)
}

// saslKafka is the topology's view of cluster c over SASL_SSL.
func saslKafka(c *kafkatest.Cluster, mech, user string, pass topology.Secret) *topology.Kafka {
	return &topology.Kafka{
		Bootstrap: c.Bootstrap(),
		TLS:       &topology.TLS{CAFile: c.CAFile()},
		SASL:      &topology.SASL{Mechanism: mech, Username: user, Password: pass},
	}
}

// krbKafka is the topology's view of cluster c over SASL_SSL with
// GSSAPI, logging in as user with the key in keytab.
func krbKafka(c *kafkatest.Cluster, user, keytab string) *topology.Kafka {
	return &topology.Kafka{
		Bootstrap: c.KerberosBootstrap(),
		TLS:       &topology.TLS{CAFile: c.CAFile()},
		SASL: &topology.SASL{Mechanism: "GSSAPI", Username: user, Keytab: keytab, Realm: kafkatest.KDCRealm,
			Krb5Conf: kdc.Krb5Conf(), ServiceName: "kafka"},
	}
}

// oauthKafka is the topology's view of cluster c on its OAUTHBEARER
// listener as idp's client geomesh, with the client secret in secret.
func oauthKafka(c *kafkatest.Cluster, secret topology.Secret) *topology.Kafka {
	return &topology.Kafka{
		Bootstrap: c.OAuthBootstrap(),
		TLS:       &topology.TLS{CAFile: c.CAFile()},
		SASL: &topology.SASL{Mechanism: "OAUTHBEARER", OAuth: &topology.OAuth{
			TokenEndpoint: idp.TokenURL(), ClientID: geomeshUser, ClientSecret: secret, Scope: []string{"kafka"}}},
	}
}

// mtlsKafka is the topology's view of cluster c on its mTLS listener with
// a fresh certificate for CN=cn.
func mtlsKafka(t testing.TB, c *kafkatest.Cluster, cn string) *topology.Kafka {
	t.Helper()
	cert, key, err := c.ClientCert(t.TempDir(), cn)
	if err != nil {
		t.Fatal(err)
	}
	return &topology.Kafka{Bootstrap: c.MTLSBootstrap(), TLS: &topology.TLS{CAFile: c.CAFile(), CertFile: cert, KeyFile: key}}
}

// kafkaYAML writes k as the topology file's kafka section, in flow style
// (JSON is YAML), so that a test's connection goes through the same
// loading and validation as an operator's file.
func kafkaYAML(t testing.TB, k *topology.Kafka) string {
	t.Helper()
	type tlsKeys struct {
		CAFile   string `json:"ca_file,omitempty"`
		CertFile string `json:"cert_file,omitempty"`
		KeyFile  string `json:"key_file,omitempty"`
	}
	type oauthKeys struct {
		TokenEndpoint string   `json:"token_endpoint"`
		ClientID      string   `json:"client_id"`
		ClientSecret  string   `json:"client_secret"`
		Scope         []string `json:"scope,omitempty"`
	}
	type saslKeys struct {
		Mechanism   string     `json:"mechanism"`
		Username    string     `json:"username,omitempty"`
		OAuth       *oauthKeys `json:"oauth,omitempty"`
		Password    string     `json:"password,omitempty"`
		Keytab      string     `json:"keytab,omitempty"`
		Realm       string     `json:"realm,omitempty"`
		Krb5Conf    string     `json:"krb5_conf,omitempty"`
		ServiceName string     `json:"service_name,omitempty"`
	}
	out := struct {
		Bootstrap  []string          `json:"bootstrap"`
		TLS        *tlsKeys          `json:"tls,omitempty"`
		SASL       *saslKeys         `json:"sasl,omitempty"`
		Principals map[string]string `json:"principals,omitempty"`
	}{Bootstrap: k.Bootstrap, Principals: k.Principals}
	if k.TLS != nil {
		out.TLS = &tlsKeys{CAFile: k.TLS.CAFile, CertFile: k.TLS.CertFile, KeyFile: k.TLS.KeyFile}
	}
	if s := k.SASL; s != nil {
		out.SASL = &saslKeys{Mechanism: s.Mechanism, Username: s.Username, Password: s.Password.Ref,
			Keytab: s.Keytab, Realm: s.Realm, Krb5Conf: s.Krb5Conf, ServiceName: s.ServiceName}
		if o := s.OAuth; o != nil {
			out.SASL.OAuth = &oauthKeys{TokenEndpoint: o.TokenEndpoint, ClientID: o.ClientID, ClientSecret: o.ClientSecret.Ref, Scope: o.Scope}
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// meshFile writes an active-passive mesh east → west of the topics named
// <mesh>-*, each region reached through kafka(cluster), and returns its
// path. extra holds further top-level sections. The control plane is an
// address that refuses connections, so the agent replicates the file's
// flows at once.
func meshFile(t testing.TB, mesh, extra string, kafka func(*kafkatest.Cluster) *topology.Kafka) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "mesh: %s\ntopology: {kind: active-passive, primary: east, standby: [west]}\ntopics: {include: [\"%s-.*\"]}\nregions:\n", mesh, mesh)
	for _, r := range []struct {
		name       string
		c          *kafkatest.Cluster
		principals map[string]string
	}{{"east", east, nil}, {"west", west, map[string]string{"User:reporter": "User:reporter-west"}}} {
		k := kafka(r.c)
		k.Principals = r.principals
		fmt.Fprintf(&b, "  - name: %s\n    kafka: %s\n    agents:\n      - {id: %s-1, gossip: %s, api: %s}\n",
			r.name, kafkaYAML(t, k), r.name, testkit.FreeAddr(t), testkit.FreeAddr(t))
	}
	fmt.Fprintf(&b, "control_plane: {urls: [\"nats://%s\"]}\n%s", testkit.RefusedAddr(t), extra)
	return testkit.TempFile(t, mesh+".yaml", b.String())
}
