package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func mustLoad(t *testing.T, path string) *Mesh {
	t.Helper()
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// summary renders flows one a line: "kind source→target naming include/exclude".
func summary(flows []Flow) string {
	var b strings.Builder
	for _, f := range flows {
		fmt.Fprintf(&b, "%s %s→%s %s %v/%v\n", f.Kind, f.Source, f.Target, f.Naming, f.Topics.Include, f.Topics.Exclude)
	}
	return b.String()
}

func TestPlan(t *testing.T) {
	for _, c := range []struct {
		file, want string
	}{
		{"../configs/examples/active-passive.yaml", `
replicate us-east→eu-west identity [orders.* payments]/[.*\.internal]
`},
		{"../configs/examples/active-active.yaml", `
replicate us-east→eu-west prefix [posts likes profiles.*]/[]
replicate us-east→ap-south prefix [posts likes profiles.*]/[]
replicate eu-west→us-east prefix [posts likes profiles.*]/[]
replicate eu-west→ap-south prefix [posts likes profiles.*]/[]
replicate ap-south→us-east prefix [posts likes profiles.*]/[]
replicate ap-south→eu-west prefix [posts likes profiles.*]/[]
`},
		{"../configs/examples/hub-spoke.yaml", `
aggregate store-a→central prefix [sales inventory]/[]
aggregate store-b→central prefix [sales inventory]/[]
aggregate store-c→central prefix [sales inventory]/[]
broadcast central→store-a identity [prices catalog.*]/[]
broadcast central→store-b identity [prices catalog.*]/[]
broadcast central→store-c identity [prices catalog.*]/[]
standby central→central-2 identity [sales inventory prices catalog.* store-a\.(?:sales) store-a\.(?:inventory) store-b\.(?:sales) store-b\.(?:inventory) store-c\.(?:sales) store-c\.(?:inventory)]/[]
`},
		{"testdata/valid/full.yaml", `
aggregate store-a→central identity [sales.* inventory]/[.*\.internal]
aggregate store-b→central identity [sales]/[.*\.internal]
broadcast central→store-a identity [prices]/[prices\.draft .*\.internal]
broadcast central→store-b identity [prices]/[prices\.draft .*\.internal]
standby central→central-2 identity [sales.* inventory prices]/[.*\.internal]
`},
	} {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			m := mustLoad(t, c.file)
			flows := Plan(m)
			if got := summary(flows); got != strings.TrimPrefix(c.want, "\n") {
				t.Errorf("plan:\n%swant:\n%s", got, strings.TrimPrefix(c.want, "\n"))
			}
			if again := Plan(m); !reflect.DeepEqual(flows, again) {
				t.Error("Plan is not deterministic")
			}
		})
	}
}

func TestTargetTopic(t *testing.T) {
	for _, c := range []struct {
		naming      Naming
		topic, want string
	}{
		{NamingPrefix, "orders", "us-east.orders"},
		{NamingPrefix, "orders.v2", "us-east.orders.v2"},
		{NamingIdentity, "orders", "orders"},
	} {
		f := Flow{Source: "us-east", Target: "eu-west", Naming: c.naming}
		if got := f.TargetTopic(c.topic); got != c.want {
			t.Errorf("%s: TargetTopic(%q) = %q, want %q", c.naming, c.topic, got, c.want)
		}
	}
}

