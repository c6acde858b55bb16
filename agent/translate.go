package agent

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/internal/apiserve"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/mirror/offsets"
	"github.com/geomesh/geomesh/topology"
	"github.com/prometheus/client_golang/prometheus"
)

// defaultOffsetSyncInterval is how often group offsets are synced when
// Config.OffsetSyncInterval is zero.
const defaultOffsetSyncInterval = time.Second

// translation holds the offset translators of the agent's flows, by source
// region, for group sync and /v1/translate, and the group syncers of the
// file's flows for /v1/status.
type translation struct {
	mu       sync.Mutex
	bySource map[string]*offsets.Translator
	syncers  []*offsets.Syncer
	all      []*offsets.Translator // every translator, for Reconfigure
}

// startTranslation starts, for every flow into the region, a translator and
// a group offset syncer in goroutines owned by the agent; the caller holds
// a.mu. Flows that only a failover starts (topology.Inbound) get a translator
// without a syncer: after a planned switch, a client moving back to this
// region asks for the offsets of its group translated along the reversed
// flow (GET /v1/translate).
func (a *Agent) startTranslation(ctx context.Context) error {
	a.translation.bySource = map[string]*offsets.Translator{}
	synced := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "geomesh_offsets_synced_total", Help: "Group partition offsets committed on the target by group offset sync.",
	}, flowLabels)
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "geomesh_offsets_sync_errors_total",
		Help: "Group offset sync failures by class (authorization, unreachable, other): one per group a round failed to sync, one per round that failed before it knew any group.",
	}, append(flowLabels[:2:2], "class"))
	for _, c := range []prometheus.Collector{synced, failures} {
		if err := a.cfg.Registry.Register(c); err != nil {
			return fmt.Errorf("agent %s: metrics: %w", a.self.ID, err)
		}
	}
	interval := a.cfg.OffsetSyncInterval
	if interval <= 0 {
		interval = defaultOffsetSyncInterval
	}
	for i, f := range topology.Inbound(a.topo(), a.region.Name) {
		src, _ := a.topo().Region(f.Source)
		srcCl, err := a.client(src)
		if err != nil {
			return err
		}
		dstCl, err := a.client(a.region)
		if err != nil {
			return err
		}
		tr := offsets.NewTranslator(offsets.Config{
			Flow: f, Source: srcCl, Target: dstCl,
			NewTargetClient: mirror.RegionClients(a.region.Name, a.region.Kafka),
			Logger:          a.log,
		})
		a.translation.mu.Lock()
		a.translation.all = append(a.translation.all, tr)
		a.translation.mu.Unlock()
		if i >= len(a.flows) { // Inbound lists the file's flows first
			a.translation.mu.Lock()
			a.translation.bySource[f.Source] = tr
			a.translation.mu.Unlock()
			a.goRun(ctx, "offset translation "+f.Source+"->"+f.Target, func(ctx context.Context) error {
				tr.Start(ctx)
				defer tr.Close()
				<-ctx.Done()
				return nil
			})
			continue
		}
		// Every class exists from the start at zero, so that increase()
		// sees the first failure.
		for _, c := range offsets.SyncErrorClasses {
			failures.WithLabelValues(f.Source, f.Target, c)
		}
		obs := &syncObserver{synced: synced.WithLabelValues(f.Source, f.Target), failures: failures.MustCurryWith(prometheus.Labels{"source": f.Source, "target": f.Target})}
		sy := offsets.NewSyncer(offsets.SyncConfig{Translator: tr, Interval: interval, Observer: obs, Active: func() bool {
			return slices.ContainsFunc(a.flowRunners(), func(r *flowRunner) bool { return r.flow.Source == f.Source })
		}})
		labels := prometheus.Labels{"source": f.Source, "target": f.Target}
		age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "geomesh_offsets_sync_age_seconds",
			Help:        "Time since every selected group was last in step on the target: it grows while any group fails to sync.",
			ConstLabels: labels,
		}, func() float64 { return sy.Status().InStepAge })
		failing := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "geomesh_offsets_failing_groups",
			Help:        "Groups whose last group offset sync failed; /v1/status names them and says why.",
			ConstLabels: labels,
		}, func() float64 { return float64(len(sy.Status().Failing)) })
		for _, c := range []prometheus.Collector{age, failing} {
			if err := a.cfg.Registry.Register(c); err != nil {
				return fmt.Errorf("agent %s: metrics: %w", a.self.ID, err)
			}
		}
		a.translation.mu.Lock()
		a.translation.bySource[f.Source] = tr
		a.translation.syncers = append(a.translation.syncers, sy)
		a.translation.mu.Unlock()
		a.goRun(ctx, "offset sync "+f.Source+"->"+f.Target, func(ctx context.Context) error {
			tr.Start(ctx)
			defer tr.Close()
			return sy.Run(ctx)
		})
	}
	return nil
}

// syncObserver turns group sync rounds into metrics.
type syncObserver struct {
	synced   prometheus.Counter
	failures *prometheus.CounterVec
}

func (o *syncObserver) Committed(n int) { o.synced.Add(float64(n)) }

func (o *syncObserver) Failed(class string) { o.failures.WithLabelValues(class).Inc() }

// offsetSync returns the status of every group syncer of the agent.
func (a *Agent) offsetSync() []offsets.SyncStatus {
	a.translation.mu.Lock()
	syncers := slices.Clone(a.translation.syncers)
	a.translation.mu.Unlock()
	out := make([]offsets.SyncStatus, 0, len(syncers))
	for _, sy := range syncers {
		out = append(out, sy.Status())
	}
	return out
}

// serveTranslate answers GET /v1/translate?group=G&from=R: the group's
// committed offsets in region R translated into this agent's region.
func (a *Agent) serveTranslate(w http.ResponseWriter, r *http.Request) {
	group, from := r.URL.Query().Get("group"), r.URL.Query().Get("from")
	if group == "" || from == "" {
		apiserve.WriteJSON(w, http.StatusBadRequest, api.ErrorResponse{Error: "query parameters group and from are required"})
		return
	}
	a.translation.mu.Lock()
	tr := a.translation.bySource[from]
	a.translation.mu.Unlock()
	if tr == nil {
		apiserve.WriteJSON(w, http.StatusBadRequest, api.ErrorResponse{Error: fmt.Sprintf("no flow from region %q into %s", from, a.region.Name)})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	res, err := tr.TranslateGroup(ctx, group)
	if err != nil {
		apiserve.WriteJSON(w, http.StatusBadGateway, api.ErrorResponse{Error: err.Error()})
		return
	}
	apiserve.WriteJSON(w, http.StatusOK, api.TranslateResponse{Group: group, From: from, To: a.region.Name, Partitions: res})
}
