package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// tpRun is one copier's run over one backlog.
type tpRun struct {
	Copier           string  `json:"copier"`
	Rep              int     `json:"rep"`
	Records          int     `json:"records"`
	Bytes            int64   `json:"bytes"`
	StartupSec       float64 `json:"startup_s"` // process start → first copy visible
	CopySec          float64 `json:"copy_s"`    // first copy visible → caught up
	TotalSec         float64 `json:"total_s"`
	RecordsPerSec    float64 `json:"records_per_s"` // over CopySec
	MBPerSec         float64 `json:"mb_per_s"`      // key+value bytes, 1 MB = 10^6 B
	TargetEndSum     int64   `json:"target_end_offsets"`
	CPUSec           float64 `json:"cpu_s"`       // copier CPU during CopySec
	CPUSecTotal      float64 `json:"cpu_s_total"` // copier CPU from its start
	CPUSecPerMillion float64 `json:"cpu_s_per_million_records"`
	PeakRSSMiB       float64 `json:"peak_rss_mib"`
	CopierLogBytes   int64   `json:"copier_log_bytes"`
	// Byte accounting (account): the backlog in the source's log
	// directory, its copies in the target's, and what the copier fetched
	// over the WAN link (WAN scenarios only), with the last two as
	// multiples of the first.
	SourceLogBytes int64   `json:"source_log_bytes,omitempty"`
	TargetLogBytes int64   `json:"target_log_bytes,omitempty"`
	WANBytes       int64   `json:"wan_bytes,omitempty"`
	TargetLogRatio float64 `json:"target_log_ratio,omitempty"`
	WANRatio       float64 `json:"wan_ratio,omitempty"`
	runOutcome
}

// account records a run's bytes: source and target log sizes, and the
// bytes fetched over the WAN link when wan is set.
func (t *tpRun) account(source, target, fetched int64, wan bool) {
	t.SourceLogBytes, t.TargetLogBytes = source, target
	if source > 0 {
		t.TargetLogRatio = float64(target) / float64(source)
	}
	if wan {
		t.WANBytes = fetched
		if source > 0 {
			t.WANRatio = float64(fetched) / float64(source)
		}
	}
}

// runOutcome is what every run records besides its figures: the commit
// it measured, and why it failed. A failed run stays in the report,
// listed and counted, and out of the medians.
type runOutcome struct {
	Commit string `json:"commit,omitempty"`
	Error  string `json:"error,omitempty"`
}

// latRun is one copier's latency run.
type latRun struct {
	Copier   string  `json:"copier"`
	Rep      int     `json:"rep"`
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
	Measured int     `json:"measured"` // received after the warm-up
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	P999Ms   float64 `json:"p999_ms"`
	MaxMs    float64 `json:"max_ms"`
	runOutcome
}

type stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

