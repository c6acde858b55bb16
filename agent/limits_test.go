package agent

import (
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/apiserve"
)

// TestAPILimits pins the API server's limits against the agent's
// handlers they must let finish.
func TestAPILimits(t *testing.T) {
	lim := apiserve.DefaultLimits()
	if lim.WriteTimeout <= 30*time.Second || lim.WriteTimeout <= commandTimeout {
		t.Errorf("write timeout %s does not cover translate (30s) and a command (%s)", lim.WriteTimeout, commandTimeout)
	}
	if lim.ReadHeaderTimeout <= 0 || lim.ReadTimeout < lim.ReadHeaderTimeout || lim.IdleTimeout <= 0 {
		t.Errorf("limits %+v: every timeout set, the read timeout at least the header timeout", lim)
	}
	if lim.MaxPending < 64 || lim.MaxPending > 1024 {
		t.Errorf("max pending %d: want room for probes and scrapes, far below a default open-files limit", lim.MaxPending)
	}
}
