package api

import (
	"fmt"
	"net/http"

	"github.com/geomesh/geomesh/topology"
)

// BootstrapFor is the answer of GET /v1/bootstrap under st, or the HTTP
// status and why there is none: 503 before a state is read, 400 for an
// active-active question without home, 404 for an unknown home, 409 when
// no region takes the writes (a lost hub without a standby).
func BootstrapFor(m *topology.Mesh, st *State, home string) (BootstrapResponse, int, error) {
	if st == nil {
		return BootstrapResponse{}, http.StatusServiceUnavailable, fmt.Errorf("no mesh state read yet; ask another agent")
	}
	region := st.SoleWriter(m.Kind)
	if m.Kind == topology.KindActiveActive {
		if home == "" {
			return BootstrapResponse{}, http.StatusBadRequest, fmt.Errorf("active-active mesh %s: every region takes writes; say whose clients ask with ?home=<region>", m.Name)
		}
		if _, ok := m.Region(home); !ok {
			return BootstrapResponse{}, http.StatusNotFound, m.NoRegion(home)
		}
		switch rs := st.Regions[home]; rs.Role {
		case RoleActive:
			region = home
		case RoleEvacuated:
			region = rs.ClientsTo
		}
	}
	r, ok := m.Region(region)
	if region == "" || !ok || r.Kafka == nil {
		return BootstrapResponse{}, http.StatusConflict, fmt.Errorf("no region takes writes at epoch %d (%s)", st.Epoch, st)
	}
	return BootstrapResponse{Region: region, Bootstrap: r.Kafka.Bootstrap, Epoch: st.Epoch}, http.StatusOK, nil
}
