package plane

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/health"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/failover/quorum"
	"github.com/geomesh/geomesh/topology"
)

// topo is the topology the plane runs now.
func (p *Plane) topo() *topology.Mesh { return p.mesh.Load() }

// Topology is the topology version the plane runs, for /v1/status.
func (p *Plane) Topology() api.TopologyStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.topoSt
	st.PendingRestart = slices.Clone(st.PendingRestart)
	return st
}

func (p *Plane) storeNow() *quorum.Store {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cpStore
}

// errNoStore answers topology requests before the control plane did.
var errNoStore = errors.New("the control plane has not answered this agent yet")

// TopologyVersion returns stored version v, the newest for v = 0; ok is
// false when there is none.
func (p *Plane) TopologyVersion(ctx context.Context, v uint64) (api.TopologyVersion, bool, error) {
	store := p.storeNow()
	if store == nil {
		return api.TopologyVersion{}, false, errNoStore
	}
	if v == 0 {
		return store.LatestTopology(ctx)
	}
	return store.TopologyVersion(ctx, v)
}

// Apply checks req's topology against the newest stored version (the
// plane's own topology while none is stored) and stores it as the next
// version unless req is a dry run, which lists the changes, refused ones
// included, against whatever version is newest (resp.From). code is the
// HTTP status of the answer: 200 stored or checked, 400 an invalid file,
// 409 refused or another version stored since req.Expected, 503 no
// control plane.
func (p *Plane) Apply(ctx context.Context, req api.ApplyRequest) (resp api.ApplyResponse, code int, err error) {
	resp.Changes = []api.TopologyChange{}
	store := p.storeNow()
	if store == nil {
		return resp, http.StatusServiceUnavailable, errNoStore
	}
	latest, stored, err := store.LatestTopology(ctx)
	if err != nil {
		return resp, http.StatusServiceUnavailable, err
	}
	resp.From = latest.Version
	if !req.DryRun && req.Expected != latest.Version {
		return resp, http.StatusConflict, fmt.Errorf("the mesh's topology is at version %d, not %d: review the changes again (geomesh diff)", latest.Version, req.Expected)
	}
	old := p.topo()
	if stored {
		if old, err = topology.Parse(versionName(latest.Version), []byte(latest.Source)); err != nil {
			return resp, http.StatusConflict, fmt.Errorf("stored topology version %d no longer validates: %w", latest.Version, err)
		}
	}
	next, err := topology.Parse("topology", []byte(req.Source))
	if err != nil {
		var errs topology.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				resp.Errors = append(resp.Errors, e.Error())
			}
		}
		return resp, http.StatusBadRequest, fmt.Errorf("invalid topology: %w", err)
	}
	var writers []string
	if st := p.Status().State; st != nil {
		writers = st.Writers(old.Kind)
	}
	// Regions and voters are judged against what this agent runs, not
	// the stored version: after the region runbooks restarted the agents
	// with a new file, they run it and have rejected the stored version,
	// and storing the file records what the mesh already is.
	running := map[string]bool{}
	for _, c := range topology.Diff(p.topo(), next, nil) {
		if topology.Membership(c) != "" {
			running[c.Path] = true
		}
	}
	var refused []string
	for _, c := range topology.Diff(old, next, writers) {
		tc := api.TopologyChange{Path: c.Path, Old: c.Old, New: c.New, Live: !topology.Restart(c), Refused: c.Refused}
		if why := topology.Membership(c); why != "" && running[c.Path] {
			tc.Refused = cmp.Or(tc.Refused, why)
		}
		if tc.Refused != "" {
			refused = append(refused, tc.Path+": "+tc.Refused)
		}
		resp.Changes = append(resp.Changes, tc)
	}
	switch {
	case req.DryRun:
		return resp, http.StatusOK, nil
	case len(refused) > 0:
		return resp, http.StatusConflict, fmt.Errorf("refused: %s", strings.Join(refused, "; "))
	case stored && len(resp.Changes) == 0 && latest.SHA256 == api.Digest([]byte(req.Source)):
		resp.Version = latest.Version
		return resp, http.StatusOK, nil
	}
	tv := api.TopologyVersion{
		Version: latest.Version + 1, SHA256: api.Digest([]byte(req.Source)), AppliedAt: time.Now().UTC(),
		AppliedBy: cmp.Or(req.By, "agent "+p.cfg.Agent), RollbackOf: req.RollbackOf, Source: req.Source,
	}
	if err := store.StoreTopology(ctx, tv); err != nil {
		if errors.Is(err, quorum.ErrConflict) {
			return resp, http.StatusConflict, fmt.Errorf("another apply stored version %d first: review the changes again (geomesh diff)", tv.Version)
		}
		return resp, http.StatusServiceUnavailable, err
	}
	resp.Version = tv.Version
	p.log.Info("topology version stored", "version", tv.Version, "by", tv.AppliedBy, "changes", len(resp.Changes), "rollback_of", tv.RollbackOf)
	return resp, http.StatusOK, nil
}

