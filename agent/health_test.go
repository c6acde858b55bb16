package agent_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/local"
	"github.com/geomesh/geomesh/topology"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var update = flag.Bool("update", false, "rewrite docs/metrics.md from a running agent's /metrics")

const catalogue = "../docs/metrics.md"

// TestMonitoring runs the active-passive example on embedded clusters
// with some traffic and a consumer group in the standby, then checks the
// standby agent's /metrics against docs/metrics.md, its /v1/health and
// its status page.
func TestMonitoring(t *testing.T) {
	m, err := topology.Load("../configs/examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// With API tokens, so that one refused request makes the refusal
	// counter exist; every other request carries the read token.
	m.API.AdminToken = topology.Secret{Ref: "file:" + testkit.TempFile(t, "admin", "admin-secret")}
	m.API.ReadToken = topology.Secret{Ref: "file:" + testkit.TempFile(t, "read", readToken)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mesh := startLocal(t, ctx, m, agent.Config{HealthInterval: 200 * time.Millisecond, GroupStatusWindow: 3, PartitionLagMetrics: true})
	prod := localClient(t, mesh, "us-east", kgo.DefaultProduceTopic("orders"))
	testkit.CreateTopic(t, kadm.NewClient(prod), 2, 1, nil, "orders")
	for i := range 20 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "order-%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	standby := localClient(t, mesh, "eu-west")
	offs := kadm.Offsets{}
	offs.AddOffset("orders", 0, 0, -1)
	// The topic reaches the standby through topic sync; commit once it
	// is there.
	poll.Until(t, 20*time.Second, func() error {
		return kadm.NewClient(standby).CommitAllOffsets(ctx, "billing", offs)
	})
	base := "http://" + localAgent(t, mesh, "eu-west").APIAddr()
	if resp, err := http.Get(base + "/metrics"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /metrics without a token = %v %v, want 401", resp, err)
	}

	t.Run("catalogue", func(t *testing.T) {
		want := map[string]family{}
		if !*update {
			want = readCatalogue(t)
		}
		// Every family shows once its source has data: the group's
		// status after a few health passes, the heartbeat's latency
		// after the first copied beat.
		for _, name := range []string{"geomesh_kafka_group_status", "geomesh_heartbeat_latency_seconds", "geomesh_mirror_partition_lag_records", "geomesh_kafka_log_dir_usable_bytes"} {
			if _, ok := want[name]; !ok {
				want[name] = family{}
			}
		}
		var got map[string]family
		poll.Until(t, 30*time.Second, func() error {
			got = scrape(t, base+"/metrics")
			var missing []string
			for name := range want {
				if _, ok := got[name]; !ok {
					missing = append(missing, name)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("not on /metrics yet: %v", missing)
			}
			return nil
		})
		if *update {
			writeCatalogue(t, got)
			return
		}
		for name, f := range got {
			if w, ok := want[name]; !ok {
				t.Errorf("%s is on /metrics but not in %s (go test ./agent -run TestMonitoring -update)", name, catalogue)
			} else if w != f {
				t.Errorf("%s: /metrics has %+v, %s has %+v", name, f, catalogue, w)
			}
		}
		// Every metric name in the code is in the catalogue, including
		// one whose series exist only after some event.
		for _, name := range namesInCode(t, ".", "../broker/health", "../mirror", "../failover/plane") {
			if _, ok := got[name]; !ok {
				t.Errorf("%s is named in the code but not on /metrics: give it a series from the start (a zero) so the catalogue lists it", name)
			}
		}
	})

	t.Run("health", func(t *testing.T) {
		var hs agent.HealthStatus
		poll.Until(t, 20*time.Second, func() error {
			hs = getJSON[agent.HealthStatus](t, base+"/v1/health")
			if len(hs.Flows) != 1 || !hs.Flows[0].HeartbeatSeen || hs.Cluster == nil || len(hs.Cluster.Groups) == 0 {
				return fmt.Errorf("health so far: %+v", hs)
			}
			return nil
		})
		f := hs.Flows[0]
		if f.Source != "us-east" || f.HeartbeatAge > 5 || f.RPOSeconds < f.HeartbeatAge {
			t.Errorf("flow %+v", f)
		}
		if g := hs.Cluster.Groups[0]; g.Group != "billing" || hs.Cluster.Region != "eu-west" {
			t.Errorf("cluster %+v", hs.Cluster)
		}
	})

	t.Run("page", func(t *testing.T) {
		resp := get(t, base+"/")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(body)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		for _, want := range []string{`<b id="region">eu-west</b>`, ">us-east</text>", ">eu-west</text>", "primary", "standby", "<td>us-east</td>", "billing", `http-equiv="refresh"`} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		for _, external := range []string{"http://", "https://", "<script", "<link"} {
			if strings.Contains(page, external) {
				t.Errorf("page refers to %q: it must work offline", external)
			}
		}
		if resp := get(t, base+"/nope"); resp.StatusCode != 404 {
			t.Errorf("GET /nope = %d, want 404", resp.StatusCode)
		}
	})
}

// family is what the catalogue pins of a metric family.
type family struct {
	Type   string
	Labels string // sorted, comma-separated
	Help   string
}

// metricFamilies reads the metric families on url, a /metrics.
func metricFamilies(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp := get(t, url)
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

func scrape(t *testing.T, url string) map[string]family {
	t.Helper()
	out := map[string]family{}
	for name, mf := range metricFamilies(t, url) {
		labels := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		var ls []string
		for l := range labels {
			ls = append(ls, l)
		}
		sort.Strings(ls)
		out[name] = family{Type: strings.ToLower(dto.MetricType_name[int32(mf.GetType())]), Labels: strings.Join(ls, ","), Help: mf.GetHelp()}
	}
	return out
}

const (
	beginTable = "<!-- BEGIN GENERATED: go test ./agent -run TestMonitoring -update -->"
	endTable   = "<!-- END GENERATED -->"
)

// readGenerated reads docs/metrics.md: s, whose generated table runs
// from the begin marker at i to the end marker at j.
func readGenerated(t *testing.T) (s string, i, j int) {
	t.Helper()
	b, err := os.ReadFile(catalogue)
	if err != nil {
		t.Fatal(err)
	}
	s = string(b)
	i, j = strings.Index(s, beginTable), strings.Index(s, endTable)
	if i < 0 || j < i {
		t.Fatalf("%s: no generated table between %q and %q", catalogue, beginTable, endTable)
	}
	return s, i, j
}

// readCatalogue parses the generated table of docs/metrics.md.
func readCatalogue(t *testing.T) map[string]family {
	t.Helper()
	s, i, j := readGenerated(t)
	out := map[string]family{}
	for _, line := range strings.Split(s[i+len(beginTable):j], "\n") {
		if !strings.HasPrefix(line, "| `geomesh_") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 5 {
			t.Fatalf("%s: bad row %q", catalogue, line)
		}
		out[strings.Trim(strings.TrimSpace(cells[0]), "`")] = family{
			Type:   strings.TrimSpace(cells[1]),
			Labels: strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(cells[3]), "`", ""), ", ", ","),
			Help:   strings.ReplaceAll(strings.TrimSpace(cells[4]), `\|`, "|"),
		}
	}
	return out
}

// writeCatalogue rewrites the generated table, keeping the prose around it.
func writeCatalogue(t *testing.T, got map[string]family) {
	t.Helper()
	s, i, j := readGenerated(t)
	names := make([]string, 0, len(got))
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	sb.WriteString(beginTable + "\n\n| metric | type | unit | labels | meaning |\n|---|---|---|---|---|\n")
	for _, n := range names {
		f := got[n]
		var labels []string
		for l := range strings.SplitSeq(f.Labels, ",") {
			if l != "" {
				labels = append(labels, "`"+l+"`")
			}
		}
		fmt.Fprintf(&sb, "| `%s` | %s | %s | %s | %s |\n", n, f.Type, unit(n, f.Help), strings.Join(labels, ", "), strings.ReplaceAll(f.Help, "|", `\|`))
	}
	sb.WriteString("\n")
	if err := os.WriteFile(catalogue, []byte(s[:i]+sb.String()+s[j:]), 0o644); err != nil {
		t.Fatal(err)
	}
}

// unit reads the unit from the name, where the naming rule puts it, or
// from a help text that says the value is 1 or 0.
func unit(name, help string) string {
	if strings.HasPrefix(help, "1 ") {
		return "1 or 0"
	}
	for _, u := range []string{"seconds", "bytes", "records", "partitions", "members", "brokers", "messages", "groups"} {
		if strings.Contains(name, "_"+u) {
			return u
		}
	}
	switch name {
	case "geomesh_kafka_topics", "geomesh_topics_created_total":
		return "topics"
	}
	return "count"
}

// startLocal runs m's regions on embedded clusters on free ports, each
// with an agent configured by cfg, until the test ends.
func startLocal(t *testing.T, ctx context.Context, m *topology.Mesh, cfg agent.Config) *local.Mesh {
	t.Helper()
	mesh, err := local.Start(ctx, m, local.Options{Ephemeral: true, Agent: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mesh.Close(); err != nil {
			t.Error(err)
		}
	})
	return mesh
}

// localClient is a client of region's cluster in mesh, closed when the
// test ends.
func localClient(t *testing.T, mesh *local.Mesh, region string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	r, ok := mesh.Topology().Region(region)
	if !ok {
		t.Fatalf("mesh %s has no region %s", mesh.Topology().Name, region)
	}
	cl, err := broker.NewClient(region, r.Kafka, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// localAgent is the agent of region in mesh.
func localAgent(t *testing.T, mesh *local.Mesh, region string) *agent.Agent {
	t.Helper()
	a := mesh.Agent(region)
	if a == nil {
		t.Fatalf("no agent of region %s", region)
	}
	return a
}

func getJSON[T any](t *testing.T, url string) T {
	t.Helper()
	var v T
	resp := get(t, url)
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

const readToken = "read-secret"

// get sends a GET with the read token.
func get(t *testing.T, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// namesInCode returns the metric names quoted in the non-test Go files
// under dirs.
func namesInCode(t *testing.T, dirs ...string) []string {
	t.Helper()
	quoted := regexp.MustCompile(`"(geomesh_[a-z0-9_]*[a-z0-9])"`)
	seen := map[string]bool{}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			for _, m := range quoted.FindAllStringSubmatch(string(b), -1) {
				seen[m[1]] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
