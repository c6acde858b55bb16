package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/plane"
	"github.com/geomesh/geomesh/failover/quorum"
	"github.com/geomesh/geomesh/internal/apiserve"
)

// topologyRoutes adds the topology versions: GET reads one, POST checks
// or stores the next (an admin request, as every POST).
func (a *Agent) topologyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/topology", a.serveTopology)
	mux.HandleFunc("POST /v1/topology", a.serveApply)
}

// serveTopology answers GET /v1/topology[?version=N]: the newest stored
// version, or version N.
func (a *Agent) serveTopology(w http.ResponseWriter, r *http.Request) {
	var v uint64
	if q := r.URL.Query().Get("version"); q != "" {
		n, err := strconv.ParseUint(q, 10, 64)
		if err != nil || n == 0 {
			apiserve.WriteJSON(w, http.StatusBadRequest, api.ErrorResponse{Error: fmt.Sprintf("bad topology request: version %q is not a version number (1, 2, ...)", q)})
			return
		}
		v = n
	}
	p, ctx, cancel := a.planeFor(w, r)
	if p == nil {
		return
	}
	defer cancel()
	tv, ok, err := p.TopologyVersion(ctx, v)
	switch {
	case err != nil:
		apiserve.WriteJSON(w, http.StatusServiceUnavailable, api.ErrorResponse{Error: err.Error()})
	case !ok && v == 0:
		apiserve.WriteJSON(w, http.StatusNotFound, api.ErrorResponse{Error: "no topology version is stored: the agents run their topology files (geomesh apply stores version 1)"})
	case !ok:
		apiserve.WriteJSON(w, http.StatusNotFound, api.ErrorResponse{Error: fmt.Sprintf("no topology version %d is stored", v)})
	default:
		apiserve.WriteJSON(w, http.StatusOK, tv)
	}
}

// serveApply answers POST /v1/topology with an api.ApplyRequest.
func (a *Agent) serveApply(w http.ResponseWriter, r *http.Request) {
	var req api.ApplyRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, quorum.MaxTopologySource*2))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiserve.WriteJSON(w, http.StatusBadRequest, api.ErrorResponse{Error: fmt.Sprintf("bad apply request: %v (want {\"source\":\"<topology file>\",\"expected\":<version>})", err)})
		return
	}
	if len(req.Source) > quorum.MaxTopologySource {
		apiserve.WriteJSON(w, http.StatusRequestEntityTooLarge, api.ErrorResponse{Error: fmt.Sprintf("bad apply request: the topology file has %d bytes, more than the %d a stored version may hold", len(req.Source), quorum.MaxTopologySource)})
		return
	}
	p, ctx, cancel := a.planeFor(w, r)
	if p == nil {
		return
	}
	defer cancel()
	resp, code, err := p.Apply(ctx, req)
	if err != nil {
		resp.Error = err.Error()
	}
	apiserve.WriteJSON(w, code, resp)
}

// planeFor returns the failover plane and the request's context, bounded
// like an operator command; without a plane it answers 503 and returns
// nil.
func (a *Agent) planeFor(w http.ResponseWriter, r *http.Request) (*plane.Plane, context.Context, context.CancelFunc) {
	a.mu.Lock()
	p := a.plane
	a.mu.Unlock()
	if p == nil {
		apiserve.WriteJSON(w, http.StatusServiceUnavailable, api.ErrorResponse{Error: "agent not started"})
		return nil, nil, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), commandTimeout)
	return p, ctx, cancel
}
