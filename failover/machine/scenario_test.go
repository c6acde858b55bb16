package machine

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/health"
	"github.com/geomesh/geomesh/topology"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output in testdata/*.txt")

// TestScenarios runs every testdata/*.txt script. A script is a list of
// blocks, as in etcd raft's interaction tests:
//
//	command arg key=value ...
//	----
//	expected output
//
// separated by blank lines; lines starting with # are comments. The
// harness runs one machine per region (named by the region) and
// simulates the control plane: a key-value with a revision, compare-and-
// set, and delivery of states and views to every machine not cut off.
// Commands:
//
//	mesh kind=K regions=a,b,w [witness=w] [primary=a standby=b,c] [hub=h standby-hub=s spokes=x,y broadcast]
//	     [mode=automatic|manual] [stranded=P] [voters=...] [down-after=10s] [probe=2s]
//	                   (a new mesh resets machines and the stored state)
//	apply [as mesh]    every machine takes a new version of the topology
//	                   (MeshChanged); the stored state stays
//	start a b w        new machines, fed the stored state (or its absence)
//	bootstrap a b w    store the initial state at revision 1, then start
//	view from=b,w a=down b=up ...   views of each observer, delivered to reachable machines
//	tick 5s            advance the clock, tick every machine
//	cas [order=w,b]    settle pending proposals, these first (default: as made)
//	cas noquorum       answer every pending proposal with no quorum (the
//	                   bucket's stream electing a leader), cutting nobody off
//	check b w          a control-plane check of b, w: reachable unless cut off
//	reload b w         b, w read the stored state (what a Reload asks for)
//	partition b / heal b   cut b off the control plane / reconnect it
//	stop a / restart a     crash a machine / start it anew
//	command b failover to=a [from=x] [force] / command b failback
//	lag b a->b records=N   lag report (records=0: caught up to now)
//	stranded a count=N     stranded records settled
//	kv                 print the stored state
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

type block struct {
	comment string // lines starting with # before the command
	cmd     string
	want    string
	got     string
	line    int
}

func parseScript(t *testing.T, path string) (header string, blocks []block) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var head []string
	i := 0
	for i < len(lines) && (strings.HasPrefix(lines[i], "#") || lines[i] == "") {
		head = append(head, lines[i])
		i++
	}
	for i < len(lines) {
		if lines[i] == "" {
			i++
			continue
		}
		var comment, cmd []string
		for i < len(lines) && strings.HasPrefix(lines[i], "#") {
			comment = append(comment, lines[i])
			i++
		}
		start := i + 1
		for i < len(lines) && lines[i] != "----" {
			cmd = append(cmd, lines[i])
			i++
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: command without ----", path, start)
		}
		i++
		var want []string
		for i < len(lines) && lines[i] != "" {
			want = append(want, lines[i])
			i++
		}
		blocks = append(blocks, block{comment: strings.Join(comment, "\n"), cmd: strings.Join(cmd, "\n"),
			want: strings.Join(want, "\n"), line: start})
	}
	return strings.Join(head, "\n"), blocks
}

func runScript(t *testing.T, path string) {
	header, blocks := parseScript(t, path)
	h := &harness{t: t, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), machines: map[string]*Machine{}, cut: map[string]bool{}}
	failed := false
	for i := range blocks {
		b := &blocks[i]
		b.got = h.run(b.cmd)
		if b.got != b.want && !*rewrite {
			failed = true
			t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", path, b.line, b.cmd, b.got, b.want)
		}
	}
	if *rewrite {
		var sb strings.Builder
		if header != "" {
			sb.WriteString(strings.TrimRight(header, "\n") + "\n\n")
		}
		for i, b := range blocks {
			if i > 0 {
				sb.WriteString("\n")
			}
			if b.comment != "" {
				sb.WriteString(b.comment + "\n")
			}
			fmt.Fprintf(&sb, "%s\n----\n%s\n", b.cmd, b.got)
		}
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if failed {
		t.Log("run go test ./failover/machine -rewrite to accept the new output")
	}
}

type proposal struct {
	from string
	p    Propose
}

type harness struct {
	t        *testing.T
	mesh     *topology.Mesh
	now      time.Time
	order    []string // machines in start order
	machines map[string]*Machine
	cut      map[string]bool // cut off the control plane
	kv       *api.State
	rev      uint64
	pending  []proposal
	out      []string
}

func (h *harness) fatalf(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf(format, args...)
}

func (h *harness) run(cmd string) string {
	h.out = nil
	fields := strings.Fields(cmd)
	name, args := fields[0], fields[1:]
	kv := map[string]string{}
	var pos []string
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			kv[k] = v
		} else {
			pos = append(pos, a)
		}
	}
	switch name {
	case "mesh":
		// A new mesh starts from scratch: no machines, no state.
		h.mesh = buildMesh(h, kv, pos)
		h.order, h.machines, h.cut, h.kv, h.rev, h.pending = nil, map[string]*Machine{}, map[string]bool{}, nil, 0, nil
	case "apply":
		h.mesh = buildMesh(h, kv, pos)
		for _, r := range h.order {
			h.step(r, MeshChanged{Mesh: h.mesh})
		}
	case "bootstrap":
		s := Initial(h.mesh, h.now)
		h.kv, h.rev = &s, 1
		for _, r := range pos {
			h.start(r)
		}
	case "start", "restart":
		for _, r := range pos {
			h.start(r)
		}
	case "stop":
		for _, r := range pos {
			delete(h.machines, r)
			h.order = slices.DeleteFunc(h.order, func(s string) bool { return s == r })
			h.pending = slices.DeleteFunc(h.pending, func(p proposal) bool { return p.from == r })
		}
	case "tick":
		d, err := time.ParseDuration(pos[0])
		if err != nil {
			h.fatalf("tick: %v", err)
		}
		h.now = h.now.Add(d)
		for _, r := range h.order {
			h.step(r, Tick{Now: h.now})
		}
	case "view":
		observers := strings.Split(kv["from"], ",")
		delete(kv, "from")
		for _, o := range observers {
			for _, region := range sortedKeys(kv) {
				v := View{Observer: o, Region: region, Verdict: health.Verdict(kv[region]), At: h.now}
				for _, r := range h.order {
					// Views travel through the control plane: a cut-off
					// region neither sends nor receives any but its own.
					if r == o || (!h.cut[r] && !h.cut[o]) {
						h.step(r, v)
					}
				}
			}
		}
	case "cas":
		if slices.Contains(pos, "noquorum") {
			h.noQuorum()
		} else {
			h.cas(kv["order"])
		}
	case "check":
		for _, r := range pos {
			h.step(r, ControlPlane{Reachable: !h.cut[r]})
		}
	case "reload":
		for _, r := range pos {
			h.step(r, StateChanged{State: h.kv, Revision: h.rev})
		}
	case "partition":
		for _, r := range pos {
			h.cut[r] = true
			h.step(r, ControlPlane{Reachable: false})
		}
	case "heal":
		for _, r := range pos {
			delete(h.cut, r)
			// As the plane reports a check that succeeds again: the
			// state it read first, then the control plane reachable.
			h.step(r, StateChanged{State: h.kv, Revision: h.rev})
			h.step(r, ControlPlane{Reachable: true})
		}
	case "command":
		c := Command{Kind: CommandKind(pos[1]), To: kv["to"], From: kv["from"], Force: slices.Contains(pos, "force")}
		h.step(pos[0], c)
	case "lag":
		src, dst, _ := strings.Cut(pos[1], "->")
		n, _ := strconv.ParseInt(kv["records"], 10, 64)
		l := Lag{Source: src, Target: dst, Records: n}
		if n == 0 {
			l.CaughtUpTo = h.now
		}
		h.step(pos[0], l)
	case "stranded":
		n, _ := strconv.ParseInt(kv["count"], 10, 64)
		h.step(pos[0], StrandedDone{Count: n})
	case "kv":
		if h.kv == nil {
			h.out = append(h.out, "empty")
		} else {
			h.out = append(h.out, fmt.Sprintf("rev=%d %s %s from=%s to=%s: %s", h.rev, h.kv, h.kv.Decision, h.kv.From, h.kv.To, h.kv.Reason))
		}
	case "status":
		for _, r := range h.order {
			st := h.machines[r].Status()
			ep := uint64(0)
			if st.State != nil {
				ep = st.State.Epoch
			}
			h.out = append(h.out, fmt.Sprintf("%s: epoch=%d rev=%d fenced=%v reachable=%v pending=%v", r, ep, st.Revision, st.Fenced, st.Reachable, st.Pending))
		}
	default:
		h.fatalf("unknown command %q", name)
	}
	if len(h.out) == 0 {
		return "ok"
	}
	return strings.Join(h.out, "\n")
}

func (h *harness) start(r string) {
	m := New(Config{Mesh: h.mesh, Region: r})
	if _, ok := h.machines[r]; !ok {
		h.order = append(h.order, r)
	}
	h.machines[r] = m
	h.step(r, Tick{Now: h.now})
	if h.cut[r] {
		h.step(r, ControlPlane{Reachable: false})
		return
	}
	h.step(r, ControlPlane{Reachable: true})
	h.step(r, StateChanged{State: h.kv, Revision: h.rev})
}

// step feeds one machine and records its actions; proposals queue for cas.
func (h *harness) step(r string, in Input) {
	m, ok := h.machines[r]
	if !ok {
		h.fatalf("no machine %q", r)
	}
	for _, a := range m.Step(in) {
		h.out = append(h.out, r+": "+a.String())
		if p, ok := a.(Propose); ok {
			h.pending = append(h.pending, proposal{from: r, p: p})
		}
	}
}

// noQuorum answers every pending proposal as JetStream does while the
// bucket's stream has no leader: no response, whoever proposed.
func (h *harness) noQuorum() {
	ps := h.pending
	h.pending = nil
	for _, p := range ps {
		h.step(p.from, ProposalResult{NoQuorum: true})
	}
}

// cas settles the pending proposals like JetStream would: in order, each
// succeeds if its revision is still current; cut-off proposers get no
// quorum. Then every reachable machine sees the new state.
func (h *harness) cas(order string) {
	ps := h.pending
	h.pending = nil
	if order != "" {
		// The listed proposers first, then the rest as made.
		rank := func(p proposal) int {
			if i := slices.Index(strings.Split(order, ","), p.from); i >= 0 {
				return i
			}
			return len(ps)
		}
		slices.SortStableFunc(ps, func(a, b proposal) int { return rank(a) - rank(b) })
	}
	changed := false
	var winner string
	for _, p := range ps {
		switch {
		case h.cut[p.from]:
			h.step(p.from, ProposalResult{NoQuorum: true})
		case p.p.Revision == h.rev:
			s := p.p.State
			h.kv, h.rev, changed, winner = &s, h.rev+1, true, p.from
			h.step(p.from, ProposalResult{OK: true, Revision: h.rev})
		default:
			h.step(p.from, ProposalResult{Current: h.kv, Revision: h.rev})
		}
	}
	if changed {
		for _, r := range h.order {
			if !h.cut[r] && r != winner {
				h.step(r, StateChanged{State: h.kv, Revision: h.rev})
			}
		}
	}
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func buildMesh(h *harness, kv map[string]string, pos []string) *topology.Mesh {
	split := func(k string) []string {
		if kv[k] == "" {
			return nil
		}
		return strings.Split(kv[k], ",")
	}
	dur := func(k string, def time.Duration) time.Duration {
		if kv[k] == "" {
			return def
		}
		d, err := time.ParseDuration(kv[k])
		if err != nil {
			h.fatalf("mesh %s: %v", k, err)
		}
		return d
	}
	m := &topology.Mesh{
		Name: "test",
		Kind: topology.Kind(kv["kind"]),
		Roles: topology.Roles{
			Primary: kv["primary"], Standby: split("standby"),
			Hub: kv["hub"], StandbyHub: kv["standby-hub"], Spokes: split("spokes"),
		},
		Failover: topology.Failover{
			Mode:     topology.FailoverMode(kv["mode"]),
			Stranded: topology.StrandedQuarantine,
			Detection: topology.Detection{
				DownAfter:          dur("down-after", 10*time.Second),
				KafkaProbeInterval: dur("probe", 2*time.Second),
			},
			Quorum: topology.Quorum{Voters: split("voters")},
		},
	}
	if slices.Contains(pos, "broadcast") {
		m.Roles.Broadcast.Include = []string{"orders"}
	}
	if kv["stranded"] != "" {
		m.Failover.Stranded = topology.Stranded(kv["stranded"])
	}
	if m.Failover.Mode == "" {
		m.Failover.Mode = topology.FailoverAutomatic
	}
	witness := split("witness")
	for _, r := range split("regions") {
		m.Regions = append(m.Regions, topology.Region{Name: r, Witness: slices.Contains(witness, r)})
		if kv["voters"] == "" {
			m.Failover.Quorum.Voters = append(m.Failover.Quorum.Voters, r)
		}
	}
	return m
}
