package terraform_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/geomesh/geomesh/topology"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

var (
	tofuOnce sync.Once
	tofuBin  string
	tofuErr  error
)

// tofu returns the OpenTofu binary, building it with tools/build-tofu.sh on
// first use (minutes) and reusing the cached build afterwards.
func tofu(t *testing.T) string {
	t.Helper()
	tofuOnce.Do(func() {
		if p := os.Getenv("TOFU"); p != "" {
			tofuBin = p
			return
		}
		cmd := exec.Command("bash", filepath.Join("tools", "build-tofu.sh"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			tofuErr = fmt.Errorf("tools/build-tofu.sh: %v\n%s", err, stderr.String())
			return
		}
		tofuBin = strings.TrimSpace(string(out))
	})
	if tofuErr != nil {
		t.Fatal(tofuErr)
	}
	return tofuBin
}

// runTofu runs tofu in dir and returns its stdout; it fails the test with
// the combined output on a non-zero exit.
func runTofu(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := tryTofu(t, dir, args...)
	if err != nil {
		t.Fatalf("tofu %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return out
}

func tryTofu(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(tofu(t), args...)
	cmd.Dir = dir
	// A CLI config pointing at a missing file only adds a warning; an empty
	// one keeps the output clean. Nothing may reach the network.
	cfg := filepath.Join(t.TempDir(), "tofurc")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+cfg, "TF_IN_AUTOMATION=1", "TF_INPUT=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// copyDir copies the regular files of src (not .terraform) into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if d.Name() == ".terraform" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestFormat(t *testing.T) {
	out, err := tryTofu(t, ".", "fmt", "-check", "-recursive", "-list=true", ".")
	if err != nil {
		t.Fatalf("tofu fmt -check -recursive: these files need `tofu fmt`:\n%s", out)
	}
}

// TestMeshConfigValidateAndTest runs `tofu validate` and the module's own
// tofu tests (tests/*.tftest.hcl) in a copy, so no .terraform lands in the tree.
func TestMeshConfigValidateAndTest(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, filepath.Join("modules", "mesh-config"), dir)
	runTofu(t, dir, "init", "-backend=false", "-no-color")
	if out := runTofu(t, dir, "validate", "-no-color"); !strings.Contains(out, "The configuration is valid") {
		t.Fatalf("tofu validate: %s", out)
	}
	out := runTofu(t, dir, "test", "-no-color")
	if !strings.Contains(out, "Success!") || !strings.Contains(out, " 0 failed") {
		t.Fatalf("tofu test:\n%s", out)
	}
	t.Log(lastLine(out))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// output is one value of `tofu output -json`.
type output struct {
	Value cty.Value
}

func (o *output) UnmarshalJSON(b []byte) error {
	var raw struct {
		Value json.RawMessage `json:"value"`
		Type  json.RawMessage `json:"type"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	ty, err := ctyjson.UnmarshalType(raw.Type)
	if err != nil {
		return err
	}
	o.Value, err = ctyjson.Unmarshal(raw.Value, ty)
	return err
}

// rendered is an example's mesh as OpenTofu computes it from the example's
// terraform.tfvars.example: the topology and the inputs of each call of the
// aws-region module.
type rendered struct {
	Example  string
	Topology string
	Mesh     *topology.Mesh
	// EnvFiles is each agent's /etc/geomesh/geomesh.env, by agent id.
	EnvFiles map[string]string
	// RegionCalls holds, by module call name, the arguments of each call of
	// modules/aws-region that could be computed without AWS.
	RegionCalls map[string]map[string]cty.Value
}

var (
	renderMu    sync.Mutex
	renderCache = map[string]*rendered{}
)

// renderExample applies the example's mesh.tf (which uses only variables and
// the provider-free mesh-config module) in a scratch root module, with an
// output for every argument of every aws-region call whose expression needs
// nothing from AWS.
func renderExample(t *testing.T, example string) *rendered {
	t.Helper()
	renderMu.Lock()
	defer renderMu.Unlock()
	if r, ok := renderCache[example]; ok {
		return r
	}
	src := filepath.Join("examples", example)
	dir := t.TempDir()
	meshConfig := abs(t, filepath.Join("modules", "mesh-config"))
	for _, f := range []string{"variables.tf", "mesh.tf"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte(`"../../modules/mesh-config"`), []byte(fmt.Sprintf("%q", meshConfig)))
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vars, err := os.ReadFile(filepath.Join(src, "terraform.tfvars.example"))
	if err != nil {
		t.Fatalf("example %s needs a terraform.tfvars.example: %v", example, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "terraform.tfvars"), vars, 0o644); err != nil {
		t.Fatal(err)
	}

	var outs strings.Builder
	outs.WriteString("output \"topology_yaml\" {\n  value = module.mesh.topology_yaml\n}\n")
	outs.WriteString("output \"environment_files\" {\n  value = module.mesh.environment_files\n}\n")
	argOutputs := map[string][2]string{} // output name → call, argument
	for _, call := range moduleCalls(t, src) {
		if filepath.Base(call.Source) != "aws-region" {
			continue
		}
		for name, attr := range call.Args {
			if !renderable(attr.Expr) {
				continue
			}
			o := fmt.Sprintf("arg__%s__%s", call.Name, name)
			argOutputs[o] = [2]string{call.Name, name}
			fmt.Fprintf(&outs, "output %q {\n  value = %s\n}\n", o, call.exprSource(attr.Expr))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "harness_outputs.tf"), []byte(outs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	runTofu(t, dir, "init", "-backend=false", "-no-color")
	runTofu(t, dir, "apply", "-auto-approve", "-no-color", "-input=false")
	var values map[string]output
	if err := json.Unmarshal([]byte(runTofu(t, dir, "output", "-json")), &values); err != nil {
		t.Fatal(err)
	}
	r := &rendered{Example: example, RegionCalls: map[string]map[string]cty.Value{}}
	r.Topology = values["topology_yaml"].Value.AsString()
	r.EnvFiles = map[string]string{}
	for id, v := range values["environment_files"].Value.AsValueMap() {
		r.EnvFiles[id] = v.AsString()
	}
	for o, ca := range argOutputs {
		if r.RegionCalls[ca[0]] == nil {
			r.RegionCalls[ca[0]] = map[string]cty.Value{}
		}
		r.RegionCalls[ca[0]][ca[1]] = values[o].Value
	}
	r.Mesh, err = topology.Parse(example+"/topology.yaml", []byte(r.Topology))
	if err != nil {
		t.Fatalf("rendered topology of example %s does not pass geomesh validation:\n%v\n--- topology ---\n%s", example, err, r.Topology)
	}
	renderCache[example] = r
	return r
}

// renderable reports whether an argument can be computed from variables,
// locals and the mesh module alone.
func renderable(e hcl.Expression) bool {
	for _, tr := range e.Variables() {
		switch tr.RootName() {
		case "var", "local":
		case "module":
			if len(tr) < 2 {
				return false
			}
			if a, ok := tr[1].(hcl.TraverseAttr); !ok || a.Name != "mesh" {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func examples(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("examples")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	want := []string{"active-active", "active-passive", "hub-spoke"}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("examples = %v, want %v", out, want)
	}
	return out
}

// TestExamplesRenderValidTopology renders each example's topology with
// OpenTofu and parses it with geomesh's own parser (topology.Parse, the code
// behind `geomesh validate`), then checks that the AWS instances each
// example asks for are the agents the topology names, at the same addresses.
func TestExamplesRenderValidTopology(t *testing.T) {
	wantKind := map[string]topology.Kind{
		"active-passive": topology.KindActivePassive,
		"active-active":  topology.KindActiveActive,
		"hub-spoke":      topology.KindHubSpoke,
	}
	for _, ex := range examples(t) {
		t.Run(ex, func(t *testing.T) {
			r := renderExample(t, ex)
			if r.Mesh.Kind != wantKind[ex] {
				t.Errorf("kind = %s, want %s", r.Mesh.Kind, wantKind[ex])
			}
			if n := len(topology.Plan(r.Mesh)); n == 0 {
				t.Errorf("the rendered mesh plans no flows")
			}
			if len(r.RegionCalls) != len(r.Mesh.Regions) {
				t.Errorf("example calls aws-region %d times for %d regions", len(r.RegionCalls), len(r.Mesh.Regions))
			}
			for call, args := range r.RegionCalls {
				name := args["region_name"]
				if name.IsNull() || !name.IsKnown() {
					t.Errorf("module %s: region_name is not a constant", call)
					continue
				}
				region, ok := r.Mesh.Region(name.AsString())
				if !ok {
					t.Errorf("module %s: region_name %q is not a region of the topology", call, name.AsString())
					continue
				}
				witness := args["witness"]
				if got := !witness.IsNull() && witness.True(); got != region.Witness {
					t.Errorf("module %s: witness = %v, but the topology says %v", call, got, region.Witness)
				}
				var want, got []string
				for _, a := range region.Agents {
					host := strings.Split(a.Gossip, ":")[0]
					want = append(want, a.ID+"@"+host)
				}
				for _, a := range args["agents"].AsValueSlice() {
					got = append(got, a.GetAttr("id").AsString()+"@"+a.GetAttr("private_ip").AsString())
				}
				sort.Strings(want)
				sort.Strings(got)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("module %s: instances %v, but the topology's agents of %s are %v", call, got, region.Name, want)
				}
				if tp := args["topology_yaml"]; tp.IsNull() || tp.AsString() != r.Topology {
					t.Errorf("module %s: topology_yaml is not the rendered topology", call)
				}
			}
		})
	}
}

// TestMeshConfigReproducesLocalExamples feeds mesh-config the inputs that
// describe configs/examples/*.yaml (testdata/local-*) and checks that the
// rendered file means exactly what the hand-written one does.
func TestMeshConfigReproducesLocalExamples(t *testing.T) {
	for _, name := range []string{"active-passive", "active-active", "hub-spoke"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			b, err := os.ReadFile(filepath.Join("testdata", "local-"+name, "main.tf"))
			if err != nil {
				t.Fatal(err)
			}
			b = bytes.ReplaceAll(b, []byte(`"../../modules/mesh-config"`), []byte(fmt.Sprintf("%q", abs(t, filepath.Join("modules", "mesh-config")))))
			if err := os.WriteFile(filepath.Join(dir, "main.tf"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			runTofu(t, dir, "init", "-backend=false", "-no-color")
			runTofu(t, dir, "apply", "-auto-approve", "-no-color", "-input=false")
			yml := runTofu(t, dir, "output", "-raw", "topology_yaml")
			got, err := topology.Parse("rendered.yaml", []byte(yml))
			if err != nil {
				t.Fatalf("rendered topology: %v\n%s", err, yml)
			}
			want, err := topology.Load(filepath.Join("..", "..", "configs", "examples", name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			// Absent and empty lists mean the same in a topology file.
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty(), sameSelection); diff != "" {
				t.Errorf("rendered mesh differs from configs/examples/%s.yaml (-file +rendered):\n%s", name, diff)
			}
		})
	}
}

// exprSource is the text of an expression in its file.
func (c moduleCall) exprSource(e hcl.Expression) string {
	rng := e.Range()
	return string(rng.SliceBytes(c.fileBytes))
}

// sameSelection compares selections by their patterns: the compiled form
// a decoded file keeps follows from them.
var sameSelection = cmp.Comparer(func(a, b topology.Selection) bool {
	return slices.Equal(a.Include, b.Include) && slices.Equal(a.Exclude, b.Exclude)
})
