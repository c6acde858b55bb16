package agent

import (
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
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>geomesh {{.Status.Mesh}} · {{.Status.Region}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
th{background:#f0f0f0}.ok{color:#1a7f37}.warn{color:#b35900}.bad{color:#c62828;font-weight:bold}
.muted{color:#777}svg{background:#fff;border:1px solid #ddd}
</style></head><body>
<h1>geomesh mesh <b>{{.Status.Mesh}}</b> ({{.Kind}})</h1>
<p>region <b id="region">{{.Status.Region}}</b> · agent {{.Status.Agent}} · agents alive here: {{len .Status.Members}}
· updated {{clock .Now}}, refreshes every {{.Refresh}} s</p>

<h2>Mesh</h2>
<svg width="{{.Map.W}}" height="{{.Map.H}}" viewBox="0 0 {{.Map.W}} {{.Map.H}}" role="img" aria-label="regions and flows">
<defs>{{range $c := .Map.Colors}}<marker id="arrow-{{$c}}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="{{$c}}"/></marker>{{end}}</defs>
{{range .Map.Edges}}<line x1="{{.X1}}" y1="{{.Y1}}" x2="{{.X2}}" y2="{{.Y2}}" stroke="{{.Color}}" stroke-width="2" marker-end="url(#arrow-{{.Color}})"><title>{{.Title}}</title></line>
<text x="{{.LX}}" y="{{.LY}}" font-size="11" text-anchor="middle" fill="{{.Color}}">{{.Label}}</text>
{{end}}{{range .Map.Nodes}}<g><circle cx="{{.X}}" cy="{{.Y}}" r="34" fill="{{if .Self}}#e3f2fd{{else}}#f5f5f5{{end}}" stroke="{{if .Self}}#1565c0{{else}}#999{{end}}" stroke-width="{{if .Self}}3{{else}}1{{end}}"/>
<text x="{{.X}}" y="{{.Y}}" font-size="13" font-weight="bold" text-anchor="middle" class="region-name">{{.Name}}</text>
<text x="{{.X}}" y="{{.RoleY}}" font-size="11" text-anchor="middle" fill="#555">{{.Role}}</text></g>
{{end}}</svg>
<p class="muted">Arrows are flows. Those into {{.Status.Region}} carry this agent's view (green: copying, orange: lag or a silent source, red: an error);
grey ones are watched by their target region's agent. Roles and flows are those of epoch {{.Epoch}}{{if .Fenced}} — <b class="bad">this agent is fenced</b>{{end}}.</p>

<h2>Flows into {{.Status.Region}}</h2>
{{if .Health.Flows}}<table><tr><th>source</th><th>kind</th><th>lag</th><th>lag age</th><th>heartbeat age</th><th>latency</th><th>RPO estimate</th><th>shards here</th><th>error</th></tr>
{{range .Flows}}<tr><td>{{.Source}}</td><td>{{.Kind}}</td><td>{{.LagRecords}} records</td><td>{{secs .LagSeconds}}</td>
<td class="{{.BeatClass}}">{{secs .HeartbeatAge}}{{if not .HeartbeatSeen}} (no beat yet){{end}}</td><td>{{if .HeartbeatSeen}}{{secs .HeartbeatLatency}}{{end}}</td>
<td>{{secs .RPOSeconds}}</td><td>{{.Shards}}</td><td class="bad">{{.Error}}</td></tr>
{{end}}</table>{{else}}<p class="muted">No flow ends in this region.</p>{{end}}

{{if .Status.OffsetSync}}<h2>Group offset sync into {{.Status.Region}}</h2>
<table><tr><th>source</th><th>groups</th><th>all in step</th><th>failing groups</th><th>offsets committed</th><th>error</th></tr>
{{range .Status.OffsetSync}}<tr><td>{{.Source}}</td><td>{{.Groups}}</td>
<td class="{{if or .Failing .Error}}bad{{else}}ok{{end}}">{{ago .InStep}} ago</td><td class="{{if .Failing}}bad{{else}}ok{{end}}">{{len .Failing}}</td>
<td>{{.Committed}}</td><td class="bad">{{.Error}}</td></tr>
{{end}}</table>
{{range $f := .Status.OffsetSync}}{{if $f.Failing}}<table class="sync-failing"><tr><th>group failing to sync from {{$f.Source}}</th><th>class</th><th>failing for</th><th>last in step</th><th>why</th></tr>
{{range $f.Failing}}<tr><td class="bad">{{.Group}}</td><td>{{.Class}}</td><td>{{ago .Since}}</td><td>{{if .LastSynced.IsZero}}never since the agent started{{else}}{{ago .LastSynced}} ago{{end}}</td><td>{{.Error}}</td></tr>
{{end}}</table>{{end}}{{end}}{{end}}

{{with .Health.Cluster}}<h2>Cluster {{.Region}}</h2>
<table><tr><th>brokers</th><th>active controller</th><th>topics</th><th>partitions</th><th>under-replicated</th><th>under min ISR</th><th>offline</th><th>read</th></tr>
<tr><td>{{.Brokers}}</td><td class="{{if .ActiveController}}ok{{else}}bad{{end}}">{{if .ActiveController}}yes (node {{.ControllerID}}){{else}}none{{end}}</td>
<td>{{.Topics}}</td><td>{{.Partitions}}</td><td class="{{if .UnderReplicated}}bad{{else}}ok{{end}}">{{.UnderReplicated}}</td>
<td class="{{if .UnderMinISR}}bad{{else}}ok{{end}}">{{.UnderMinISR}}</td><td class="{{if .Offline}}bad{{else}}ok{{end}}">{{.Offline}}</td>
<td>{{if .LastSuccess.IsZero}}not yet{{else}}{{clock .LastSuccess}}{{end}}{{range .Errors}}<div class="warn">{{.}}</div>{{end}}</td></tr></table>
{{if .LogDirs}}<p>{{range .LogDirs}}broker {{.Broker}} {{.Dir}}: {{pct .UsableBytes .TotalBytes}} free · {{end}}</p>{{end}}
{{if .Groups}}<h2>Consumer groups</h2>
<table><tr><th>group</th><th>state</th><th>members</th><th>status</th><th>why</th></tr>
{{range .Groups}}<tr><td>{{.Group}}</td><td>{{.State}}</td><td>{{.Members}}</td><td class="{{if eq .StatusText "OK"}}ok{{else if eq .StatusText "WARN"}}warn{{else}}bad{{end}}">{{.StatusText}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>{{end}}{{end}}

<h2>Recent events</h2>
{{if .Events}}<ul>{{range .Events}}<li>{{clock .Time}} {{.Text}}</li>{{end}}</ul>{{else}}<p class="muted">Nothing has changed since the agent started.</p>{{end}}
</body></html>
`))

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
		"Kind": a.cfg.Mesh.Kind, "Map": a.regionMap(hs, fs.State), "Epoch": fs.Epoch, "Fenced": fs.Fenced,
	})
	if err != nil {
		a.log.Warn("status page", "err", err)
	}
}

// regionMap places the regions on a circle and draws the flows of the
// current roles: those of the failover state once one was read, else the
// file's.
func (a *Agent) regionMap(hs HealthStatus, state *api.State) regionMap {
	m := a.cfg.Mesh
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
