package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// goalsFile holds the benchmark's goals: each a metric of the results, a
// comparison and a threshold. The report computes every verdict from the
// figures of the run it shows; nothing is written by hand.
const goalsFile = "test/bench/goals.json"

// goal is one entry of goalsFile.
type goal struct {
	// Goal says it in words, as the issue that set it did.
	Goal string `json:"goal"`
	// Metric names a figure of the results (metricValue): SCENARIO.FIELD.COPIER,
	// or SCENARIO.FIELD.COPIER/COPIER for the ratio of two copiers'
	// medians. SCENARIO is throughput, wan, json, json-wan, latency or
	// scale-N (N partitions).
	Metric string `json:"metric"`
	// Op is >= or <=: how the figure must compare with Threshold.
	Op        string  `json:"op"`
	Threshold float64 `json:"threshold"`
	// Source names the issue that set the goal.
	Source string `json:"source"`
}

// verdict is a goal judged against one run's results.
type verdict struct {
	goal
	Value float64 `json:"value"`
	// Outcome is met, missed, or not measured when the run has no figure
	// for the metric (the scenario or a copier did not run, or failed).
	Outcome string `json:"outcome"`
}

const (
	outcomeMet         = "met"
	outcomeMissed      = "missed"
	outcomeNotMeasured = "not measured"
)

// readGoals reads goalsFile strictly and checks every goal's metric and
// comparison, so that a typo is an error, not a goal never judged.
func readGoals(path string) ([]goal, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc struct {
		Doc   string `json:"doc"`
		Goals []goal `json:"goals"`
	}
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, g := range doc.Goals {
		if g.Goal == "" || g.Source == "" {
			return nil, fmt.Errorf("%s: goal %d: goal and source are required", path, i)
		}
		if g.Op != ">=" && g.Op != "<=" {
			return nil, fmt.Errorf("%s: goal %d (%s): op %q, want >= or <=", path, i, g.Goal, g.Op)
		}
		if _, err := parseMetric(g.Metric); err != nil {
			return nil, fmt.Errorf("%s: goal %d (%s): %w", path, i, g.Goal, err)
		}
	}
	return doc.Goals, nil
}

// metric is a parsed goal metric.
type metric struct {
	scenario   string
	partitions int // of a scale scenario
	field      string
	copier     string
	per        string // the ratio's denominator copier; "" for a plain figure
}

// metricFields are the fields each kind of scenario has.
var metricFields = map[string][]string{
	"throughput": tpFields,
	"wan":        tpFields,
	"json":       tpFields,
	"json-wan":   tpFields,
	"latency":    {"p50_ms", "p99_ms", "p999_ms", "max_ms"},
	"scale":      {"start_all_s", "idle_cpu_pct", "idle_rss_mib", "new_topic_s"},
}

var tpFields = []string{"records_per_s", "mb_per_s", "cpu_s_per_million_records", "peak_rss_mib", "target_log_ratio", "wan_ratio"}

// tpField is a throughput run's figure by its goal name; byte figures a
// run did not measure (zero) are NaN, which medians leave out.
func tpField(t tpRun, field string) float64 {
	switch field {
	case "records_per_s":
		return t.RecordsPerSec
	case "mb_per_s":
		return t.MBPerSec
	case "cpu_s_per_million_records":
		return t.CPUSecPerMillion
	case "peak_rss_mib":
		return t.PeakRSSMiB
	case "target_log_ratio":
		return measured(t.TargetLogRatio)
	case "wan_ratio":
		return measured(t.WANRatio)
	}
	return math.NaN()
}

// measured is v, or NaN for a figure that was not measured.
func measured(v float64) float64 {
	if v == 0 {
		return math.NaN()
	}
	return v
}

func parseMetric(s string) (metric, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return metric{}, fmt.Errorf("metric %q: want SCENARIO.FIELD.COPIER[/COPIER]", s)
	}
	m := metric{scenario: parts[0], field: parts[1]}
	kind := m.scenario
	if n, ok := strings.CutPrefix(m.scenario, "scale-"); ok {
		p, err := strconv.Atoi(n)
		if err != nil || p <= 0 {
			return metric{}, fmt.Errorf("metric %q: scenario %q: want scale-N, N partitions", s, m.scenario)
		}
		kind, m.partitions = "scale", p
	}
	fields, ok := metricFields[kind]
	if !ok {
		return metric{}, fmt.Errorf("metric %q: no scenario %q (throughput, wan, json, json-wan, latency, scale-N)", s, m.scenario)
	}
	if !slices.Contains(fields, m.field) {
		return metric{}, fmt.Errorf("metric %q: %s has no field %q (%s)", s, kind, m.field, strings.Join(fields, ", "))
	}
	m.copier, m.per, _ = strings.Cut(parts[2], "/")
	for _, c := range []string{m.copier, m.per} {
		if c != "" && !slices.Contains(copierKinds, c) {
			return metric{}, fmt.Errorf("metric %q: no copier %q (%s)", s, c, strings.Join(copierKinds, ", "))
		}
	}
	if m.copier == "" {
		return metric{}, fmt.Errorf("metric %q: no copier", s)
	}
	return m, nil
}

// medians returns the median of the metric's field per copier, over the
// runs of its scenario that count (metricsOf).
func (r *results) medians(m metric) map[string]stat {
	switch m.scenario {
	case "throughput", "wan", "json", "json-wan":
		return r.metricsOf(m.scenario, func(t tpRun) float64 { return tpField(t, m.field) })
	case "latency":
		return r.latencyOf(func(l latRun) float64 {
			return map[string]float64{"p50_ms": l.P50Ms, "p99_ms": l.P99Ms, "p999_ms": l.P999Ms, "max_ms": l.MaxMs}[m.field]
		})
	}
	return r.scaleOf(m.partitions, func(x scaleRun) float64 {
		return map[string]float64{"start_all_s": x.StartAll, "idle_cpu_pct": x.IdleCPUPct, "idle_rss_mib": x.IdleRSSMiB, "new_topic_s": x.NewTopic}[m.field]
	})
}

// metricValue is the figure a goal judges: the copier's median, or the
// ratio of two copiers' medians; ok is false when the results lack it.
func (r *results) metricValue(name string) (value float64, ok bool) {
	m, err := parseMetric(name)
	if err != nil {
		return 0, false
	}
	med := r.medians(m)
	a, ok := med[m.copier]
	if !ok || a.N == 0 {
		return 0, false
	}
	if m.per == "" {
		return a.Median, true
	}
	b, ok := med[m.per]
	if !ok || b.N == 0 || b.Median == 0 {
		return 0, false
	}
	return a.Median / b.Median, true
}

// judge computes the verdict of every goal on r.
func (r *results) judge(goals []goal) []verdict {
	out := make([]verdict, 0, len(goals))
	for _, g := range goals {
		v := verdict{goal: g, Outcome: outcomeNotMeasured}
		if value, ok := r.metricValue(g.Metric); ok {
			v.Value = value
			met := value >= g.Threshold
			if g.Op == "<=" {
				met = value <= g.Threshold
			}
			v.Outcome = map[bool]string{true: outcomeMet, false: outcomeMissed}[met]
		}
		out = append(out, v)
	}
	return out
}

// loadGoals reads the repository's goals file.
func loadGoals() ([]goal, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	return readGoals(filepath.Join(root, goalsFile))
}
