package broker

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
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
	case (errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, errKerberos) ||
		errors.Is(err, errTokenEndpoint) || errors.Is(err, errAWSCredentials)) && k.SASL != nil:
		s := k.SASL
		what := fmt.Sprintf("sasl %s as user %q", s.Mechanism, s.Username)
		hint := fmt.Sprintf("check the user name and the password in %s", s.Password)
		switch s.Mechanism {
		case "GSSAPI":
			hint = fmt.Sprintf("check that keytab %s holds the current key of %s@%s and that %s names the realm's KDCs",
				s.Keytab, s.Username, s.Realm, s.Krb5Conf)
		case "OAUTHBEARER":
			what = fmt.Sprintf("sasl OAUTHBEARER as client %q of %s", s.OAuth.ClientID, s.OAuth.TokenEndpoint)
			hint = fmt.Sprintf("check the client id and the secret in %s with the identity provider, and that the brokers trust its tokens (issuer, audience, signing keys)", s.OAuth.ClientSecret)
		case "AWS_MSK_IAM":
			what = "sasl AWS_MSK_IAM"
			hint = "check the AWS credentials the chain finds (AWS_PROFILE, AWS_ACCESS_KEY_ID, web identity, instance role) and that their IAM policy allows kafka-cluster:Connect on the cluster"
		}
		return &AuthError{Region: region, What: what, Hint: hint, Err: err}
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

// Principal is the Kafka principal a region's brokers see for geomesh:
// User:<name> with SASL, User:<certificate subject> with a client
// certificate alone, and User:ANONYMOUS without either. A certificate that
// cannot be read gives its file name, so the message still says where to
// look.
func Principal(k *topology.Kafka) string {
	switch {
	case k == nil:
		return "User:ANONYMOUS"
	case k.SASL != nil && k.SASL.Mechanism == "OAUTHBEARER" && k.SASL.OAuth != nil:
		return "User:" + k.SASL.OAuth.Subject()
	case k.SASL != nil && k.SASL.Mechanism == "AWS_MSK_IAM":
		return "the IAM identity of the AWS credentials"
	case k.SASL != nil:
		return "User:" + k.SASL.Username
	case k.TLS != nil && k.TLS.CertFile != "":
		b, err := os.ReadFile(k.TLS.CertFile)
		if err != nil {
			return "the principal of " + k.TLS.CertFile
		}
		block, _ := pem.Decode(b)
		if block == nil {
			return "the principal of " + k.TLS.CertFile
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return "the principal of " + k.TLS.CertFile
		}
		// Kafka's default principal is the subject in RFC 2253 form, which
		// is what pkix.Name.String gives.
		return "User:" + c.Subject.String()
	}
	return "User:ANONYMOUS"
}

// Denied explains an authorization failure of a request geomesh made on a
// region's cluster: which principal lacks which operation on which
// resource, so the operator can add exactly that ACL. Other errors are
// returned unchanged.
func Denied(region string, k *topology.Kafka, operation, resource string, err error) error {
	if !IsAuthorization(err) {
		return err
	}
	return fmt.Errorf("region %s: %s may not %s %s (grant it with an ACL; docs/security.md lists what geomesh needs): %w",
		region, Principal(k), operation, resource, err)
}

// IsAuthorization reports whether err is a broker refusing a request for
// lack of an ACL.
func IsAuthorization(err error) bool {
	return errors.Is(err, kerr.TopicAuthorizationFailed) ||
		errors.Is(err, kerr.GroupAuthorizationFailed) ||
		errors.Is(err, kerr.ClusterAuthorizationFailed) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}
