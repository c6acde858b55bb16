package secure

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/broker"
	"github.com/twmb/franz-go/pkg/kadm"
)

// TestKerberos rotates a principal's key in the KDC: a client holding
// the old keytab is refused with a message naming the region, the
// mechanism and the keytab, and once the new keytab replaces the file the
// same client logs in on its next connection, without being rebuilt.
func TestKerberos(t *testing.T) {
	const principal = "rotating"
	first, err := kdc.AddPrincipal(t.Context(), principal)
	if err != nil {
		t.Fatal(err)
	}
	keytab := filepath.Join(t.TempDir(), principal+".keytab")
	copyFile(t, first, keytab)
	rotated, err := kdc.RotateKey(t.Context(), principal)
	if err != nil {
		t.Fatal(err)
	}
	k := krbKafka(west, principal, keytab)
	cl, err := broker.NewClient("west", k)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ping := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := broker.Ping(ctx, "west", kadm.NewClient(cl))
		return broker.Explain("west", k, err)
	}

	err = ping()
	var ae *broker.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("stale keytab: got %v, want an authentication error", err)
	}
	for _, want := range []string{`region west: kafka authentication failed: sasl GSSAPI as user "rotating"`, "keytab " + keytab} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	t.Logf("stale keytab: %v", err)

	copyFile(t, rotated, keytab)
	took := waitFor(t, 15*time.Second, "login with the rotated keytab", ping)
	t.Logf("the same client logged in %s after the rotated keytab replaced the old one", took.Round(time.Millisecond))
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
