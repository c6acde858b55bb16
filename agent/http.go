package agent

import (
	"fmt"
	"net/http"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/internal/apiserve"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// handler serves the agent's HTTP API. It reads state only through the
// agent's snapshot functions, so no handler holds an agent lock while
// writing to a slow client.
func (a *Agent) handler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		apiserve.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		reasons, notes := a.readiness()
		body, code := map[string]any{"status": "ready"}, http.StatusOK
		if len(reasons) > 0 {
			body["status"], body["reasons"], code = "not ready", reasons, http.StatusServiceUnavailable
		}
		if len(notes) > 0 {
			body["notes"] = notes
		}
		apiserve.WriteJSON(w, code, body)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		apiserve.WriteJSON(w, http.StatusOK, a.Status())
	})
	mux.HandleFunc("GET /v1/translate", a.serveTranslate)
	mux.HandleFunc("GET /v1/bootstrap", a.serveBootstrap)
	a.failoverRoutes(mux)
	a.topologyRoutes(mux)
	a.keyRoutes(mux)
	mux.HandleFunc("GET /v1/health", a.serveHealth)
	mux.HandleFunc("GET /{$}", a.servePage)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apiserve.WriteJSON(w, http.StatusNotFound, api.ErrorResponse{Error: fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path)})
	})
	return mux
}
