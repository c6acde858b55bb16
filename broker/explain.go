package broker

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kerr"
)

// AuthError is a connection to a region's cluster that failed to
// authenticate: SASL credentials refused, or TLS verification failing on
// either side. Its message names the region, the mechanism and the user or
// certificate, and where the secret comes from (never the secret), so an
// operator knows which setting to fix.
type AuthError struct {
	Region string
	// What failed, for example `sasl SCRAM-SHA-512 as user "geomesh"`.
	What string
	// Hint says which topology setting to check.
	Hint string
	Err  error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("region %s: kafka authentication failed: %s; %s: %v", e.Region, e.What, e.Hint, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// Explain turns an error from a region's cluster into an *AuthError when
// it is an authentication or TLS failure, and returns it unchanged
// otherwise. franz-go reports these deep inside a request's error; the
// operator needs to know which region, mechanism and credential.
func Explain(region string, k *topology.Kafka, err error) error {
	var ae *AuthError
	if err == nil || k == nil || errors.As(err, &ae) {
		return err
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		opErr     *net.OpError
	)
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed) && k.SASL != nil:
		s := k.SASL
		return &AuthError{Region: region, What: fmt.Sprintf("sasl %s as user %q", s.Mechanism, s.Username),
			Hint: fmt.Sprintf("check the user name and the password in %s", s.Password), Err: err}
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.UnsupportedSaslMechanism),
		errors.Is(err, kerr.IllegalSaslState):
		return &AuthError{Region: region, What: "sasl", Hint: "the brokers want SASL: set kafka.sasl", Err: err}
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid):
		hint := "set kafka.tls.ca_file to the CA that signed the brokers' certificates"
		if k.TLS != nil && k.TLS.CAFile != "" {
			hint = fmt.Sprintf("check that %s holds the CA of the brokers' certificates and that they name the bootstrap host or kafka.tls.server_name", k.TLS.CAFile)
		}
		return &AuthError{Region: region, What: "tls: broker certificate not trusted", Hint: hint, Err: err}
	case errors.As(err, &opErr) && opErr.Op == "remote error" && strings.HasPrefix(opErr.Err.Error(), "tls:"):
		// A TLS alert from the broker, such as "certificate required" or
		// "bad certificate": crypto/tls keeps the alert type unexported.
		what, hint := "tls: the broker refused the connection", "the broker may require a client certificate: set kafka.tls.cert_file and key_file"
		if k.TLS != nil && k.TLS.CertFile != "" {
			what = fmt.Sprintf("tls: the broker refused client certificate %s", k.TLS.CertFile)
			hint = "check that it is signed by a CA the brokers trust and has not expired"
		}
		return &AuthError{Region: region, What: what, Hint: hint, Err: err}
	}
	return err
}
