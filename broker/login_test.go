package broker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/geomesh/geomesh/topology"
)

// idp is a token endpoint for the tokenSource tests: it checks the
// client's credentials and counts requests.
type idp struct {
	mu       sync.Mutex
	requests int
	fail     bool // answer 503
	body     func(n int) string
}

func (p *idp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.requests++
	n, fail := p.requests, p.fail
	p.mu.Unlock()
	id, secret, ok := r.BasicAuth()
	switch {
	case fail:
		http.Error(w, "down", http.StatusServiceUnavailable)
	case r.Method != http.MethodPost || r.FormValue("grant_type") != "client_credentials":
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"unsupported_grant_type"}`)
	case !ok || id != "geomesh" || secret != "s3cret:&=" || r.FormValue("scope") != "kafka admin" || r.FormValue("audience") != "brokers":
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client","error_description":"bad client credentials"}`)
	default:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, p.body(n))
	}
}

func (p *idp) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

// TestTokenSource drives the client credentials grant on a fake clock:
// one request per token, a new one after 80 % of its lifetime, the kept
// token while the endpoint fails and it has not expired, and a message
// naming the endpoint, the client and the provider's error (never the
// secret) when nothing else is left.
func TestTokenSource(t *testing.T) {
	p := &idp{body: func(n int) string {
		return fmt.Sprintf(`{"access_token":"tok-%d","token_type":"Bearer","expires_in":100}`, n)
	}}
	srv := httptest.NewServer(p)
	defer srv.Close()
	t.Setenv("GEOMESH_TEST_OAUTH_SECRET", "s3cret:&=")
	cfg := &topology.OAuth{TokenEndpoint: srv.URL, ClientID: "geomesh", ClientSecret: topology.Secret{Ref: "env:GEOMESH_TEST_OAUTH_SECRET"},
		Scope: []string{"kafka", "admin"}, Audience: "brokers"}
	now := time.Unix(1_800_000_000, 0)
	s := newTokenSource(cfg)
	s.now = func() time.Time { return now }
	get := func() (string, error) { return s.Token(t.Context()) }

	steps := []struct {
		name     string
		advance  time.Duration
		fail     bool
		want     string
		requests int
		err      bool
	}{
		{name: "first login", want: "tok-1", requests: 1},
		{name: "kept until 80s", advance: 79 * time.Second, want: "tok-1", requests: 1},
		{name: "new after 80s", advance: 2 * time.Second, want: "tok-2", requests: 2},
		{name: "endpoint down, token valid", advance: 85 * time.Second, fail: true, want: "tok-2", requests: 3},
		{name: "endpoint down, token expired", advance: 20 * time.Second, fail: true, err: true, requests: 4},
		{name: "endpoint back", advance: time.Second, want: "tok-5", requests: 5},
	}
	for _, st := range steps {
		now = now.Add(st.advance)
		p.mu.Lock()
		p.fail = st.fail
		p.mu.Unlock()
		tok, err := get()
		if (err != nil) != st.err || tok != st.want || p.count() != st.requests {
			t.Errorf("%s: token %q, err %v, %d requests; want %q, error %v, %d requests", st.name, tok, err, p.count(), st.want, st.err, st.requests)
		}
		if err != nil && (!errors.Is(err, errTokenEndpoint) || !strings.Contains(err.Error(), srv.URL) || !strings.Contains(err.Error(), "503")) {
			t.Errorf("%s: error %v does not name the endpoint and its answer", st.name, err)
		}
	}

	t.Setenv("GEOMESH_TEST_OAUTH_SECRET", "wrong")
	s = newTokenSource(cfg)
	_, err := s.Token(t.Context())
	k := &topology.Kafka{SASL: &topology.SASL{Mechanism: "OAUTHBEARER", OAuth: cfg}}
	err = Explain("east", k, err)
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("refused client: %v, want an AuthError", err)
	}
	for _, want := range []string{`region east: kafka authentication failed: sasl OAUTHBEARER as client "geomesh" of ` + srv.URL,
		"env:GEOMESH_TEST_OAUTH_SECRET", "401 Unauthorized: invalid_client bad client credentials"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error shows the secret: %v", err)
	}
}

