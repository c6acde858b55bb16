package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/geomesh/geomesh/topology"
)

// Client calls the HTTP API of a mesh's agents, at the addresses the
// topology file lists: over HTTPS when the file's api section has tls,
// with its token as bearer token when one is set. It is safe for
// concurrent use.
type Client struct {
	mesh   *topology.Mesh
	http   *http.Client
	token  topology.Secret
	scheme string
}

// ClientOptions tune NewClient.
type ClientOptions struct {
	// HTTP sends the requests; its Transport's TLS roots verify agents
	// served over HTTPS. Default: a client with a 15 s timeout and the
	// system roots.
	HTTP *http.Client
	// Admin sends the api section's admin token, which operator commands
	// need; default: the read token, which is enough for every GET.
	Admin bool
	// Token, when its Ref is set, is sent instead of either of the
	// file's tokens.
	Token topology.Secret
}

// defaultTimeout bounds one request of a Client built without an
// HTTP client of its own.
const defaultTimeout = 15 * time.Second

// maxAnswer bounds the body read from an agent.
const maxAnswer = 4 << 20

// NewClient returns a client of m's agents; it does no I/O.
func NewClient(m *topology.Mesh, opts ClientOptions) *Client {
	c := &Client{mesh: m, http: opts.HTTP, token: m.API.ReadToken, scheme: "http"}
	if c.http == nil {
		c.http = &http.Client{Timeout: defaultTimeout}
	}
	if opts.Admin {
		c.token = m.API.AdminToken
	}
	if opts.Token.Ref != "" {
		c.token = opts.Token
	}
	if m.API.TLS != nil {
		c.scheme = "https"
	}
	return c
}

// Error is an agent's answer that is not 2xx.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Msg is the agent's error message, or the HTTP status line.
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Msg, e.Status) }

// StatusOf returns the HTTP status of an agent's refusal in err's chain,
// 0 if err is not one.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Do sends one request to the agent at addr and decodes its JSON answer
// into out (unless out is nil). An answer that is not 2xx is an *Error.
func (c *Client) Do(ctx context.Context, method, addr, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.scheme+"://"+addr+path, rd)
	if err != nil {
		return err
	}
	if c.token.Ref != "" {
		// Resolved per request, as the agents do, so that a rotated
		// token file is used at once.
		tok, err := c.token.Resolve()
		if err != nil {
			return fmt.Errorf("api token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e ErrorResponse
		_ = json.Unmarshal(data, &e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		return &Error{Status: resp.StatusCode, Msg: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
		}
	}
	return nil
}

// Any asks the agents in file order until one answers and returns its
// id. An agent's refusal (an answer other than 503) is final; an agent
// that cannot be reached or has no control plane (503) is skipped.
func (c *Client) Any(ctx context.Context, method, path string, body, out any) (string, error) {
	var errs []error
	for _, r := range c.mesh.Regions {
		for _, ag := range r.Agents {
			err := c.Do(ctx, method, ag.API, path, body, out)
			if err == nil {
				return ag.ID, nil
			}
			if s := StatusOf(err); s != 0 && s != http.StatusServiceUnavailable {
				return ag.ID, fmt.Errorf("agent %s: %w", ag.ID, err)
			}
			errs = append(errs, fmt.Errorf("agent %s at %s: %w", ag.ID, ag.API, err))
		}
	}
	return "", fmt.Errorf("no agent of mesh %s answered: %w", c.mesh.Name, errors.Join(errs...))
}

// Failover returns the decision plane as the agent at addr sees it.
func (c *Client) Failover(ctx context.Context, addr string) (FailoverStatus, error) {
	var fs FailoverStatus
	err := c.Do(ctx, http.MethodGet, addr, "/v1/failover", nil, &fs)
	return fs, err
}

// Translate asks the agent at addr for group's committed offsets in
// region from, translated into the agent's region.
func (c *Client) Translate(ctx context.Context, addr, group, from string) (TranslateResponse, error) {
	var tr TranslateResponse
	path := "/v1/translate?" + url.Values{"group": {group}, "from": {from}}.Encode()
	err := c.Do(ctx, http.MethodGet, addr, path, nil, &tr)
	return tr, err
}

// Command posts an operator command (path /v1/failover with a
// FailoverRequest, or /v1/failback with none) to the first agent that
// answers and returns the decided state.
func (c *Client) Command(ctx context.Context, path string, req *FailoverRequest) (*State, error) {
	var body any
	if req != nil {
		body = req
	}
	var resp CommandResponse
	if _, err := c.Any(ctx, http.MethodPost, path, body, &resp); err != nil {
		return nil, err
	}
	return resp.State, nil
}

// Keys runs a gossip keyring operation on the agent at addr: list, or
// install, use or remove key (base64, as in the key files).
func (c *Client) Keys(ctx context.Context, addr, op, key string) (KeysStatus, error) {
	var ks KeysStatus
	if op == "list" {
		return ks, c.Do(ctx, http.MethodGet, addr, "/v1/keys", nil, &ks)
	}
	return ks, c.Do(ctx, http.MethodPost, addr, "/v1/keys/"+url.PathEscape(op), KeyRequest{Key: key}, &ks)
}

// Bootstrap asks the agent at addr which cluster takes writes now; home
// names, in an active-active mesh, the region whose clients ask.
func (c *Client) Bootstrap(ctx context.Context, addr, home string) (BootstrapResponse, error) {
	var br BootstrapResponse
	path := "/v1/bootstrap"
	if home != "" {
		path += "?" + url.Values{"home": {home}}.Encode()
	}
	return br, c.Do(ctx, http.MethodGet, addr, path, nil, &br)
}

// Topology returns stored topology version v (0: the newest) from the
// first agent that answers.
func (c *Client) Topology(ctx context.Context, v uint64) (TopologyVersion, error) {
	var tv TopologyVersion
	path := "/v1/topology"
	if v > 0 {
		path += "?version=" + strconv.FormatUint(v, 10)
	}
	_, err := c.Any(ctx, http.MethodGet, path, nil, &tv)
	return tv, err
}

// Apply posts req to the first agent that answers (POST /v1/topology).
func (c *Client) Apply(ctx context.Context, req ApplyRequest) (ApplyResponse, error) {
	var resp ApplyResponse
	_, err := c.Any(ctx, http.MethodPost, "/v1/topology", req, &resp)
	return resp, err
}
