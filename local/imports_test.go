package local

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/geomesh/geomesh"

// agentImporter reports whether pkg's non-test code may import agent:
// the CLI, and this package and those under it (meshtest, the demo) may.
// Packages under test/ are test code (the real-Kafka harness, end-to-end
// and chaos tests, benchmarks: geomesh-bench runs one agent under a CPU
// profile) and are not judged.
func agentImporter(pkg string) bool {
	rel, _ := strings.CutPrefix(pkg, module+"/")
	return rel == "cmd/geomesh" || rel == "local" || strings.HasPrefix(rel, "local/") || strings.HasPrefix(rel, "test/")
}

// TestImportRules pins the direction of dependencies that
// docs/architecture.md draws: only cmd/geomesh and package local (with
// local/meshtest and local/demo) import agent, agent does not depend on
// the client library (the demo, which drives applications through it,
// lives in local/demo), nothing imports cmd, api depends on topology
// only, the client library on api, broker and topology only, and the
// data plane (mirror) never on the failover packages. It reads the module's
// non-test packages with go list.
func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 10 || !slices.ContainsFunc(pkgs, func(p listedPackage) bool { return p.ImportPath == module+"/agent" }) {
		t.Fatalf("go list found %d packages of %s, agent not among them: want the whole module", len(pkgs), module)
	}
	for _, f := range importFindings(pkgs) {
		t.Error(f)
	}
}

// TestImportRulesPlanted: each rule finds a package planted to break it,
// and lets the imports it allows pass.
func TestImportRulesPlanted(t *testing.T) {
	pkgs := []listedPackage{
		{ImportPath: module + "/agent", Imports: []string{module + "/mirror"}, Deps: []string{module + "/api", module + "/client", module + "/mirror"}},
		{ImportPath: module + "/cmd/geomesh", Imports: []string{module + "/agent", module + "/local", module + "/local/demo"}},
		{ImportPath: module + "/local", Imports: []string{module + "/agent"}},
		{ImportPath: module + "/local/demo", Imports: []string{module + "/agent", module + "/client", module + "/local"}},
		{ImportPath: module + "/localx", Imports: []string{module + "/agent"}},
		{ImportPath: module + "/mirror", Imports: []string{module + "/agent"}},
		{ImportPath: module + "/test/bench/cmd/geomesh-bench", Imports: []string{module + "/agent"}},
		{ImportPath: module + "/topology", Imports: []string{module + "/cmd/geomesh"}},
		{ImportPath: module + "/api", Imports: []string{module + "/topology", module + "/failover/machine", "net/http"}},
		{ImportPath: module + "/client", Imports: []string{module + "/api", module + "/broker", module + "/topology", module + "/mirror/offsets"}},
		{ImportPath: module + "/mirror/acls", Imports: []string{module + "/internal/loop", module + "/failover/plane"}},
	}
	want := []string{
		module + "/agent depends on " + module + "/client",
		module + "/localx imports agent",
		module + "/mirror imports agent",
		module + "/topology imports " + module + "/cmd/geomesh",
		module + "/api imports " + module + "/failover/machine",
		module + "/client imports " + module + "/mirror/offsets",
		module + "/mirror/acls imports " + module + "/failover/plane",
	}
	got := importFindings(pkgs)
	if len(got) != len(want) {
		t.Errorf("%d findings, want %d: %q", len(got), len(want), got)
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(f string) bool { return strings.HasPrefix(f, w) }) {
			t.Errorf("no finding starts %q: %q", w, got)
		}
	}
}

// importFindings lists every break of the rules in pkgs, one sentence
// each.
func importFindings(pkgs []listedPackage) []string {
	var out []string
	for _, p := range pkgs {
		if p.ImportPath == module+"/agent" {
			for _, d := range p.Deps {
				if d == module+"/client" || strings.HasPrefix(d, module+"/client/") {
					out = append(out, fmt.Sprintf("%s depends on %s: the client library is for applications (and the demo, in local/demo), never for the agent", p.ImportPath, d))
				}
			}
		}
		rel, _ := strings.CutPrefix(p.ImportPath, module+"/")
		for _, im := range p.Imports {
			dep, ours := strings.CutPrefix(im, module+"/")
			switch {
			case !ours:
			case rel == "api" && dep != "topology":
				out = append(out, fmt.Sprintf("%s imports %s: the API's wire types depend on topology only", p.ImportPath, im))
			case (rel == "client" || strings.HasPrefix(rel, "client/")) && !slices.Contains([]string{"api", "broker", "topology"}, dep):
				out = append(out, fmt.Sprintf("%s imports %s: the client library depends on api, broker and topology only", p.ImportPath, im))
			case (rel == "mirror" || strings.HasPrefix(rel, "mirror/")) && (dep == "failover" || strings.HasPrefix(dep, "failover/")):
				out = append(out, fmt.Sprintf("%s imports %s: the data plane never imports the failover packages", p.ImportPath, im))
			}
			if im == module+"/agent" && !agentImporter(p.ImportPath) {
				out = append(out, fmt.Sprintf("%s imports agent: only cmd/geomesh and package local (and those under it) may; run a mesh through local.Start", p.ImportPath))
			}
			if strings.HasPrefix(im, module+"/cmd/") {
				out = append(out, fmt.Sprintf("%s imports %s: nothing imports cmd", p.ImportPath, im))
			}
		}
	}
	return out
}

// listedPackage is the part of go list's answer the rules read.
type listedPackage struct {
	ImportPath string
	Imports    []string // of the non-test files
	Deps       []string
	Error      *struct{ Err string }
}

// listPackages lists every package of the module with go list.
func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the import rules need the go command: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), goCmd, "list", "-e", "-json=ImportPath,Imports,Deps,Error", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		if p.Error != nil {
			t.Errorf("go list: package %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}
