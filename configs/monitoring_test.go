package configs

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The alert rules and the dashboard may name only metrics of the
// catalogue, which a test in package agent keeps equal to a running
// agent's /metrics, and the recording rules defined next to the alerts.

const (
	rulesFile     = "prometheus/geomesh.rules.yml"
	dashboardFile = "grafana/geomesh.json"
	catalogueFile = "../docs/metrics.md"
)

// catalogue reads metric names and types from the generated table.
func catalogue(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(catalogueFile)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(geomesh_[a-z0-9_]+)` \\| ([a-z]+) \\|")
	out := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	if len(out) < 10 {
		t.Fatalf("%s: only %d metrics found in the table", catalogueFile, len(out))
	}
	return out
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// expression is one PromQL expression and where it comes from.
type expression struct {
	where, expr string
}

func rules(t *testing.T) (exprs []expression, recorded map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	recorded = map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
			exprs = append(exprs, expression{rulesFile + ": " + r.Record + r.Alert, r.Expr})
		}
	}
	return exprs, recorded
}

// dashboard returns every query of the dashboard: panel targets and
// template variable queries.
func dashboard(t *testing.T) []expression {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []expression
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, expression{dashboardFile + ": panel " + p.Title, tg.Expr})
		}
	}
	labelValues := regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)`)
	for _, v := range d.Templating.List {
		var q struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &q) != nil || q.Query == "" {
			continue
		}
		if m := labelValues.FindStringSubmatch(q.Query); m != nil {
			out = append(out, expression{dashboardFile + ": variable " + v.Name, m[1]})
		}
	}
	if len(out) < 10 {
		t.Fatalf("%s: only %d queries found", dashboardFile, len(out))
	}
	return out
}

var (
	stringLit = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	matchers  = regexp.MustCompile(`\{[^}]*\}`)
	grouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	ranges    = regexp.MustCompile(`\[[^\]]*\]`)
	ident     = regexp.MustCompile(`[a-zA-Z_:$.][\w:.]*`)
	keywords  = map[string]bool{"and": true, "or": true, "unless": true, "offset": true, "bool": true, "by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
)

// metricNames returns the metric names a PromQL expression refers to:
// what is left of its identifiers once strings, label matchers, grouping
// labels, ranges, keywords and function names are taken out.
func metricNames(expr string) []string {
	e := stringLit.ReplaceAllString(expr, `""`)
	e = matchers.ReplaceAllString(e, "{}")
	e = grouping.ReplaceAllString(e, "")
	e = ranges.ReplaceAllString(e, "")
	var out []string
	for _, loc := range ident.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		// Variables ($x), numbers' exponents and dotted words are no
		// names; a word followed by '(' is a function.
		call := strings.HasPrefix(strings.TrimLeft(e[loc[1]:], " \t\n"), "(")
		if strings.ContainsAny(name, "$.") || call || keywords[strings.ToLower(name)] || (loc[0] > 0 && isDigit(e[loc[0]-1])) {
			continue
		}
		out = append(out, name)
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string]string{
		`sum by (source, target) (rate(geomesh_mirror_records_total{source=~"$region"}[$__rate_interval]))`: "geomesh_mirror_records_total",
		`a:b:c > 0.5 * avg_over_time(a:b:c[1h] offset 5m) and x > 1`:                                        "a:b:c a:b:c x",
		`histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))`:                                        "h_bucket",
		`max by (region) (up{job="and or"}) == bool 1`:                                                      "up",
		`time() - max(ts)`: "ts",
		`label_replace(m, "dst", "$1", "src", "(.*)")`: "m",
	} {
		if got := strings.Join(metricNames(expr), " "); got != want {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
}

// TestQueriesUseCatalogue checks every alert, recording rule and dashboard
// query against docs/metrics.md.
func TestQueriesUseCatalogue(t *testing.T) {
	cat := catalogue(t)
	exprs, recorded := rules(t)
	exprs = append(exprs, dashboard(t)...)
	known := func(name string) bool {
		if recorded[name] {
			return true
		}
		if _, ok := cat[name]; ok {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && cat[base] == "histogram" {
				return true
			}
		}
		return false
	}
	used := map[string]bool{}
	for _, e := range exprs {
		names := metricNames(e.expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", e.where, e.expr)
		}
		for _, n := range names {
			used[n] = true
			if !known(n) {
				t.Errorf("%s: %s is not in %s nor recorded in %s", e.where, n, catalogueFile, rulesFile)
			}
		}
	}
	for r := range recorded {
		if !used[r] {
			t.Errorf("recording rule %s is used by no alert or panel", r)
		}
	}
}

// TestDashboardQueriesParse hands every dashboard query, with Grafana's
// variables filled in, to promtool as a recording rule, so a typo fails
// here rather than as an empty panel. It needs promtool (Debian package
// prometheus, installed by .ci/run).
func TestDashboardQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Debian's prometheus package (.ci/run does)")
	}
	fill := strings.NewReplacer("$__rate_interval", "5m", "$region", ".*", "${datasource}", "")
	var sb strings.Builder
	sb.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range dashboard(t) {
		q, _ := json.Marshal(fill.Replace(e.expr))
		fmt.Fprintf(&sb, "      - record: dashboard:query_%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
	}
}
