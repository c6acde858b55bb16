package quorum

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/geomesh/geomesh/broker"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// security is what Start reads from Config.TLS and Config.Credentials.
// It is never logged: password is the secret itself.
type security struct {
	tls            *tls.Config
	caFile         string // for messages; "" means the system pool
	user, password string
	accept         []string // further route passwords, never sent
	passwordRef    string   // where password came from, for messages
	nkeySeedFile   string
}

// loadSecurity reads the CA, the key pair and the password. Errors name
// the file or reference, never a secret.
func (n *Node) loadSecurity() (*security, error) {
	embedded := len(n.cfg.URLs) == 0
	sec := &security{}
	if t := n.cfg.TLS; t != nil {
		what := "tls"
		if embedded {
			what = "route tls"
		}
		tc, err := tlsConfig(t.CAFile, t.CertFile, t.KeyFile, t.ServerName, embedded)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		sec.tls, sec.caFile = tc, t.CAFile
	}
	if k := n.cfg.Credentials; k != nil {
		if k.User != "" {
			pw, err := k.Password.Resolve()
			if err != nil {
				return nil, fmt.Errorf("credentials of user %q: %w", k.User, err)
			}
			sec.user, sec.password, sec.passwordRef = k.User, pw, k.Password.String()
		}
		for _, ref := range k.AcceptPasswords {
			pw, err := ref.Resolve()
			if err != nil {
				return nil, fmt.Errorf("accepted passwords of user %q: %w", k.User, err)
			}
			sec.accept = append(sec.accept, pw)
		}
		sec.nkeySeedFile = k.NkeySeedFile
	}
	return sec, nil
}

// tlsConfig builds the TLS configuration of a node. mutual (embedded
// routes) makes it serve the key pair too and require a client
// certificate signed by the CA, so that only holders of the mesh's
// certificates route to a node or are dialled by it. The key pair is
// read again when its files change.
func tlsConfig(caFile, certFile, keyFile, serverName string, mutual bool) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca file %s: no PEM certificate found", caFile)
		}
		tc.RootCAs = pool
		if mutual {
			tc.ClientCAs = pool
			tc.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, errors.New("a certificate needs both cert_file and key_file")
		}
		kp := broker.NewKeyPair(certFile, keyFile)
		if _, err := kp.Load(); err != nil {
			return nil, err
		}
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.Load() }
		if mutual {
			tc.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.Load() }
		}
	}
	return tc, nil
}

// routeAuth admits a route that gives the route user and one of the
// passwords: the node's own or one it accepts during a rotation.
type routeAuth struct {
	user      string
	passwords []string
}

var _ server.Authentication = routeAuth{}

func (a routeAuth) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	if subtle.ConstantTimeCompare([]byte(o.Username), []byte(a.user)) != 1 {
		return false
	}
	ok := false
	for _, p := range a.passwords {
		// Compare with every password, so the time taken tells nothing.
		ok = subtle.ConstantTimeCompare([]byte(o.Password), []byte(p)) == 1 || ok
	}
	return ok
}

// clientOpts are the options of a client of an external cluster.
func (s *security) clientOpts() ([]nats.Option, error) {
	var opts []nats.Option
	if s.tls != nil {
		opts = append(opts, nats.Secure(s.tls))
	}
	if s.user != "" {
		opts = append(opts, nats.UserInfo(s.user, s.password))
	}
	if s.nkeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(s.nkeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nkey seed file %s: %w", s.nkeySeedFile, err)
		}
		opts = append(opts, o)
	}
	return opts, nil
}

// explain says, ahead of a connection error, which credential or
// certificate the servers refused.
func (s *security) explain(err error) string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	switch {
	case errors.Is(err, nats.ErrAuthorization) && s.user != "":
		return fmt.Sprintf("authentication as user %q failed; check the user and the password in %s: ", s.user, s.passwordRef)
	case errors.Is(err, nats.ErrAuthorization) && s.nkeySeedFile != "":
		return fmt.Sprintf("authentication with the nkey of %s failed; check that the server lists its public key: ", s.nkeySeedFile)
	case errors.Is(err, nats.ErrAuthorization):
		return "the servers want credentials and control_plane.credentials sets none: "
	case errors.As(err, &ua) && s.caFile != "":
		return fmt.Sprintf("server certificate not signed by a CA of %s: ", s.caFile)
	case errors.As(err, &ua):
		return "server certificate not trusted by the system pool (set control_plane.tls.ca_file): "
	case errors.As(err, &hn):
		return "server certificate does not name the server (set control_plane.tls.server_name): "
	}
	return ""
}