func TestSelects(t *testing.T) {
	regions := []string{"us-east", "eu-west", "ap-south"}
	all := MustSelection([]string{".*"}, nil)
	prefix := Flow{Source: "us-east", Target: "eu-west", Kind: FlowReplicate, Topics: all, Naming: NamingPrefix, Regions: regions}
	identity := Flow{Source: "us-east", Target: "eu-west", Kind: FlowReplicate, Topics: all, Naming: NamingIdentity, Regions: regions}
	standby := Flow{Source: "central", Target: "central-2", Kind: FlowStandby, Topics: all, Naming: NamingPrefix, Regions: []string{"central", "central-2", "store-a"}}
	selective := identity
	selective.Topics = MustSelection([]string{"orders.*", "payments"}, []string{`.*\.internal`})

	for _, c := range []struct {
		name  string
		flow  Flow
		topic string
		want  bool
	}{
		{"local topic", prefix, "orders", true},
		{"target's own data coming back", prefix, "eu-west.orders", false},
		{"another region's copy under prefix naming", prefix, "ap-south.orders", false},
		{"own copy under prefix naming", prefix, "us-east.orders", false},
		{"region name without the dot is just a name", prefix, "us-eastern-orders", true},
		{"identity copies remote names", identity, "ap-south.orders", true},
		{"identity never sends the target's prefix", identity, "eu-west.orders", false},
		{"consumer offsets", prefix, "__consumer_offsets", false},
		{"transaction state", identity, "__transaction_state", false},
		{"any leading double underscore", identity, "__amazon_msk_canary", false},
		{"single underscore is a user topic", identity, "_schemas", true},
		{"geomesh's own topics", identity, "geomesh.shop.offsets", false},
		{"standby hub gets aggregated copies", standby, "store-a.sales", true},
		{"standby hub never gets its own prefix", standby, "central-2.sales", false},
		{"standby hub skips internal topics", standby, "__consumer_offsets", false},
		{"include is a full match", selective, "payments-eu", false},
		{"include pattern", selective, "orders-eu", true},
		{"exclude wins", selective, "orders.internal", false},
		{"not included", selective, "clicks", false},
	} {
		if got := c.flow.Selects(c.topic); got != c.want {
			t.Errorf("%s: %s flow %s→%s Selects(%q) = %v, want %v", c.name, c.flow.Naming, c.flow.Source, c.flow.Target, c.topic, got, c.want)
		}
	}
}

// TestNoLoops walks records through every planned flow of each example:
// starting from a locally produced topic, following flows must end, and never
// bring a copy back to the region that produced it.
func TestNoLoops(t *testing.T) {
	files, err := filepath.Glob("../configs/examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		m := mustLoad(t, file)
		flows := Plan(m)
		type copyAt struct{ region, topic string }
		for _, origin := range m.DataRegions() {
			for _, topic := range []string{"orders", "posts", "sales", "prices", "catalog.items", "inventory"} {
				seen := map[copyAt]bool{}
				queue := []copyAt{{origin, topic}}
				for len(queue) > 0 {
					cur := queue[0]
					queue = queue[1:]
					if seen[cur] {
						continue
					}
					seen[cur] = true
					if len(seen) > 100 {
						t.Fatalf("%s: %s from %s keeps multiplying: %v", file, topic, origin, seen)
					}
					for _, f := range flows {
						if f.Source == cur.region && f.Selects(cur.topic) {
							next := copyAt{f.Target, f.TargetTopic(cur.topic)}
							if next.region == origin && m.Naming == NamingPrefix {
								t.Errorf("%s: %s from %s comes back as %s", file, topic, origin, next.topic)
							}
							queue = append(queue, next)
						}
					}
				}
			}
		}
	}
}

func TestSecret(t *testing.T) {
	t.Setenv("GEOMESH_TEST_SECRET", "s3cret")
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ref, want, err string
	}{
		{ref: "env:GEOMESH_TEST_SECRET", want: "s3cret"},
		{ref: "file:" + path, want: "from-file"},
		{ref: "env:GEOMESH_TEST_UNSET", err: "secret env:GEOMESH_TEST_UNSET: environment variable GEOMESH_TEST_UNSET is not set"},
		{ref: "file:/nonexistent/pw", err: "secret file:/nonexistent/pw: no such file or directory"},
		{ref: "hunter2", err: "secret [redacted]: must be a reference"},
	} {
		got, err := Secret{Ref: c.ref}.Resolve()
		switch {
		case c.err != "" && (err == nil || !strings.HasPrefix(err.Error(), c.err)):
			t.Errorf("%s: error %v, want %q", c.ref, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%s: got %q, %v; want %q", c.ref, got, err, c.want)
		}
	}
	inline := Secret{Ref: "hunter2"}
	for _, s := range []string{inline.String(), fmt.Sprintf("%v %+v %#v %s", inline, inline, inline, inline)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("secret leaks: %s", s)
		}
	}
	if got := (Secret{Ref: "env:X"}).String(); got != "env:X" {
		t.Errorf("String() = %q, want the reference", got)
	}
}

