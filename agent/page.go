package agent

import (
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/topology"
)

// The status page is rendered on the server from the same snapshots as
// /v1/status and /v1/health, and refreshes itself with a meta tag: no
// script, stylesheet or font is loaded from anywhere, so it works on an
// operator's laptop without internet and in a text browser.
var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"secs": secs,
	"ago":  func(t time.Time) string { return secs(time.Since(t).Seconds()) },
	"pct": func(part, whole int64) string {
		// kfake reports its data size as the volume's total: no share
		// of it means anything.
		if whole <= 0 || part > whole {
			return "?"
		}
		return fmt.Sprintf("%.0f %%", 100*float64(part)/float64(whole))
	},
	"clock": func(t time.Time) string { return t.Format("15:04:05") },
}).Parse(pageHTML))

//go:embed page.html
var pageHTML string

// secs renders a span of seconds for the page.
func secs(s float64) string {
	switch {
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1000)
	case s < 120:
		return fmt.Sprintf("%.1f s", s)
	}
	return (time.Duration(s) * time.Second).String()
}

// pageFlow is a flow row of the page.
type pageFlow struct {
	FlowHealth
	Kind      string
	Shards    int
	BeatClass string
}

type mapNode struct {
	Name, Role  string
	X, Y, RoleY float64
	Self        bool
}

type mapEdge struct {
	X1, Y1, X2, Y2, LX, LY float64
	Color, Label, Title    string
}

type regionMap struct {
	W, H   int
	Nodes  []mapNode
	Edges  []mapEdge
	Colors []string
}

const (
	colorOK    = "#1a7f37"
	colorWarn  = "#b35900"
	colorBad   = "#c62828"
	colorOther = "#9e9e9e"
)

func (a *Agent) servePage(w http.ResponseWriter, _ *http.Request) {
	st, hs, fs := a.Status(), a.Health(), a.Failover()
	kinds := map[string]FlowStatus{}
	for _, f := range st.Flows {
		kinds[f.Source] = f
	}
	// Events newest first: the page is read top-down.
	events := slices.Clone(hs.Events)
	slices.Reverse(events)
	var flows []pageFlow
	for _, f := range hs.Flows {
		pf := pageFlow{FlowHealth: f, Kind: kinds[f.Source].Kind, Shards: len(kinds[f.Source].Shards), BeatClass: "ok"}
		if f.HeartbeatAge > staleBeat.Seconds() {
			pf.BeatClass = "bad"
		}
		flows = append(flows, pf)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	err := pageTemplate.Execute(w, map[string]any{
		"Status": st, "Health": hs, "Flows": flows, "Events": events, "Now": time.Now(), "Refresh": 5,
		"Kind": a.topo().Kind, "Map": a.regionMap(hs, fs.State), "Epoch": fs.Epoch, "Fenced": fs.Fenced,
	})
	if err != nil {
		a.log.Warn("status page", "err", err)
	}
}

// regionMap places the regions on a circle and draws the flows of the
// current roles: those of the failover state once one was read, else the
// file's.
func (a *Agent) regionMap(hs HealthStatus, state *api.State) regionMap {
	m := a.topo()
	if state == nil {
		initial := machine.Initial(m, time.Time{})
		state = &initial
	}
	roles := state.Roles(m)
	const w, h, r = 640, 360, 130.0
	rm := regionMap{W: w, H: h, Colors: []string{colorOK, colorWarn, colorBad, colorOther}}
	pos := map[string][2]float64{}
	for i, reg := range m.Regions {
		angle := -math.Pi/2 + 2*math.Pi*float64(i)/float64(len(m.Regions))
		x, y := w/2+1.6*r*math.Cos(angle), h/2+r*math.Sin(angle)
		pos[reg.Name] = [2]float64{x, y}
		rm.Nodes = append(rm.Nodes, mapNode{Name: reg.Name, Role: string(state.Role(reg.Name)), X: x, Y: y, RoleY: y + 15, Self: reg.Name == a.region.Name})
	}
	into := map[string]FlowHealth{}
	for _, f := range hs.Flows {
		into[f.Source] = f
	}
	for _, f := range topology.PlanFor(m, roles) {
		p, q := pos[f.Source], pos[f.Target]
		dx, dy := q[0]-p[0], q[1]-p[1]
		d := math.Hypot(dx, dy)
		if d == 0 {
			continue
		}
		ux, uy := dx/d, dy/d
		// Two flows between the same regions (active-active) run side
		// by side, each offset to its own right.
		ox, oy := -uy*6, ux*6
		e := mapEdge{
			X1: p[0] + ux*36 + ox, Y1: p[1] + uy*36 + oy, X2: q[0] - ux*36 + ox, Y2: q[1] - uy*36 + oy,
			Color: colorOther, Title: fmt.Sprintf("%s → %s (%s)", f.Source, f.Target, f.Kind),
		}
		e.LX, e.LY = (e.X1+e.X2)/2+ox*2, (e.Y1+e.Y2)/2+oy*2
		if fh, ok := into[f.Source]; ok && f.Target == a.region.Name {
			e.Color, e.Label = colorOK, fmt.Sprintf("lag %d", fh.LagRecords)
			switch {
			case fh.Error != "":
				e.Color = colorBad
			case fh.HeartbeatAge > staleBeat.Seconds() || fh.LagSeconds > staleBeat.Seconds():
				e.Color = colorWarn
			}
		}
		rm.Edges = append(rm.Edges, e)
	}
	return rm
}
