package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/geomesh/geomesh/topology"
)

// agentAPI talks to the HTTP API of a mesh's agents, as the topology file
// lists them, with the file's admin token when it has one.
type agentAPI struct {
	mesh   *topology.Mesh
	client *http.Client
	token  string
	scheme string
}

func newAgentAPI(m *topology.Mesh) (*agentAPI, error) {
	api := &agentAPI{mesh: m, client: &http.Client{Timeout: 15 * time.Second}, scheme: "http"}
	if m.API.TLS != nil {
		api.scheme = "https"
	}
	if m.API.AdminToken.Ref != "" {
		tok, err := m.API.AdminToken.Resolve()
		if err != nil {
			return nil, fmt.Errorf("api admin token: %w", err)
		}
		api.token = tok
	}
	return api, nil
}

// apiError is an answer that is not 2xx.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Msg, e.Status) }

// do sends one request to addr and decodes the JSON answer into out.
func (c *agentAPI) do(ctx context.Context, method, addr, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.scheme+"://"+addr+path, rd)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		return &apiError{Status: resp.StatusCode, Msg: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
		}
	}
	return nil
}

// any asks the agents in file order until one answers; an agent's own
// refusal (a 4xx or 409) is final, an unreachable agent is skipped.
func (c *agentAPI) any(ctx context.Context, method, path string, body, out any) (string, error) {
	var errs []error
	for _, r := range c.mesh.Regions {
		for _, ag := range r.Agents {
			err := c.do(ctx, method, ag.API, path, body, out)
			if err == nil {
				return ag.ID, nil
			}
			var ae *apiError
			if errors.As(err, &ae) && ae.Status != http.StatusServiceUnavailable {
				return ag.ID, fmt.Errorf("agent %s: %w", ag.ID, err)
			}
			errs = append(errs, fmt.Errorf("agent %s at %s: %w", ag.ID, ag.API, err))
		}
	}
	return "", fmt.Errorf("no agent of mesh %s answered: %w", c.mesh.Name, errors.Join(errs...))
}