// TestPlanFor pins the flows after role changes: the new primary is the
// source, a fenced old primary is in no flow, and it receives again once it
// rejoins as a standby; a promoted standby hub is fed by the spokes.
func TestPlanFor(t *testing.T) {
	ap := mustLoad(t, "../configs/examples/active-passive.yaml")
	if got, want := summary(PlanFor(ap, ap.Roles)), summary(Plan(ap)); got != want {
		t.Errorf("PlanFor with the file's roles:\n%swant Plan's:\n%s", got, want)
	}
	for _, c := range []struct {
		name  string
		roles Roles
		want  string
	}{
		{"failed over, old primary fenced", Roles{Primary: "eu-west"}, ""},
		{"old primary rejoined", Roles{Primary: "eu-west", Standby: []string{"us-east"}},
			`replicate eu-west→us-east identity [orders.* payments]/[.*\.internal]` + "\n"},
	} {
		if got := summary(PlanFor(ap, c.roles)); got != c.want {
			t.Errorf("%s: got\n%swant\n%s", c.name, got, c.want)
		}
	}
	hs := mustLoad(t, "../configs/examples/hub-spoke.yaml")
	r := hs.Roles
	if r.StandbyHub == "" {
		t.Fatal("the hub-spoke example needs a standby hub for this test")
	}
	r.Hub, r.StandbyHub = r.StandbyHub, ""
	for _, f := range PlanFor(hs, r) {
		if f.Kind == FlowAggregate && f.Target != r.Hub {
			t.Errorf("aggregate flow %s→%s after the standby hub %s took over", f.Source, f.Target, r.Hub)
		}
		if f.Kind == FlowStandby {
			t.Errorf("standby flow %s→%s with no standby hub", f.Source, f.Target)
		}
	}
}

// TestInbound: the flows into a region under every possible writer, the
// file's first.
func TestInbound(t *testing.T) {
	for _, tc := range []struct {
		file, region string
		want         []string
	}{
		// The standby: the primary's flow, and none from itself.
		{"active-passive.yaml", "eu-west", []string{"us-east->eu-west"}},
		// The primary: nothing under the file's roles, the standby's flow
		// once it is promoted.
		{"active-passive.yaml", "us-east", []string{"eu-west->us-east"}},
		{"active-passive.yaml", "witness", []string{}},
		// The standby hub: its standby flow from the hub first, then the
		// spokes' flows once it is the hub.
		{"hub-spoke.yaml", "central-2", []string{"central->central-2", "store-a->central-2", "store-b->central-2", "store-c->central-2"}},
	} {
		m, err := Load("../configs/examples/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, f := range Inbound(m, tc.region) {
			got = append(got, f.Route().String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: Inbound(%s) = %v, want %v", tc.file, tc.region, got, tc.want)
		}
	}
}

// TestPlanCompression: a flow writes with the mesh's codec unless its
// override names another; an unknown codec is refused where it is written.
func TestPlanCompression(t *testing.T) {
	aa := edit(t, "kind: active-passive\n  primary: us-east\n  standby: [eu-west]", "kind: active-active")
	for _, c := range []struct {
		name, extra string
		want        map[Route]Compression
	}{
		{"default", "", map[Route]Compression{{"us-east", "eu-west"}: CompressionSource, {"eu-west", "us-east"}: CompressionSource}},
		{"mesh-wide", "replication: {compression: zstd}\n", map[Route]Compression{{"us-east", "eu-west"}: CompressionZstd, {"eu-west", "us-east"}: CompressionZstd}},
		{"one flow overrides", "replication: {compression: zstd}\nflows: [{source: eu-west, target: us-east, topics: {}, compression: none}]\n",
			map[Route]Compression{{"us-east", "eu-west"}: CompressionZstd, {"eu-west", "us-east"}: CompressionNone}},
		{"override without a codec keeps the mesh's", "replication: {compression: lz4}\nflows: [{source: eu-west, target: us-east, topics: {include: [orders]}}]\n",
			map[Route]Compression{{"us-east", "eu-west"}: CompressionLZ4, {"eu-west", "us-east"}: CompressionLZ4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := Parse("mesh.yaml", []byte(aa+c.extra))
			if err != nil {
				t.Fatal(err)
			}
			got := map[Route]Compression{}
			for _, f := range Plan(m) {
				got[Route{f.Source, f.Target}] = f.Compression
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("codecs %v, want %v", got, c.want)
			}
		})
	}
	wantProblem(t, base+"replication: {compression: brotli}\n", `"brotli"`)
}
