package agent

import (
	"fmt"
	"net/http"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
)

// serveBootstrap answers GET /v1/bootstrap[?home=R]: the bootstrap
// servers of the region that takes writes now, from this agent's view of
// the mesh state.
func (a *Agent) serveBootstrap(w http.ResponseWriter, r *http.Request) {
	res, code, err := bootstrapFor(a.cfg.Mesh, a.Failover().State, r.URL.Query().Get("home"))
	if err != nil {
		writeJSON(w, code, api.ErrorResponse{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// bootstrapFor is the answer of GET /v1/bootstrap under st, or the HTTP
// status and why there is none: 503 before a state is read, 400 for an
// active-active question without home, 404 for an unknown home, 409 when
// no region takes the writes (a lost hub without a standby).
func bootstrapFor(m *topology.Mesh, st *api.State, home string) (api.BootstrapResponse, int, error) {
	if st == nil {
		return api.BootstrapResponse{}, http.StatusServiceUnavailable, fmt.Errorf("no mesh state read yet; ask another agent")
	}
	region := st.SoleWriter(m.Kind)
	if m.Kind == topology.KindActiveActive {
		if home == "" {
			return api.BootstrapResponse{}, http.StatusBadRequest, fmt.Errorf("active-active mesh %s: every region takes writes; say whose clients ask with ?home=<region>", m.Name)
		}
		if _, ok := m.Region(home); !ok {
			return api.BootstrapResponse{}, http.StatusNotFound, m.NoRegion(home)
		}
		switch rs := st.Regions[home]; rs.Role {
		case api.RoleActive:
			region = home
		case api.RoleEvacuated:
			region = rs.ClientsTo
		}
	}
	r, ok := m.Region(region)
	if region == "" || !ok || r.Kafka == nil {
		return api.BootstrapResponse{}, http.StatusConflict, fmt.Errorf("no region takes writes at epoch %d (%s)", st.Epoch, st)
	}
	return api.BootstrapResponse{Region: region, Bootstrap: r.Kafka.Bootstrap, Epoch: st.Epoch}, http.StatusOK, nil
}
