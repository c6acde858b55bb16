package apiserve

import (
	"crypto/subtle"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/topology"
	"github.com/prometheus/client_golang/prometheus"
)

// access is what a request needs to be served.
type access int

const (
	accessOpen  access = iota // /healthz, /readyz: up or ready, nothing more
	accessRead                // status, metrics, translate, the page
	accessAdmin               // anything that changes the mesh
)

// classify decides what a request needs from its method and path alone,
// so that an endpoint added later is protected without being listed: a
// GET reads, everything else changes something, and so does a GET that
// asks to apply (?apply=true).
func classify(r *http.Request) access {
	switch {
	case r.URL.Path == "/healthz" || r.URL.Path == "/readyz":
		return accessOpen
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		return accessAdmin
	case r.URL.Query().Has("apply") && r.URL.Query().Get("apply") != "false":
		return accessAdmin
	}
	return accessRead
}

// Authenticator checks bearer tokens against the topology's api section.
// Tokens are resolved on every request, so a rotated token file takes
// effect at once; reading a small file costs microseconds. It holds the
// counters of the API's refusals: requests without a valid token, and
// connections without one shed by the server's guard (server.go).
type Authenticator struct {
	api          topology.API
	unauthorized *prometheus.CounterVec
	shed         prometheus.Counter
}

func NewAuthenticator(api topology.API, reg prometheus.Registerer) (*Authenticator, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "geomesh_api_unauthorized_total",
		Help: "API requests refused for a missing or wrong bearer token, by endpoint path.",
	}, []string{"endpoint"})
	shed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "geomesh_api_connections_shed_total",
		Help: "API connections without a valid token closed by the agent because too many such connections were open (oldest first, those waiting for a request before those in one).",
	})
	for _, col := range []prometheus.Collector{c, shed} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return &Authenticator{api: api, unauthorized: c, shed: shed}, nil
}

// wrap serves h to requests that carry the token their class needs, and
// answers the others 401 with a short JSON error that never echoes what
// was sent. It decides on the request line and headers alone, before
// anything reads a body; a refusal closes the connection without reading
// the body either (hangUp). A connection that showed a valid token no
// longer counts against the server's bound on pending connections.
func (au *Authenticator) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		need := classify(r)
		if need == accessOpen {
			h.ServeHTTP(w, r)
			return
		}
		ok, byToken, err := au.allowed(need, r.Header.Get("Authorization"))
		if err != nil {
			// A token file that cannot be read refuses everyone rather than
			// opening the API; the reference, never a value, is in err.
			hangUp(w)
			WriteJSON(w, http.StatusInternalServerError, api.ErrorResponse{Error: "api token unavailable: " + err.Error()})
			return
		}
		if !ok {
			au.unauthorized.WithLabelValues(endpointLabel(r)).Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="geomesh"`)
			hangUp(w)
			msg := "a valid read or admin bearer token is required"
			if need == accessAdmin {
				msg = "a valid admin bearer token is required"
			}
			WriteJSON(w, http.StatusUnauthorized, api.ErrorResponse{Error: msg})
			return
		}
		if byToken {
			authenticated(r)
		}
		h.ServeHTTP(w, r)
	})
}

// endpointLabel keeps the metric's label set small: known endpoints by
// path, anything else as "other".
func endpointLabel(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/" || p == "/metrics" || strings.HasPrefix(p, "/v1/") && strings.Count(p, "/") == 2:
		return p
	}
	return "other"
}

// allowed reports whether a request with the Authorization header
// may be served as need, and whether a token showed it (false when no
// token of the class is configured).
func (au *Authenticator) allowed(need access, header string) (ok, byToken bool, err error) {
	admin, read := au.api.AdminToken, au.api.ReadToken
	if need == accessAdmin && admin.Ref == "" || need == accessRead && read.Ref == "" {
		return true, false, nil // no token configured for this class
	}
	got, found := strings.CutPrefix(header, "Bearer ")
	if !found || got == "" {
		return false, false, nil
	}
	candidates := []topology.Secret{admin}
	if need == accessRead && read.Ref != "" {
		candidates = append(candidates, read)
	}
	for _, s := range candidates {
		want, err := s.Resolve()
		if err != nil {
			return false, false, err
		}
		if want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
			return true, true, nil
		}
	}
	return false, false, nil
}

// TLSConfig serves the certificate in the topology's api.tls, re-read when
// either file changes, so a renewed certificate is served without a
// restart. The first load happens here, so a bad pair fails Start.
func TLSConfig(t *topology.APITLS) (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	r := broker.NewKeyPair(t.CertFile, t.KeyFile)
	if _, err := r.Load(); err != nil {
		return nil, fmt.Errorf("api tls %w", err)
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.Load() },
	}, nil
}

// Shed counts the connections without a valid token that the server's
// guard closed; hand it to Start.
func (au *Authenticator) Shed() prometheus.Counter { return au.shed }
