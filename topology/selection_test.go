package topology

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// hubSpoke is a valid hub-spoke mesh with every kind of selection a file
// can hold: topics, groups, broadcast and a flow's topics. Each upper-case
// word is a slot for the patterns of one list.
const hubSpoke = `mesh: retail
topology:
  kind: hub-spoke
  hub: central
  standby_hub: central-2
  spokes: [store-a]
  broadcast:
    include:
      - BROADCAST
regions:
  - name: central
    kafka: {bootstrap: [kafka.central:9092]}
    agents: [{id: central-1, gossip: 127.0.0.1:7946, api: 127.0.0.1:8080, control: 127.0.0.1:6222}]
  - name: central-2
    kafka: {bootstrap: [kafka.central-2:9092]}
    agents: [{id: central-2-1, gossip: 127.0.0.2:7946, api: 127.0.0.2:8080, control: 127.0.0.2:6222}]
  - name: store-a
    kafka: {bootstrap: [kafka.store-a:9092]}
    agents: [{id: store-a-1, gossip: 127.0.0.3:7946, api: 127.0.0.3:8080, control: 127.0.0.3:6222}]
topics:
  include: [TOPICS]
  exclude: [NOTTOPICS]
groups:
  include: [GROUPS]
flows:
  - source: store-a
    target: central
    topics:
      include: [FLOW]
      exclude: [NOTFLOW]
`

// meshWith fills the slots of hubSpoke, each with its valid default unless
// set names it.
func meshWith(set map[string]string) string {
	slots := map[string]string{
		"BROADCAST": "prices",
		"TOPICS":    `"sales", "inventory"`,
		"NOTTOPICS": `'.*\.internal'`,
		"GROUPS":    `".*"`,
		"FLOW":      `"sales"`,
		"NOTFLOW":   `"sales\\.draft"`,
	}
	var pairs []string
	for slot, val := range slots {
		if v, ok := set[slot]; ok {
			val = v
		}
		pairs = append(pairs, slot, val)
	}
	return strings.NewReplacer(pairs...).Replace(hubSpoke)
}

// position is the 1-based line and column of the first occurrence of s.
func position(t *testing.T, text, s string) (line, col int) {
	t.Helper()
	i := strings.Index(text, s)
	if i < 0 || strings.Contains(text[i+1:], s) {
		t.Fatalf("%q must occur exactly once in the file", s)
	}
	return strings.Count(text[:i], "\n") + 1, i - strings.LastIndex(text[:i], "\n")
}

func TestSelectionFileValid(t *testing.T) {
	if _, err := Parse("mesh.yaml", []byte(meshWith(nil))); err != nil {
		t.Fatalf("the base file is invalid:\n%v", err)
	}
}

// TestBadPattern: a pattern that does not compile is reported once, at the
// pattern itself, wherever in the file it is.
func TestBadPattern(t *testing.T) {
	for _, c := range []struct {
		name, slot, patterns string
		at                   string // text of the bad pattern's node
		want                 string
	}{
		{"topics include", "TOPICS", `"sales", "pay[ments"`, `"pay[ments"`,
			"invalid include pattern \"pay[ments\": error parsing regexp: missing closing ]: `[ments`"},
		{"topics exclude", "NOTTOPICS", `'(draft'`, `'(draft'`,
			"invalid exclude pattern \"(draft\": error parsing regexp: missing closing ): `(draft`"},
		{"groups include", "GROUPS", `"*-billing"`, `"*-billing"`,
			"invalid include pattern \"*-billing\": error parsing regexp: missing argument to repetition operator: `*`"},
		{"broadcast, block list", "BROADCAST", `'a)|(b'`, `'a)|(b'`,
			"invalid include pattern \"a)|(b\": error parsing regexp: unexpected ): `a)|(b`"},
		{"broadcast, plain scalar", "BROADCAST", `prices[`, `prices[`,
			"invalid include pattern \"prices[\": error parsing regexp: missing closing ]: `[`"},
		{"flow include", "FLOW", `"sales", "x{2,1}"`, `"x{2,1}"`,
			"invalid include pattern \"x{2,1}\": error parsing regexp: invalid repeat count: `{2,1}`"},
		{"flow exclude", "NOTFLOW", `"a", "b", "\\xZZ"`, `"\\xZZ"`,
			"invalid exclude pattern \"\\\\xZZ\": error parsing regexp: invalid escape sequence: `\\xZZ`"},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := meshWith(map[string]string{c.slot: c.patterns})
			line, col := position(t, text, c.at)
			_, err := Parse("mesh.yaml", []byte(text))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse: %v, want Errors", err)
			}
			want := Error{File: "mesh.yaml", Line: line, Col: col, Msg: c.want}
			if len(errs) != 1 || errs[0] != want {
				t.Errorf("got:\n%v\nwant exactly:\n%v", err, want)
			}
		})
	}
}

