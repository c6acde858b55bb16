package broker

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// errTokenEndpoint marks an OAUTHBEARER login that failed before the
// broker saw it: the token endpoint refused the client or did not
// answer.
var errTokenEndpoint = errors.New("oauth token endpoint")

// refreshAt is the share of a token's lifetime after which the next
// login asks for a new one, as Kafka's own login refresh does
// (sasl.login.refresh.window.factor 0.8): connections re-authenticate
// (KIP-368) with a token that still has a fifth of its life.
const refreshAt = 0.8

// tokenRequestTimeout bounds one request to the token endpoint.
const tokenRequestTimeout = 10 * time.Second

// tokenSource gets access tokens with the client credentials grant and
// keeps each until refreshAt of its lifetime has passed.
type tokenSource struct {
	cfg *topology.OAuth
	now func() time.Time

	mu      sync.Mutex
	hc      *http.Client // built on the first request: it reads ca_file
	token   string
	refresh time.Time // when the next login asks for a new token
	expiry  time.Time
}

func newTokenSource(cfg *topology.OAuth) *tokenSource {
	return &tokenSource{cfg: cfg, now: time.Now}
}

// mechanism is OAUTHBEARER with this source's tokens and the configured
// SASL extensions.
func (s *tokenSource) mechanism() sasl.Mechanism {
	return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
		tok, err := s.Token(ctx)
		if err != nil {
			return oauth.Auth{}, err
		}
		return oauth.Auth{Token: tok, Extensions: s.cfg.Extensions}, nil
	})
}

// Token returns a token to log in with: the kept one until its refresh
// time, else a new one. When the endpoint fails and the kept token has
// not expired, that one serves, so a brief outage of the identity
// provider costs no connection.
func (s *tokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.token != "" && now.Before(s.refresh) {
		return s.token, nil
	}
	tok, lifetime, err := s.fetch(ctx)
	if err != nil {
		if s.token != "" && now.Before(s.expiry) {
			return s.token, nil
		}
		return "", fmt.Errorf("%w %s: %w", errTokenEndpoint, s.cfg.TokenEndpoint, err)
	}
	s.token = tok
	s.refresh = now.Add(time.Duration(float64(lifetime) * refreshAt))
	s.expiry = now.Add(lifetime)
	return tok, nil
}

// tokenResponse is the token endpoint's answer (RFC 6749 sections 5.1
// and 5.2).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// fetch asks the token endpoint for a token and returns it with its
// lifetime: expires_in, else the token's own exp claim.
func (s *tokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	if s.hc == nil {
		var tc *tls.Config
		if s.cfg.CAFile != "" {
			var err error
			if tc, err = tlsConfig(&topology.TLS{CAFile: s.cfg.CAFile}); err != nil {
				return "", 0, err
			}
		}
		s.hc = &http.Client{Timeout: tokenRequestTimeout, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
	}
	secret, err := s.cfg.ClientSecret.Resolve()
	if err != nil {
		return "", 0, fmt.Errorf("client secret: %w", err)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(s.cfg.Scope) > 0 {
		form.Set("scope", strings.Join(s.cfg.Scope, " "))
	}
	if s.cfg.Audience != "" {
		form.Set("audience", s.cfg.Audience)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// Not form-encoded first, as RFC 6749 section 2.3.1 would have it:
	// Kafka's clients do not by default (sasl.oauthbearer.header.urlencode,
	// KIP-1025), and identity providers that serve them expect that.
	req.SetBasicAuth(s.cfg.ClientID, secret)
	resp, err := s.hc.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("reading the answer: %w", err)
	}
	var tr tokenResponse
	jsonErr := json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK {
		if jsonErr == nil && tr.Error != "" {
			return "", 0, fmt.Errorf("client %q refused: %s: %s %s", s.cfg.ClientID, resp.Status, tr.Error, tr.Description)
		}
		return "", 0, fmt.Errorf("client %q refused: %s", s.cfg.ClientID, resp.Status)
	}
	switch {
	case jsonErr != nil:
		return "", 0, fmt.Errorf("answer is not a token response: %w", jsonErr)
	case tr.AccessToken == "":
		return "", 0, errors.New("answer has no access_token")
	case tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer"):
		return "", 0, fmt.Errorf("token type %q, want Bearer", tr.TokenType)
	}
	if tr.ExpiresIn > 0 {
		return tr.AccessToken, time.Duration(tr.ExpiresIn) * time.Second, nil
	}
	exp, err := jwtExpiry(tr.AccessToken)
	if err != nil {
		return "", 0, fmt.Errorf("answer has no expires_in, and the token's exp: %w", err)
	}
	return tr.AccessToken, exp.Sub(s.now()), nil
}

// jwtExpiry reads the exp claim of a JWT without verifying it: the
// brokers verify; the client only needs to know when to refresh.
func jwtExpiry(token string) (time.Time, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, errors.New("the token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, fmt.Errorf("JWT payload: %w", err)
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, fmt.Errorf("JWT payload: %w", err)
	}
	if claims.Exp == nil {
		return time.Time{}, errors.New("the JWT has no exp claim")
	}
	return time.Unix(int64(*claims.Exp), 0), nil
}
