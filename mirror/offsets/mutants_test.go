//go:build mutants

package offsets

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// mutants are small changes to search.go, each of which removes one of
// the defences translation needs; the package's tests must fail on every
// one of them.
var mutants = []struct{ name, from, to string }{{
	name: "truncated answered as copied",
	from: `	if lastTarget < lo {
		return Result{Offset: lo, State: Truncated, Origin: -1}, nil`,
	to: `	if lastTarget < lo {
		return Result{Offset: lo, State: Copied, Origin: -1}, nil`,
}, {
	name: "unread answers believed",
	from: `	if found && !s.verified {`,
	to:   `	if false {`,
}, {
	name: "hints of a deleted topic believed",
	from: `		if ok && r.Origin == below.Origin {`,
	to:   `		if ok || !ok || r.Origin == below.Origin {`,
}, {
	name: "anchor of a deleted topic believed",
	from: `	if lastTarget >= 0 && q.TargetHigh >= 0 && lastTarget >= q.TargetHigh {`,
	to:   `	if false {`,
}, {
	name: "truncated answered as copied when the topic was recreated",
	from: `		if q.Group <= lastSource {
			return Result{Offset: lo, State: Truncated, Origin: -1}, nil`,
	to: `		if q.Group <= lastSource {
			return Result{Offset: lo, State: Copied, Origin: -1}, nil`,
}, {
	name: "a caught-up group not waited for",
	from: `	if q.TargetEnd <= lastTarget {`,
	to:   `	if q.TargetEnd <= lastTarget && q.Group <= lastSource {`,
}}

// TestMutants builds the package with each mutant in turn, through a go
// build overlay, and runs its tests: each mutant must make them fail. It
// names the tests that fail. Not part of the normal run (it runs the
// package's tests once per mutant):
//
//	go test -tags mutants -run TestMutants -v ./mirror/offsets
func TestMutants(t *testing.T) {
	path, err := filepath.Abs("search.go")
	if err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	failed := regexp.MustCompile(`--- FAIL: (\S+)`)
	for _, m := range mutants {
		t.Run(m.name, func(t *testing.T) {
			if n := bytes.Count(orig, []byte(m.from)); n != 1 {
				t.Fatalf("search.go holds %q %d times, want once", m.from, n)
			}
			dir := t.TempDir()
			mutated := filepath.Join(dir, "search.go")
			if err := os.WriteFile(mutated, bytes.Replace(orig, []byte(m.from), []byte(m.to), 1), 0o600); err != nil {
				t.Fatal(err)
			}
			overlay, err := json.Marshal(map[string]map[string]string{"Replace": {path: mutated}})
			if err != nil {
				t.Fatal(err)
			}
			overlayPath := filepath.Join(dir, "overlay.json")
			if err := os.WriteFile(overlayPath, overlay, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.CommandContext(t.Context(), "go", "test", "-count=1", "-overlay", overlayPath, ".").CombinedOutput()
			if err == nil {
				t.Fatalf("the mutant survived:\n%s", out)
			}
			var killers []string
			for _, m := range failed.FindAllSubmatch(out, -1) {
				killers = append(killers, string(m[1]))
			}
			if len(killers) == 0 {
				t.Fatalf("no test failed; the mutant may not build:\n%s", out)
			}
			t.Logf("killed by %v", killers)
		})
	}
}
