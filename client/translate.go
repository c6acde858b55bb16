package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/geomesh/geomesh/topology"
)

// translation is one partition of the agent's GET /v1/translate answer
// (agent/translate.go, mirror/offsets.Translation); only the fields the
// client needs.
type translation struct {
	Topic        string `json:"topic"`
	Partition    int32  `json:"partition"`
	SourceOffset int64  `json:"source_offset"`
	TargetTopic  string `json:"target_topic"`
	TargetOffset int64  `json:"target_offset"`
	State        string `json:"state"`
	Error        string `json:"error"`
}

type translateResponse struct {
	Partitions []translation `json:"partitions"`
	Error      string        `json:"error"`
}

// errNoFlow marks an answer that no retry changes: the agent has no flow
// from the old region, or refuses the request.
var errNoFlow = errors.New("the agent cannot translate from this region")

// offsetMap is target topic → partition → offset.
type offsetMap map[string]map[int32]int64

func (o offsetMap) set(topic string, p int32, at int64) {
	if o[topic] == nil {
		o[topic] = map[int32]int64{}
	}
	o[topic][p] = at
}

// translate asks the agents of region to for the group's committed offsets
// in region from, translated, until every partition of the consumer's
// topics is translated or ctx ends. A partition the copier has not reached
// yet ("behind") or that an open transaction hides for a moment is asked
// again; those are the normal states right after a final commit.
func (c *Consumer) translate(ctx context.Context, from, to string, topics map[string]bool) (offsetMap, error) {
	r, _ := c.mesh.Region(to)
	var last error
	for {
		for _, a := range r.Agents {
			res, err := c.askAgent(ctx, a.API, from)
			if errors.Is(err, errNoFlow) {
				return nil, err
			}
			if err != nil {
				last = fmt.Errorf("agent %s: %w", a.ID, err)
				continue
			}
			out, err := translated(res, topics)
			if err == nil {
				return out, nil
			}
			last = fmt.Errorf("agent %s: %w", a.ID, err)
			break // the agent answered; asking its peers now would not help
		}
		if err := sleep(ctx); err != nil {
			return nil, fmt.Errorf("translate group %s from region %s to %s: %w (last: %v)", c.group, from, to, err, last)
		}
	}
}

func (c *Consumer) askAgent(ctx context.Context, api, from string) (*translateResponse, error) {
	var res translateResponse
	path := "/v1/translate?" + url.Values{"group": {c.group}, "from": {from}}.Encode()
	status, err := getAgent(ctx, c.cfg.httpClient, c.mesh, api, path, &res)
	switch {
	case err != nil:
		return nil, err
	case status == http.StatusBadRequest:
		return nil, fmt.Errorf("GET %s from agent %s: %w: %s", path, api, errNoFlow, res.Error)
	case status != http.StatusOK:
		return nil, fmt.Errorf("GET %s from agent %s: %d: %s", path, api, status, res.Error)
	}
	return &res, nil
}

// getAgent calls an agent's API and decodes its JSON answer into out: over
// HTTPS when the mesh's api section has tls, with the api read_token as
// bearer token when one is set.
func getAgent(ctx context.Context, h *http.Client, m *topology.Mesh, api, path string, out any) (status int, err error) {
	scheme := "http"
	if m.API.TLS != nil {
		scheme = "https" // verified by HTTPClient's roots: the system pool by default
	}
	u := scheme + "://" + api + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	if ref := m.API.ReadToken; ref.Ref != "" {
		// Resolved per request, as the agents do, so a rotated token
		// file is used at once.
		tok, err := ref.Resolve()
		if err != nil {
			return 0, fmt.Errorf("api read_token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := h.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return 0, fmt.Errorf("GET %s: %s: %w", u, resp.Status, err)
	}
	return resp.StatusCode, nil
}

// translated keeps the partitions of the consumer's topics, or says which
// one is not translated yet.
func translated(res *translateResponse, topics map[string]bool) (offsetMap, error) {
	out := offsetMap{}
	for _, t := range res.Partitions {
		if !topics[t.Topic] {
			continue
		}
		switch t.State {
		case "copied", "end", "truncated":
			out.set(t.TargetTopic, t.Partition, t.TargetOffset)
		case "":
			return nil, fmt.Errorf("topic %s partition %d: %s", t.Topic, t.Partition, t.Error)
		default:
			return nil, fmt.Errorf("topic %s partition %d at %d: %s", t.Topic, t.Partition, t.SourceOffset, t.State)
		}
	}
	return out, nil
}
