package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// run executes the CLI in-process and returns stdout, stderr and the error
// that main would turn into exit status 1.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := rootCmd()
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func examples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../configs/examples/*.yaml")
	if err != nil || len(files) != 3 {
		t.Fatalf("want the three example topologies, got %v (%v)", files, err)
	}
	return files
}

func TestValidateExamples(t *testing.T) {
	files := examples(t)
	out, errOut, err := run(t, append([]string{"validate"}, files...)...)
	if err != nil {
		t.Fatalf("validate examples: %v\n%s", err, errOut)
	}
	for _, f := range files {
		if !strings.Contains(out, f+": ok (") {
			t.Errorf("output lacks an ok line for %s:\n%s", f, out)
		}
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	bad := "../../topology/testdata/invalid/three-errors.yaml"
	good := examples(t)[0]
	_, errOut, err := run(t, "validate", good, bad)
	var quiet exitError
	if !errors.As(err, &quiet) {
		t.Fatalf("want an exit error for an invalid file, got %v", err)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 error lines, got %d:\n%s", len(lines), errOut)
	}
	for _, l := range lines {
		parts := strings.SplitN(l, ":", 4)
		if len(parts) != 4 || parts[0] != bad {
			t.Errorf("line %q is not file:line:col: message", l)
		}
	}
	if strings.Contains(errOut, "correct horse") {
		t.Errorf("an inline secret leaked into the output:\n%s", errOut)
	}
}

func TestValidateJSON(t *testing.T) {
	bad := "../../topology/testdata/invalid/three-errors.yaml"
	out, _, err := run(t, "validate", "--json", bad)
	if err == nil {
		t.Fatal("want an error for an invalid file")
	}
	var res []validateResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	if len(res) != 1 || res[0].OK || len(res[0].Errors) != 3 || res[0].Errors[0].Line == 0 {
		t.Fatalf("unexpected result %+v", res)
	}
}

func TestValidateMissingFile(t *testing.T) {
	_, errOut, err := run(t, "validate", filepath.Join(t.TempDir(), "none.yaml"))
	if err == nil || !strings.Contains(errOut, "none.yaml: cannot read") {
		t.Fatalf("want a read error naming the file, got %v / %q", err, errOut)
	}
}

func TestPlanJSON(t *testing.T) {
	out, _, err := run(t, "plan", "--json", "../../configs/examples/hub-spoke.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Kind  string `json:"kind"`
		Flows []struct {
			Source string `json:"source"`
			Target string `json:"target"`
			Kind   string `json:"kind"`
		} `json:"flows"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("decode plan: %v\n%s", err, out)
	}
	kinds := map[string]int{}
	for _, f := range p.Flows {
		kinds[f.Kind]++
	}
	if p.Kind != "hub-spoke" || kinds["aggregate"] != 3 || kinds["broadcast"] != 3 || kinds["standby"] != 1 {
		t.Fatalf("unexpected hub-spoke plan: %s %v", p.Kind, kinds)
	}
	if !strings.Contains(out, `"target_topic": "store-a.<topic>"`) {
		t.Errorf("plan JSON escapes or lacks the target topic pattern:\n%s", out)
	}
}

func TestPlanTable(t *testing.T) {
	out, _, err := run(t, "plan", "../../configs/examples/active-active.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "6 flows") || !strings.Contains(out, "us-east.<topic>") {
		t.Fatalf("unexpected plan table:\n%s", out)
	}
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "version", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Version == "" || !strings.HasPrefix(v.Go, "go") || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("version output %q: %v", out, err)
	}
}

// TestValidateChecksFiles: validate opens every file a topology names,
// unless --check-files=false.
func TestValidateChecksFiles(t *testing.T) {
	file := "../../topology/testdata/invalid/files-unreadable.yaml"
	_, errOut, err := run(t, "validate", file)
	if err == nil || !strings.Contains(errOut, file+":12:18: ca_file testdata/no-such-ca.pem cannot be read on this host") {
		t.Errorf("validate: %v\n%s", err, errOut)
	}
	if out, errOut, err := run(t, "validate", "--check-files=false", file); err != nil {
		t.Errorf("validate --check-files=false: %v\n%s%s", err, out, errOut)
	}
}
