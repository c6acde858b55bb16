package agent

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/membership"
	"github.com/geomesh/geomesh/topology"
)

// gossipKeys resolves and decodes the topology's gossip keys, first the
// one that encrypts. Errors name the reference, never the value.
func gossipKeys(g topology.Gossip) ([][]byte, error) {
	var keys [][]byte
	for _, s := range g.Keys {
		v, err := s.Resolve()
		if err != nil {
			return nil, fmt.Errorf("gossip key: %w", err)
		}
		k, err := decodeKey(v)
		if err != nil {
			return nil, fmt.Errorf("gossip key %s: %w", s, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// decodeKey reads a base64 AES key, as `openssl rand -base64 32` writes.
func decodeKey(v string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, errors.New("not base64 (make one with: openssl rand -base64 32)")
	}
	if n := len(k); n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("%d bytes, want 16, 24 or 32", n)
	}
	return k, nil
}

// KeysStatus is the answer of the /v1/keys endpoints: key ids
// (membership.KeyID), never keys.
type KeysStatus struct {
	Agent   string   `json:"agent"`
	Primary string   `json:"primary"`
	Keys    []string `json:"keys"`
}

// keyRequest is the body of POST /v1/keys/{install,use,remove}.
type keyRequest struct {
	// Key is base64, as in the key files.
	Key string `json:"key"`
}

// keyRoutes serves the gossip keyring: GET /v1/keys lists key ids, and
// POST /v1/keys/install, /use and /remove rotate keys on this agent.
// Being POSTs they need the admin token (auth.go); `geomesh keys` calls
// them on every agent in turn.
func (a *Agent) keyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/keys", func(w http.ResponseWriter, _ *http.Request) {
		a.writeKeys(w)
	})
	ops := map[string]func(*membership.Membership, []byte) error{
		"install": (*membership.Membership).InstallKey,
		"use":     (*membership.Membership).UseKey,
		"remove":  (*membership.Membership).RemoveKey,
	}
	for name, op := range ops {
		mux.HandleFunc("POST /v1/keys/"+name, func(w http.ResponseWriter, r *http.Request) {
			var req keyRequest
			body, err := io.ReadAll(io.LimitReader(r.Body, 4096))
			if err == nil {
				err = json.Unmarshal(body, &req)
			}
			if err != nil {
				writeJSON(w, http.StatusBadRequest, api.ErrorResponse{Error: "body must be JSON {\"key\": \"<base64>\"}"})
				return
			}
			key, err := decodeKey(req.Key)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, api.ErrorResponse{Error: "key: " + err.Error()})
				return
			}
			m := a.membership()
			if m == nil {
				writeJSON(w, http.StatusServiceUnavailable, api.ErrorResponse{Error: "agent not running"})
				return
			}
			if err := op(m, key); err != nil {
				code := http.StatusConflict
				if errors.Is(err, membership.ErrNotEncrypted) {
					code = http.StatusPreconditionFailed
				}
				writeJSON(w, code, api.ErrorResponse{Error: err.Error()})
				return
			}
			a.log.Info("gossip key changed", "op", name, "key_id", membership.KeyID(key))
			a.writeKeys(w)
		})
	}
}

func (a *Agent) writeKeys(w http.ResponseWriter) {
	m := a.membership()
	if m == nil {
		writeJSON(w, http.StatusServiceUnavailable, api.ErrorResponse{Error: "agent not running"})
		return
	}
	ids, primary, err := m.Keys()
	if err != nil {
		writeJSON(w, http.StatusPreconditionFailed, api.ErrorResponse{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, KeysStatus{Agent: a.self.ID, Primary: primary, Keys: ids})
}

func (a *Agent) membership() *membership.Membership {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.members
}
