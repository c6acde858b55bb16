package broker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
)

// TestExplainKerberosLogin checks that a GSSAPI login failing on the
// client's side (here a keytab that is not a keytab) is explained with
// the region, the mechanism, the user and the keytab; the login against
// a real KDC is test/secure's.
func TestExplainKerberosLogin(t *testing.T) {
	dir := t.TempDir()
	krb5, keytab := filepath.Join(dir, "krb5.conf"), filepath.Join(dir, "geomesh.keytab")
	if err := os.WriteFile(krb5, []byte("[libdefaults]\n  default_realm = EXAMPLE.COM\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keytab, []byte("not a keytab"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testkit.RefusedAddr(t)
	k := &topology.Kafka{Bootstrap: []string{addr}, SASL: &topology.SASL{
		Mechanism: "GSSAPI", Username: "geomesh", Keytab: keytab, Realm: "EXAMPLE.COM", Krb5Conf: krb5, ServiceName: "kafka"}}
	m, err := mechanism(k.SASL)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = m.Authenticate(t.Context(), addr)
	if err == nil {
		t.Fatal("logged in with a broken keytab")
	}
	err = Explain("east", k, err)
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want an *AuthError", err)
	}
	for _, want := range []string{`region east: kafka authentication failed: sasl GSSAPI as user "geomesh"`,
		"keytab " + keytab + " holds the current key of geomesh@EXAMPLE.COM", krb5} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not contain %q", err, want)
		}
	}
	if other := errors.New("connection refused"); Explain("east", k, other) != other {
		t.Error("an error that is no login failure was explained as one")
	}
}