// TestParsedSelectionsCompiled: every pattern of a parsed mesh, and of the
// flows planned from it, is compiled once, so that Match compiles nothing.
func TestParsedSelectionsCompiled(t *testing.T) {
	for _, file := range []string{"testdata/valid/full.yaml", "testdata/valid/minimal.yaml", "../configs/examples/hub-spoke.yaml"} {
		m := mustLoad(t, file)
		sels := map[string]Selection{"topics": m.Topics, "groups": m.Groups, "broadcast": m.Roles.Broadcast}
		for i, f := range m.Flows {
			sels[fmt.Sprintf("flows[%d]", i)] = f.Topics
		}
		for _, f := range Plan(m) {
			sels[f.Kind+" "+f.Source+"→"+f.Target+" topics"] = f.Topics
			sels[f.Kind+" "+f.Source+"→"+f.Target+" groups"] = f.Groups
		}
		for name, s := range sels {
			if !compiled(s.Include, s.include) || !compiled(s.Exclude, s.exclude) {
				t.Errorf("%s: %s is not compiled: %+v", file, name, s)
			}
		}
	}
}

func compiled(srcs []string, ps []pattern) bool {
	return slices.EqualFunc(srcs, ps, func(src string, p pattern) bool { return p.src == src && p.re != nil })
}

// TestMatch: a compiled selection and the same selection written as a
// literal select the same names, each pattern matching the whole name.
func TestMatch(t *testing.T) {
	orders := []string{"orders.*", "payments", "2024"}
	internal := []string{`.*\.internal`}
	for _, c := range []struct {
		name             string
		include, exclude []string
		topic            string
		want             bool
	}{
		{"literal name", orders, internal, "payments", true},
		{"no prefix match", orders, internal, "payments-eu", false},
		{"no suffix match", orders, internal, "eu-payments", false},
		{"pattern", orders, internal, "orders-eu", true},
		{"pattern matches the empty tail", orders, internal, "orders", true},
		{"number as a name", orders, internal, "2024", true},
		{"exclude wins", orders, internal, "orders.internal", false},
		{"not included", orders, internal, "clicks", false},
		{"alternation stays anchored", []string{"a|b"}, nil, "ab", false},
		{"alternation", []string{"a|b"}, nil, "b", true},
		{"empty include selects nothing", nil, nil, "orders", false},
		{"empty include with exclude", nil, internal, "orders", false},
	} {
		s, err := NewSelection(c.include, c.exclude)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := s.Match(c.topic); got != c.want {
			t.Errorf("%s: NewSelection(%q, %q).Match(%q) = %v, want %v", c.name, c.include, c.exclude, c.topic, got, c.want)
		}
		lit := Selection{Include: c.include, Exclude: c.exclude}
		if got := lit.Match(c.topic); got != c.want {
			t.Errorf("%s: literal %+v Match(%q) = %v, want %v", c.name, lit, c.topic, got, c.want)
		}
	}
	if (Selection{}).Match("orders") {
		t.Error("the zero Selection selects orders, want nothing")
	}
}

// TestMatchFollowsPatterns: changing a compiled selection's patterns
// changes what it selects; the compiled form is never stale.
func TestMatchFollowsPatterns(t *testing.T) {
	s := MustSelection([]string{"orders"}, nil)
	s.Include = []string{"payments"}
	if s.Match("orders") || !s.Match("payments") {
		t.Errorf("after replacing include with payments: Match(orders) = %v, Match(payments) = %v", s.Match("orders"), s.Match("payments"))
	}
}

func TestNewSelectionErrors(t *testing.T) {
	_, err := NewSelection([]string{"ok", "a)|(b"}, []string{"[x"})
	want := "invalid include pattern \"a)|(b\": error parsing regexp: unexpected ): `a)|(b`\n" +
		"invalid exclude pattern \"[x\": error parsing regexp: missing closing ]: `[x`"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want:\n%s", err, want)
	}
}

// TestInvalidPatternPanics: Go code that builds a selection with a bad
// pattern fails loudly instead of selecting nothing.
func TestInvalidPatternPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"MustSelection": func() { MustSelection(nil, []string{"("}) },
		"literal Match": func() { Selection{Include: []string{".*"}, Exclude: []string{"("}}.Match("orders") },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), `invalid exclude pattern "("`) {
					t.Errorf("%s: recovered %v, want a panic naming the pattern", name, r)
				}
			}()
			f()
		}()
	}
}

