package agent

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/membership"
	"github.com/geomesh/geomesh/internal/apiserve"
)

// keyRoutes serves the gossip keyring: GET /v1/keys lists key ids, and
// POST /v1/keys/install, /use and /remove rotate keys on this agent.
// Being POSTs they need the admin token (internal/apiserve); `geomesh keys` calls
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
			var req api.KeyRequest
			body, err := io.ReadAll(io.LimitReader(r.Body, 4096))
			if err == nil {
				err = json.Unmarshal(body, &req)
			}
			if err != nil {
				apiserve.WriteJSON(w, http.StatusBadRequest, api.ErrorResponse{Error: "body must be JSON {\"key\": \"<base64>\"}"})
				return
			}
			key, err := membership.DecodeKey(req.Key)
			if err != nil {
				apiserve.WriteJSON(w, http.StatusBadRequest, api.ErrorResponse{Error: "key: " + err.Error()})
				return
			}
			m := a.membership()
			if m == nil {
				apiserve.WriteJSON(w, http.StatusServiceUnavailable, api.ErrorResponse{Error: "agent not running"})
				return
			}
			if err := op(m, key); err != nil {
				code := http.StatusConflict
				if errors.Is(err, membership.ErrNotEncrypted) {
					code = http.StatusPreconditionFailed
				}
				apiserve.WriteJSON(w, code, api.ErrorResponse{Error: err.Error()})
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
		apiserve.WriteJSON(w, http.StatusServiceUnavailable, api.ErrorResponse{Error: "agent not running"})
		return
	}
	ids, primary, err := m.Keys()
	if err != nil {
		apiserve.WriteJSON(w, http.StatusPreconditionFailed, api.ErrorResponse{Error: err.Error()})
		return
	}
	apiserve.WriteJSON(w, http.StatusOK, api.KeysStatus{Agent: a.self.ID, Primary: primary, Keys: ids})
}

func (a *Agent) membership() *membership.Membership {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.members
}
