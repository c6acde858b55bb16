package main

import (
	"encoding"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/local/demo"
)

var update = flag.Bool("update", false, "rewrite the JSON shapes in testdata/json/*.keys")

// checkShape compares every key path of a --json answer, e.g.
// ".flows[].topics.include", with testdata/json/<name>.keys: the shape
// docs/cli.md documents. -update rewrites the file.
func checkShape(t *testing.T, name, out string) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	paths := map[string]bool{}
	keyPaths(v, "", paths)
	got := strings.Join(slices.Sorted(func(yield func(string) bool) {
		for p := range paths {
			if !yield(p) {
				return
			}
		}
	}), "\n") + "\n"
	file := filepath.Join("testdata", "json", name+".keys")
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("the JSON of %s changed shape; update docs/cli.md and rerun with -update.\ngot:\n%swant:\n%s", name, got, want)
	}
}

func keyPaths(v any, prefix string, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			into[prefix+"."+k] = true
			keyPaths(e, prefix+"."+k, into)
		}
	case []any:
		for _, e := range x {
			keyPaths(e, prefix+"[]", into)
		}
	}
}

func TestJSONShapes(t *testing.T) {
	example := "../../configs/examples/hub-spoke.yaml"
	for _, c := range []struct {
		name string
		args []string
	}{
		{"plan", []string{"plan", "--json", example}},
		{"validate", []string{"validate", "--json", example}},
		{"validate-invalid", []string{"validate", "--json", "../../topology/testdata/invalid/three-errors.yaml"}},
		{"version", []string{"version", "--json"}},
	} {
		out, _, _ := run(t, c.args...)
		checkShape(t, c.name, out)
	}
}

// TestStatusKeysJSON pins the JSON of status and keys list against one
// agent that answers and one that does not.
func TestStatusKeysJSON(t *testing.T) {
	up := fakeAgent(t, map[string]fakeAnswer{
		"GET /v1/failover": {200, `{"mesh":"shop","region":"us-east","agent":"us-east-1","role":"primary","epoch":1}`},
		"GET /v1/status":   {200, `{}`},
		"GET /v1/health":   {200, `{}`},
		"GET /v1/keys":     {200, `{"agent":"us-east-1","primary":"0a1b2c3d4e5f6071","keys":["0a1b2c3d4e5f6071"]}`},
	})
	mesh := agentsMesh(t, up, testkit.RefusedAddr(t))
	for _, c := range []struct {
		name string
		args []string
	}{
		{"status", []string{"status", "-t", mesh, "--json"}},
		{"keys", []string{"keys", "list", "-t", mesh, "--json"}},
	} {
		out, _, err := run(t, c.args...)
		if exitCode(err) != exitFailure {
			t.Errorf("%s with an agent down: exit %d (%v), want 1", c.name, exitCode(err), err)
		}
		checkShape(t, c.name, out)
	}
}

// TestJSONFieldsSnakeCase: every field of every type the CLI prints as
// JSON, down to the agents' answers it passes on, has a snake_case JSON
// name, so no Go field name (Source, TargetTopic) leaks into the output.
func TestJSONFieldsSnakeCase(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	marshaler := reflect.TypeFor[json.Marshaler]()
	textMarshaler := reflect.TypeFor[encoding.TextMarshaler]()
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Array || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ == reflect.TypeFor[time.Time]() ||
			typ.Implements(marshaler) || reflect.PointerTo(typ).Implements(marshaler) ||
			typ.Implements(textMarshaler) || reflect.PointerTo(typ).Implements(textMarshaler) {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				walk(f.Type, path)
				continue
			}
			if !snake.MatchString(name) {
				t.Errorf("%s.%s (%s): JSON name %q is not snake_case", path, f.Name, typ, name)
			}
			walk(f.Type, path+"."+name)
		}
	}
	for name, v := range map[string]any{
		"plan":            planOutput{},
		"validate":        validateResult{},
		"translate":       translateOutput{},
		"status":          agentView{},
		"keys":            keysResult{},
		"version":         versionInfo{},
		"demo":            demo.Result{},
		"failover":        api.State{},
		"failover status": api.FailoverStatus{},
	} {
		walk(reflect.TypeOf(v), name)
	}
}
