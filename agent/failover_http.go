package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/internal/apiserve"
)

// commandTimeout bounds an operator command: one compare-and-set, which
// quorum bounds at 2s, behind whatever the machine is doing.
const commandTimeout = 10 * time.Second

// failoverRoutes adds the operator endpoints. POST ones are admin
// requests for the API's token check (internal/apiserve classifies by method).
func (a *Agent) failoverRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/failover", func(w http.ResponseWriter, _ *http.Request) {
		apiserve.WriteJSON(w, http.StatusOK, a.Failover())
	})
	mux.HandleFunc("POST /v1/failover", a.serveFailover)
	mux.HandleFunc("POST /v1/failback", a.serveFailback)
}

func (a *Agent) serveFailover(w http.ResponseWriter, r *http.Request) {
	var req api.FailoverRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiserve.WriteJSON(w, http.StatusBadRequest, api.ErrorResponse{Error: fmt.Sprintf("bad failover request: %v (want {\"to\":\"<region>\",\"force\":false})", err)})
		return
	}
	if req.To == "" {
		apiserve.WriteJSON(w, http.StatusBadRequest, api.ErrorResponse{Error: "bad failover request: \"to\" names no region"})
		return
	}
	for _, name := range []string{req.To, req.From} {
		if name == "" {
			continue
		}
		if _, ok := a.topo().Region(name); !ok {
			apiserve.WriteJSON(w, http.StatusBadRequest, api.ErrorResponse{Error: "bad failover request: " + a.topo().NoRegion(name).Error()})
			return
		}
	}
	a.serveCommand(w, r, machine.Command{Kind: machine.CommandFailover, To: req.To, From: req.From, Force: req.Force})
}

func (a *Agent) serveFailback(w http.ResponseWriter, r *http.Request) {
	a.serveCommand(w, r, machine.Command{Kind: machine.CommandFailback})
}

func (a *Agent) serveCommand(w http.ResponseWriter, r *http.Request, c machine.Command) {
	ctx, cancel := context.WithTimeout(r.Context(), commandTimeout)
	defer cancel()
	res, err := a.Command(ctx, c)
	switch {
	case err != nil:
		apiserve.WriteJSON(w, http.StatusServiceUnavailable, api.ErrorResponse{Error: err.Error()})
	case res.Code == http.StatusOK:
		apiserve.WriteJSON(w, http.StatusOK, api.CommandResponse{State: res.State})
	default:
		apiserve.WriteJSON(w, res.Code, api.ErrorResponse{Error: res.Error})
	}
}

// serveBootstrap answers GET /v1/bootstrap[?home=R]: the bootstrap
// servers of the region that takes writes now, from this agent's view of
// the mesh state.
func (a *Agent) serveBootstrap(w http.ResponseWriter, r *http.Request) {
	res, code, err := api.BootstrapFor(a.topo(), a.Failover().State, r.URL.Query().Get("home"))
	if err != nil {
		apiserve.WriteJSON(w, code, api.ErrorResponse{Error: err.Error()})
		return
	}
	apiserve.WriteJSON(w, http.StatusOK, res)
}
