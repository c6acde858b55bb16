package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/geomesh/geomesh/topology"
)

// tlsConfig builds a client TLS configuration. The CA pool is read once:
// a changed CA needs a restart anyway because existing connections were
// verified against the old one. The client certificate is re-read when
// its files change so that short-lived certificates rotate in place.
func tlsConfig(t *topology.TLS) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // an explicit operator choice in the topology file
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca file %s: no PEM certificate found", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		if t.CertFile == "" || t.KeyFile == "" {
			return nil, errors.New("client certificate needs both cert_file and key_file")
		}
		r := NewKeyPair(t.CertFile, t.KeyFile)
		if _, err := r.Load(); err != nil {
			return nil, fmt.Errorf("client %w", err)
		}
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return r.Load()
		}
	}
	return tc, nil
}

// KeyPair is a certificate and key on disk, loaded again whenever either
// file's modification time changes, so that short-lived certificates
// rotate without a restart. It serves client certificates to Kafka and
// the agent's own API certificate. Safe for concurrent use.
type KeyPair struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	certMod time.Time
	keyMod  time.Time
}

// NewKeyPair describes a key pair; it does no I/O.
func NewKeyPair(certFile, keyFile string) *KeyPair {
	return &KeyPair{certFile: certFile, keyFile: keyFile}
}

// Load returns the key pair, reading the files when they changed since
// the last call.
func (r *KeyPair) Load() (*tls.Certificate, error) {
	cs, err := os.Stat(r.certFile)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	ks, err := os.Stat(r.keyFile)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cert != nil && cs.ModTime().Equal(r.certMod) && ks.ModTime().Equal(r.keyMod) {
		return r.cert, nil
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return nil, fmt.Errorf("key pair %s, %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.certMod, r.keyMod = &c, cs.ModTime(), ks.ModTime()
	return r.cert, nil
}