func versionName(v uint64) string { return fmt.Sprintf("topology version %d", v) }

// maxFallback bounds how many older versions a starting plane tries
// when it cannot run the newest.
const maxFallback = 10

// adopt runs a stored topology version newer than the one running: the
// flows it changes restart, those it adds or drops start or stop, and
// the timings, the failover mode, the stranded policy and the hooks
// apply from the next decision. What agents take only at a restart is
// listed in Topology().PendingRestart. A version this plane cannot run
// (invalid here, or one that adds or removes regions) is rejected and
// logged; the plane keeps what it runs. atStart marks the version read
// before the first state, which the agent's file may predate: if it is
// rejected, the plane runs the newest older version it can, as its
// peers do.
func (p *Plane) adopt(ctx context.Context, tv api.TopologyVersion, atStart bool) {
	if tv.Version <= p.topoVersion {
		return
	}
	p.topoVersion = tv.Version
	p.topoSeen.Store(tv.Version)
	why := p.take(ctx, tv, atStart)
	if why == "" {
		return
	}
	p.rejectTopology(tv, why)
	for v := tv.Version - 1; atStart && p.store != nil && v > 0 && tv.Version-v <= maxFallback; v-- {
		prev, ok, err := p.store.TopologyVersion(ctx, v)
		if err != nil || !ok || p.take(ctx, prev, true) == "" {
			return
		}
	}
}

// take runs tv, or says why it cannot.
func (p *Plane) take(ctx context.Context, tv api.TopologyVersion, atStart bool) (why string) {
	cur := p.topo()
	next, err := topology.Parse(versionName(tv.Version), []byte(tv.Source))
	if err != nil {
		return fmt.Sprintf("it does not validate here: %v", err)
	}
	if _, ok := next.Region(p.cfg.Region); !ok {
		return "it has no region " + p.cfg.Region
	}
	changes := topology.Diff(cur, next, nil)
	var pending, refused []string
	for _, c := range changes {
		if why := cmp.Or(c.Refused, topology.Membership(c)); why != "" {
			refused = append(refused, c.Path+": "+why)
		}
		if topology.Restart(c) {
			pending = append(pending, c.Path)
		}
	}
	if len(refused) > 0 {
		return strings.Join(refused, "; ")
	}
	for route, r := range p.running {
		if flowChanged(r.flow, changes) {
			p.stopFlow(route)
		}
	}
	p.mesh.Store(next)
	p.host.Reconfigure(next)
	p.flows = p.flows[:0]
	for _, f := range topology.Plan(next) {
		if f.Target == p.cfg.Region {
			p.flows = append(p.flows, f)
		}
	}
	for _, r := range next.Regions {
		if tr, ok := p.trackers[r.Name]; ok {
			tr.Reconfigure(health.Config{Witness: r.Witness, DownAfter: next.Failover.Detection.DownAfter})
		}
	}
	p.mu.Lock()
	if len(p.topoSt.PendingRestart) > 0 {
		pending = append(pending, p.topoSt.PendingRestart...)
		slices.Sort(pending)
		pending = slices.Compact(pending)
	}
	rejected := p.topoSt.Rejected
	if tv.Version >= p.topoVersion {
		rejected = ""
		p.met.topologyRejected.Set(0)
	}
	p.topoSt = api.TopologyStatus{Version: tv.Version, SHA256: tv.SHA256, Source: "control-plane", PendingRestart: pending, Rejected: rejected}
	p.mu.Unlock()
	p.met.topologyVersion.Set(float64(tv.Version))
	if atStart && len(changes) > 0 {
		p.log.Warn("the topology file differs from the mesh's stored topology: running the stored version", "version", tv.Version, "changes", len(changes))
	}
	p.log.Info("topology version taken", "version", tv.Version, "changes", len(changes), "pending_restart", pending)
	p.step(ctx, machine.MeshChanged{Mesh: next})
	return ""
}

func (p *Plane) rejectTopology(tv api.TopologyVersion, why string) {
	p.log.Error("cannot run the stored topology version: keeping the one running", "version", tv.Version, "reason", why)
	p.met.topologyRejected.Set(1)
	p.mu.Lock()
	p.topoSt.Rejected = fmt.Sprintf("version %d: %s", tv.Version, why)
	p.mu.Unlock()
}

// flowChanged reports whether changes touch what flow f copies or how:
// the selections, the naming, the replication settings, a flow override,
// or either end's region.
func flowChanged(f topology.Flow, changes []topology.Change) bool {
	return slices.ContainsFunc(changes, func(c topology.Change) bool {
		for _, prefix := range []string{"topics", "groups", "naming", "replication", "flows", "roles.broadcast", "regions[" + f.Source + "]", "regions[" + f.Target + "]"} {
			if c.Path == prefix || strings.HasPrefix(c.Path, prefix+".") || strings.HasPrefix(c.Path, prefix+"[") {
				return !topology.Restart(c)
			}
		}
		return false
	})
}
