package kafkatest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"
)

// IdP is an OAuth 2 authorization server on loopback for clusters with
// an OAUTHBEARER listener (Security.OAuth): the client credentials grant
// at TokenURL, its RS256 signing key at JWKSURL. A token's subject is the
// client id, so the brokers' principal for a client is User:<client id>.
// The brokers check every token's signature, issuer, audience and
// expiry against it (OAuthBearerValidatorCallbackHandler), with no clock
// skew allowed.
type IdP struct {
	// Lifetime of the tokens the token endpoint issues.
	Lifetime time.Duration

	clients map[string]string
	key     *rsa.PrivateKey
	ln      net.Listener
	srv     *http.Server
	done    chan struct{}

	mu     sync.Mutex
	issued []IssuedToken
}

// IssuedToken is one token the endpoint gave out.
type IssuedToken struct {
	Subject          string
	IssuedAt, Expiry time.Time
}

// Audience is the aud claim of every token; brokers expect it.
const Audience = "kafka"

const idpKeyID = "geomesh-test-1"

// NewIdP generates a signing key for clients (id → secret), whose
// tokens last lifetime. It does no I/O; Start listens.
func NewIdP(clients map[string]string, lifetime time.Duration) (*IdP, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: idp key: %w", err)
	}
	return &IdP{Lifetime: lifetime, clients: clients, key: key}, nil
}

// Start serves the token endpoint and the keys on a loopback port.
func (p *IdP) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("kafkatest: idp: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /jwks", p.jwks)
	p.ln, p.srv, p.done = ln, &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, make(chan struct{})
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln)
	}()
	return nil
}

// Close stops the server; idempotent.
func (p *IdP) Close() error {
	if p.srv == nil {
		return nil
	}
	err := p.srv.Close()
	<-p.done
	p.srv = nil
	return err
}

// Issuer is the iss claim of every token, the server's URL.
func (p *IdP) Issuer() string { return "http://" + p.ln.Addr().String() }

// TokenURL is the token endpoint.
func (p *IdP) TokenURL() string { return p.Issuer() + "/token" }

// JWKSURL is where the brokers read the signing key.
func (p *IdP) JWKSURL() string { return p.Issuer() + "/jwks" }

// Issued returns the tokens the endpoint gave out, in order.
func (p *IdP) Issued() []IssuedToken {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]IssuedToken(nil), p.issued...)
}

// Sign makes a token for subject that expires after lifetime, without
// the token endpoint (and without counting it as issued).
func (p *IdP) Sign(subject string, lifetime time.Duration) (string, error) {
	now := time.Now()
	return p.sign(subject, now, now.Add(lifetime))
}

func (p *IdP) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || r.FormValue("grant_type") != "client_credentials" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "client credentials grant with HTTP Basic client authentication only")
		return
	}
	if want, known := p.clients[id]; !known || want != secret {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	now := time.Now()
	// exp is in whole seconds; so is the expiry recorded.
	exp := time.Unix(now.Add(p.Lifetime).Unix(), 0)
	tok, err := p.sign(id, now, exp)
	if err != nil {
		writeOAuthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	p.mu.Lock()
	p.issued = append(p.issued, IssuedToken{Subject: id, IssuedAt: now, Expiry: exp})
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(p.Lifetime / time.Second)})
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (p *IdP) jwks(w http.ResponseWriter, _ *http.Request) {
	b64 := base64.RawURLEncoding.EncodeToString
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": idpKeyID,
		"n": b64(p.key.N.Bytes()), "e": b64(big.NewInt(int64(p.key.E)).Bytes()),
	}}})
}

// sign builds an RS256 JWT (RFC 7519) with the claims Kafka's broker
// validator requires: sub, iat, exp, and the iss and aud it expects.
func (p *IdP) sign(subject string, iat, exp time.Time) (string, error) {
	if p.ln == nil {
		return "", errors.New("kafkatest: idp not started")
	}
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": idpKeyID})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{"sub": subject, "iss": p.Issuer(), "aud": Audience,
		"iat": iat.Unix(), "exp": exp.Unix(), "scope": "kafka"})
	if err != nil {
		return "", err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	input := b64(header) + "." + b64(claims)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}