func statOf(v []float64) stat {
	if len(v) == 0 {
		return stat{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

type machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	MemoryMiB int64  `json:"memory_mib"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	Java      string `json:"java"`
	Kafka     string `json:"kafka"`
	Commit    string `json:"geomesh_commit"`
}

type results struct {
	Started     time.Time          `json:"started"`
	Finished    time.Time          `json:"finished"`
	Command     string             `json:"command"`
	Quick       bool               `json:"quick"`
	Reps        int                `json:"reps"`
	Machine     machine            `json:"machine"`
	Setup       map[string]string  `json:"setup"`
	WANDelayMs  float64            `json:"wan_delay_ms,omitempty"`
	LatencyRate int                `json:"latency_rate"`
	Throughput  map[string][]tpRun `json:"throughput"` // scenario → runs
	Latency     []latRun           `json:"latency"`
	Scale       []scaleRun         `json:"scale,omitempty"`
	Summary     map[string]any     `json:"summary"`
	// Goals are the verdicts on test/bench/goals.json, computed from the
	// figures above whenever the report is written.
	Goals       []verdict `json:"goals,omitempty"`
	Profile     string    `json:"profile_top,omitempty"`
	IdleProfile string    `json:"idle_profile_top,omitempty"`
	Notes       []string  `json:"notes,omitempty"`
}

func newResults(b *bench) *results {
	r := &results{
		Started:     time.Now().UTC(),
		Command:     strings.Join(append([]string{"geomesh-bench"}, os.Args[1:]...), " "),
		Quick:       b.opts.quick,
		Reps:        b.opts.reps,
		LatencyRate: b.opts.latencyRate,
		Throughput:  map[string][]tpRun{},
		Setup: map[string]string{
			"clusters":      "2 Apache Kafka clusters, 1 KRaft node each (broker+controller), JVM -Xmx1g, C2 on, harness test defaults otherwise",
			"partitions":    fmt.Sprint(b.partitions),
			"record":        fmt.Sprintf("throughput and wan: %d B random value, key \"<partition>-<seq>\", written to the source with franz-go's default snappy batch compression (which does not shrink random values, so the batches are stored uncompressed); json and json-wan: application events of about 1 KiB from a seeded vocabulary (internal/events, about 7× with zstd), written with zstd", valueSize),
			"backlog":       fmt.Sprint(b.opts.records),
			"geomesh":       "geomesh agent process (go build ./cmd/geomesh), default settings: 4 shards, 100 ms commit interval, 10,000 records per transaction, copies compressed with the source batches' codec (replication.compression: source)",
			"mm2":           "MirrorMaker 2 dedicated mode (org.apache.kafka.connect.mirror.MirrorMaker), tasks.max=4, -Xms256m -Xmx2g G1, read_committed source consumer; EOS: exactly.once.source.support=enabled + internal REST",
			"mm2_tuned":     "the mm2 setup plus the settings of the MirrorMaker 2 tuning table below",
			"raw":           "franz-go loop in its own process: 4 read_committed consumer → idempotent producer pairs (geomesh's shard count), no transactions, geomesh's fetch sizes (4 MiB per partition, 16 MiB per fetch), copies compressed with the source batches' codec as geomesh's are, franz-go's batching otherwise (10 ms linger, 1 MB batches)",
			"latency":       fmt.Sprintf("%d records/s of %d B for %d s per run, first %s left out, after one unrecorded %d s run of every copier", b.opts.latencyRate, valueSize, b.opts.latencySeconds, latencyWarmup, latencyWarmupSeconds),
			"wan_records":   fmt.Sprint(b.opts.wanRecords),
			"measure_clock": "copy time runs from the first copy visible on the target to the last record of every partition visible to read_committed (polled every 250 ms)",
		},
	}
	r.Machine = machineInfo(b)
	return r
}

func machineInfo(b *bench) machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Kafka: b.src.Version()}
	if out, err := exec.Command(b.java, "-version").CombinedOutput(); err == nil {
		m.Java = strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
	}
	if bs, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(strings.SplitN(string(bs), "\n", 2)[0], "MemTotal:")), "%d", &kb)
		m.MemoryMiB = kb >> 10
	}
	if bs, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(bs), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	if root, err := moduleRoot(); err == nil {
		if out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
			m.Commit = strings.TrimSpace(string(out))
		}
	}
	return m
}

// mergeInto makes r, an earlier report, the base of a run that measures
// with machine m: its runs keep the commit they measured (stamped from
// the earlier machine where a run has none), its notes say which commit
// they were about, and the report's machine becomes the new one. Medians
// then combine only the runs of each scenario's newest commit
// (metricsOf), so a merged report shows the new figures without
// dropping the earlier runs or their failures.
func (r *results) mergeInto(m machine) {
	old := r.Machine.Commit
	for sc, runs := range r.Throughput {
		for i := range runs {
			runs[i].Commit = cmp.Or(runs[i].Commit, old)
		}
		r.Throughput[sc] = runs
	}
	for i := range r.Latency {
		r.Latency[i].Commit = cmp.Or(r.Latency[i].Commit, old)
	}
	for i := range r.Scale {
		r.Scale[i].Commit = cmp.Or(r.Scale[i].Commit, old)
	}
	for i, n := range r.Notes {
		if !strings.HasPrefix(n, "commit ") {
			r.Notes[i] = "commit " + old + ": " + n
		}
	}
	r.Machine = m
}

// addThroughput records a run of scenario, done or failed (err), as
// measuring the report's commit.
func (r *results) addThroughput(scenario string, run tpRun, err error) {
	run.runOutcome = r.outcome(err)
	r.Throughput[scenario] = append(r.Throughput[scenario], run)
}

func (r *results) addLatency(run latRun, err error) {
	run.runOutcome = r.outcome(err)
	r.Latency = append(r.Latency, run)
}

func (r *results) addScale(run scaleRun, err error) {
	run.runOutcome = r.outcome(err)
	r.Scale = append(r.Scale, run)
}

func (r *results) outcome(err error) runOutcome {
	o := runOutcome{Commit: r.Machine.Commit}
	if err != nil {
		o.Error = err.Error()
	}
	return o
}

// profile renders the CPU profile of the profiled geomesh run.
func (r *results) profile(b *bench) {
	r.Profile = r.renderProfile(b, copyProfile, os.Getenv("BENCH_PROFILE_OUT"))
}

// idleProfile renders the CPU profile of the scale run's idle window.
func (r *results) idleProfile(b *bench) {
	r.IdleProfile = r.renderProfile(b, idleProfile, os.Getenv("BENCH_IDLE_PROFILE_OUT"))
}

// renderProfile returns `go tool pprof -top`, flat and cumulative, of a
// profile in the work directory, and copies the profile to keep when set.
func (r *results) renderProfile(b *bench, name, keep string) string {
	prof := filepath.Join(b.work, name)
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=30", b.selfBin, prof).CombinedOutput()
	if err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("pprof %s: %v: %s", name, err, out))
		return ""
	}
	text := string(out)
	cum, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=30", b.selfBin, prof).CombinedOutput()
	if err == nil {
		text += "\n--- sorted by cumulative time ---\n" + string(cum)
	}
	if keep != "" {
		if bs, err := os.ReadFile(prof); err == nil {
			_ = os.WriteFile(keep, bs, 0o644)
		}
	}
	return text
}

// metricsOf collects one metric of a scenario's runs per copier: the
// runs that succeeded and measured the scenario's newest commit.
func (r *results) metricsOf(scenario string, f func(tpRun) float64) map[string]stat {
	return medianBy(r.Throughput[scenario], func(t tpRun) (string, runOutcome) { return t.Copier, t.runOutcome }, f)
}

func (r *results) latencyOf(f func(latRun) float64) map[string]stat {
	return medianBy(r.Latency, func(l latRun) (string, runOutcome) { return l.Copier, l.runOutcome }, f)
}

// scaleOf is metricsOf of the scale runs of size partitions; a negative
// figure (not within the limit) is left out.
func (r *results) scaleOf(size int, f func(scaleRun) float64) map[string]stat {
	runs := slices.DeleteFunc(slices.Clone(r.Scale), func(x scaleRun) bool { return x.Partitions != size || f(x) < 0 })
	return medianBy(runs, func(x scaleRun) (string, runOutcome) { return x.Copier, x.runOutcome }, f)
}

// medianBy is the median of f per copier over the runs that succeeded at
// the newest commit of runs (the last run's: runs are appended in time
// order, a merged report's first). A NaN figure (not measured) is left
// out.
func medianBy[T any](runs []T, key func(T) (string, runOutcome), f func(T) float64) map[string]stat {
	if len(runs) == 0 {
		return map[string]stat{}
	}
	_, last := key(runs[len(runs)-1])
	by := map[string][]float64{}
	for _, run := range runs {
		if copier, o := key(run); o.Error == "" && o.Commit == last.Commit {
			if v := f(run); !math.IsNaN(v) {
				by[copier] = append(by[copier], v)
			}
		}
	}
	out := map[string]stat{}
	for k, v := range by {
		out[k] = statOf(v)
	}
	return out
}

// failedBy counts per copier the failed runs of the newest commit, for
// the runs columns.
func failedBy[T any](runs []T, key func(T) (string, runOutcome)) map[string]int {
	out := map[string]int{}
	if len(runs) == 0 {
		return out
	}
	_, last := key(runs[len(runs)-1])
	for _, run := range runs {
		if copier, o := key(run); o.Error != "" && o.Commit == last.Commit {
			out[copier]++
		}
	}
	return out
}

func ratio(a, b stat) float64 {
	if b.Median == 0 {
		return 0
	}
	return a.Median / b.Median
}

func (r *results) summarize() {
	s := map[string]any{}
	for _, sc := range throughputScenarios {
		if len(r.Throughput[sc]) == 0 {
			continue
		}
		rps := r.metricsOf(sc, func(t tpRun) float64 { return t.RecordsPerSec })
		s[sc] = map[string]any{
			"records_per_s":             rps,
			"mb_per_s":                  r.metricsOf(sc, func(t tpRun) float64 { return t.MBPerSec }),
			"startup_s":                 r.metricsOf(sc, func(t tpRun) float64 { return t.StartupSec }),
			"cpu_s_per_million_records": r.metricsOf(sc, func(t tpRun) float64 { return t.CPUSecPerMillion }),
			"peak_rss_mib":              r.metricsOf(sc, func(t tpRun) float64 { return t.PeakRSSMiB }),
			"target_log_ratio":          r.metricsOf(sc, func(t tpRun) float64 { return tpField(t, "target_log_ratio") }),
			"wan_ratio":                 r.metricsOf(sc, func(t tpRun) float64 { return tpField(t, "wan_ratio") }),
			"ratios": map[string]float64{
				"geomesh-eos/mm2-eos": ratio(rps[geomeshEOS], rps[mm2EOS]),
				"geomesh-alo/mm2-alo": ratio(rps[geomeshALO], rps[mm2ALO]),
				"geomesh-eos/raw":     ratio(rps[geomeshEOS], rps[raw]),
				"geomesh-alo/raw":     ratio(rps[geomeshALO], rps[raw]),
			},
		}
	}
	if len(r.Latency) > 0 {
		s["latency"] = map[string]any{
			"p50_ms":  r.latencyOf(func(l latRun) float64 { return l.P50Ms }),
			"p99_ms":  r.latencyOf(func(l latRun) float64 { return l.P99Ms }),
			"p999_ms": r.latencyOf(func(l latRun) float64 { return l.P999Ms }),
			"max_ms":  r.latencyOf(func(l latRun) float64 { return l.MaxMs }),
		}
	}
	r.Summary = s
}

// write regenerates benchmarks.json, benchmarks.md and the charts from
// what has been measured so far, so an interrupted run still leaves a
// report.
func (b *bench) write() error {
	b.res.Finished = time.Now().UTC()
	return writeReport(b.res, b.opts.out)
}

// renderMain regenerates benchmarks.md and the charts from a
// benchmarks.json, for example after editing test/bench/notes.md.
func renderMain(args []string) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	in := fs.String("in", "docs/benchmarks.json", "results to render")
	out := fs.String("out", "docs", "directory for benchmarks.md, benchmarks.json and the charts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bs, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	var r results
	if err := json.Unmarshal(bs, &r); err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	return writeReport(&r, *out)
}

func writeReport(r *results, out string) error {
	r.summarize()
	goals, err := loadGoals()
	if err != nil {
		return err
	}
	r.Goals = r.judge(goals)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "benchmarks.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	charts := map[string][]byte{}
	if len(r.Throughput["throughput"]) > 0 {
		charts["benchmarks-throughput.svg"] = barChart("Throughput, 1 KiB records, backlog copy (median, whiskers: min–max)", "records/s",
			r.metricsOf("throughput", func(t tpRun) float64 { return t.RecordsPerSec }))
	}
	if len(r.Throughput["wan"]) > 0 {
		charts["benchmarks-wan.svg"] = barChart(fmt.Sprintf("Throughput with %.0f ms delay each way to the source (median, min–max)", r.WANDelayMs), "records/s",
			r.metricsOf("wan", func(t tpRun) float64 { return t.RecordsPerSec }))
	}
	if len(r.Latency) > 0 {
		charts["benchmarks-latency.svg"] = latencyChart(r)
	}
	for name, svg := range charts {
		if err := os.WriteFile(filepath.Join(out, name), svg, 0o644); err != nil {
			return err
		}
	}
	var md bytes.Buffer
	renderMarkdown(&md, r, charts)
	return os.WriteFile(filepath.Join(out, "benchmarks.md"), md.Bytes(), 0o644)
}