// TestTokenLifetimeFromJWT: without expires_in, the token's exp claim
// sets the refresh.
func TestTokenLifetimeFromJWT(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	claims := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"sub":"geomesh","exp":%d}`, now.Add(50*time.Second).Unix()))
	jwt := "eyJhbGciOiJSUzI1NiJ9." + claims + ".c2ln"
	p := &idp{body: func(int) string { return fmt.Sprintf(`{"access_token":%q,"token_type":"bearer"}`, jwt) }}
	srv := httptest.NewServer(p)
	defer srv.Close()
	t.Setenv("GEOMESH_TEST_OAUTH_SECRET", "s3cret:&=")
	s := newTokenSource(&topology.OAuth{TokenEndpoint: srv.URL, ClientID: "geomesh", ClientSecret: topology.Secret{Ref: "env:GEOMESH_TEST_OAUTH_SECRET"},
		Scope: []string{"kafka", "admin"}, Audience: "brokers"})
	s.now = func() time.Time { return now }
	if _, err := s.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	if want := now.Add(40 * time.Second); !s.refresh.Equal(want) {
		t.Errorf("refresh at %v, want %v (80 %% of the 50s to exp)", s.refresh, want)
	}
	if _, err := jwtExpiry("opaque-token"); err == nil {
		t.Error("an opaque token has an expiry")
	}
}

// TestMSKIAMSignature checks what AWS_MSK_IAM sends against the AWS
// SDK's own SigV4 presigner: the same request (GET / with
// Action=kafka-cluster:Connect on the broker host, 900 s, the host
// signed) at the same time with the same credentials must give the same
// signature, credential scope and session token. The credentials come
// through the SDK's chain from the environment and from a named profile.
func TestMSKIAMSignature(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("[geomesh]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile/secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env/secret+key")
	t.Setenv("AWS_SESSION_TOKEN", "session-token/+=")
	const host = "b-1.shop.abc123.c2.kafka.eu-west-1.amazonaws.com"

	for _, tc := range []struct {
		name    string
		cfg     *topology.AWSIAM
		key     aws.Credentials
		session bool
	}{
		{"environment", nil, aws.Credentials{AccessKeyID: "AKIDENV", SecretAccessKey: "env/secret+key", SessionToken: "session-token/+="}, true},
		{"profile", &topology.AWSIAM{Profile: "geomesh"}, aws.Credentials{AccessKeyID: "AKIDPROFILE", SecretAccessKey: "profile/secret"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg != nil {
				// A named profile outranks the environment's keys only
				// without them, as in the SDK's chain.
				t.Setenv("AWS_ACCESS_KEY_ID", "")
				t.Setenv("AWS_SECRET_ACCESS_KEY", "")
				t.Setenv("AWS_SESSION_TOKEN", "")
			}
			_, first, err := newAWSSigner(tc.cfg).mechanism().Authenticate(t.Context(), host+":9098")
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]string
			if err := json.Unmarshal(first, &got); err != nil {
				t.Fatalf("%s: %v", first, err)
			}
			at, err := time.Parse("20060102T150405Z", got["x-amz-date"])
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodGet, "https://"+host+"/?Action="+url.QueryEscape("kafka-cluster:Connect")+"&X-Amz-Expires=900", nil)
			signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), tc.key, req,
				"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "kafka-cluster", "eu-west-1", at)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(signed)
			if err != nil {
				t.Fatal(err)
			}
			want := u.Query()
			for key, w := range map[string]string{
				"x-amz-signature":      want.Get("X-Amz-Signature"),
				"x-amz-credential":     want.Get("X-Amz-Credential"),
				"x-amz-security-token": want.Get("X-Amz-Security-Token"),
				"x-amz-signedheaders":  "host",
				"x-amz-expires":        "900",
				"action":               "kafka-cluster:Connect",
				"host":                 host,
				"version":              "2020_10_22",
				"user-agent":           "geomesh",
			} {
				if got[key] != w {
					t.Errorf("%s: %q, the SDK's presigner gives %q", key, got[key], w)
				}
			}
			if (got["x-amz-security-token"] != "") != tc.session {
				t.Errorf("session token %q, want one: %v", got["x-amz-security-token"], tc.session)
			}
			if !strings.HasPrefix(got["x-amz-credential"], tc.key.AccessKeyID+"/"+at.Format("20060102")+"/eu-west-1/kafka-cluster/aws4_request") {
				t.Errorf("credential %q", got["x-amz-credential"])
			}
		})
	}

	t.Run("no credentials", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, _, err := newAWSSigner(nil).mechanism().Authenticate(ctx, host+":9098")
		k := &topology.Kafka{SASL: &topology.SASL{Mechanism: "AWS_MSK_IAM"}, TLS: &topology.TLS{}}
		var ae *AuthError
		if err = Explain("eu-west", k, err); !errors.As(err, &ae) || !strings.Contains(err.Error(), "sasl AWS_MSK_IAM") {
			t.Errorf("no credentials: %v, want an AuthError naming AWS_MSK_IAM", err)
		}
	})
}