// TestEmptySelection: at every level, "include: []" selects nothing and an
// absent include (no key, or no value) means the level's default: every
// name for topics and groups, nothing for broadcast, the mesh's patterns
// for a flow override.
func TestEmptySelection(t *testing.T) {
	const file = `mesh: retail
topology:
  kind: hub-spoke
  hub: central
  spokes: [store-a, store-b]
BROADCAST
regions:
  - name: central
    kafka: {bootstrap: [kafka.central:9092]}
    agents: [{id: central-1, gossip: 127.0.0.1:7946, api: 127.0.0.1:8080, control: 127.0.0.1:6222}]
  - name: store-a
    kafka: {bootstrap: [kafka.store-a:9092]}
    agents: [{id: store-a-1, gossip: 127.0.0.2:7946, api: 127.0.0.2:8080, control: 127.0.0.2:6222}]
  - name: store-b
    kafka: {bootstrap: [kafka.store-b:9092]}
    agents: [{id: store-b-1, gossip: 127.0.0.3:7946, api: 127.0.0.3:8080, control: 127.0.0.3:6222}]
TOPICS
GROUPS
flows:
  - source: store-a
    target: central
    topics: FLOW
`
	type want struct{ topic, group, broadcast, flow map[string]bool }
	mesh := map[string]bool{"orders": true, "orders.internal": false, "clicks": false}
	all := map[string]bool{"orders": true, "orders.internal": true, "clicks": true}
	none := map[string]bool{"orders": false, "orders.internal": false, "clicks": false}
	for _, c := range []struct {
		name                            string
		topics, groups, broadcast, flow string
		want                            want
	}{
		{"absent everywhere", "", "", "", "{}",
			want{all, all, nil, all}},
		{"mesh topics, flow inherits both lists", `topics: {include: [orders], exclude: ['.*\.internal']}`, "", "", "{}",
			want{mesh, all, nil, mesh}},
		{"include with no value is absent", "topics: {include: }", "groups: {include: }", "  broadcast: {include: }", "{include: }",
			want{all, all, nil, all}},
		{"empty include at the top level", "topics: {include: []}", "groups: {include: []}", "", "{}",
			want{none, none, nil, none}},
		{"empty include in the flow only", `topics: {include: [orders], exclude: ['.*\.internal']}`, "", "", "{include: []}",
			want{mesh, all, nil, none}},
		{"flow include replaces, exclude inherited", `topics: {include: [orders], exclude: ['.*\.internal']}`, "", "", "{include: ['orders.*']}",
			want{mesh, all, nil, mesh}},
		{"flow exclude replaces, include inherited", `topics: {include: ['orders.*'], exclude: ['.*\.internal']}`, "", "", "{exclude: []}",
			want{mesh, all, nil, map[string]bool{"orders": true, "orders.internal": true, "clicks": false}}},
		{"broadcast", "", "", "  broadcast: {include: [orders]}", "{}",
			want{all, all, map[string]bool{"orders": true, "clicks": false}, all}},
		{"empty broadcast", "", "", "  broadcast: {include: []}", "{}",
			want{all, all, nil, all}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := strings.NewReplacer("BROADCAST\n", c.broadcast+"\n", "TOPICS", c.topics, "GROUPS", c.groups, "FLOW", c.flow).Replace(file)
			m, err := Parse("mesh.yaml", []byte(text))
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			check := func(what string, s Selection, want map[string]bool) {
				t.Helper()
				for name, w := range want {
					if got := s.Match(name); got != w {
						t.Errorf("%s selects %s: %v, want %v (%+v)", what, name, got, w, s)
					}
				}
			}
			check("topics", m.Topics, c.want.topic)
			check("groups", m.Groups, c.want.group)
			var broadcast, flow *Flow
			for _, f := range Plan(m) {
				switch {
				case f.Kind == FlowBroadcast && broadcast == nil:
					broadcast = &f
				case f.Source == "store-a" && f.Target == "central":
					flow = &f
				case f.Source == "store-b" && f.Target == "central":
					check("the flow without override", f.Topics, c.want.topic)
				}
			}
			if (broadcast != nil) != (c.want.broadcast != nil) {
				t.Errorf("broadcast flow planned: %v, want %v", broadcast != nil, c.want.broadcast != nil)
			} else if broadcast != nil {
				check("broadcast", broadcast.Topics, c.want.broadcast)
			}
			check("the overridden flow", flow.Topics, c.want.flow)
		})
	}
}
