package secure

import (
	"testing"

	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/topology"
)

// TestKerberos connects with GSSAPI against an MIT KDC the harness
// starts, with a keytab, as the topology describes it; a keytab of another
// principal is refused with a message naming the region and mechanism.
func TestKerberos(t *testing.T) {
	kdc := kafkatest.StartKDC(t)
	keytab, err := kdc.AddPrincipal(t.Context(), geomeshUser)
	if err != nil {
		t.Fatal(err)
	}
	c := kafkatest.Start(t, kafkatest.Options{Security: &kafkatest.Security{
		Kerberos:   kdc,
		SuperUsers: []string{"User:" + geomeshUser},
	}})
	k := &topology.Kafka{
		Bootstrap: c.KerberosBootstrap(),
		TLS:       &topology.TLS{CAFile: c.CAFile()},
		SASL: &topology.SASL{Mechanism: "GSSAPI", Username: geomeshUser, Keytab: keytab, Realm: kafkatest.KDCRealm,
			Krb5Conf: kdc.Krb5Conf(), ServiceName: "kafka"},
	}
	if err := roundTrip(t, "krb", k, "kerberos-roundtrip"); err != nil {
		t.Fatal(err)
	}
}
