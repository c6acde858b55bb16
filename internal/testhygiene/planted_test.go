package testhygiene

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// plantedModule is a module with one package p whose test file holds
// body, and a helper package h (imported as kt) that stops the test.
func plantedModule(body string) fstest.MapFS {
	return fstest.MapFS{
		"go.mod": {Data: []byte("module example.com/m\n\ngo 1.26\n")},
		"h/h.go": {Data: []byte(`package kt

import "testing"

func Start(tb testing.TB) { tb.Fatal("no") }

func Fine(tb testing.TB) { tb.Error("no") }
`)},
		"p/p_test.go": {Data: []byte(`package p

import (
	"sync"
	"testing"
	"time"

	kt "example.com/m/h"
)

var _ = sync.WaitGroup{}
var _ = time.Second
var _ = kt.Fine

func stop(t *testing.T)      { t.Fatalf("x") }
func viaStop(t *testing.T)   { stop(t) }
func report(t *testing.T)    { t.Errorf("x") }
func subtest(t *testing.T)   { t.Run("s", func(t *testing.T) { t.Fatal("x") }) }
func fresh(t *testing.T)     { func(t *testing.T) { t.Fatal("x") }(nil) }

func TestX(t *testing.T) {
` + body + `
}
`)},
	}
}

// TestGoroutineStopsPlanted: each planted way of stopping a test from a
// goroutine of its own is found, once; calls that report, subtests and
// the test goroutine are not.
func TestGoroutineStopsPlanted(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       string // in the one finding; "" for none
	}{
		{"go literal", `go func() { t.Fatal("x") }()`, "calls t.Fatal"},
		{"go literal with t as argument", `go func(tt *testing.T) { tt.FailNow() }(t)`, "calls tt.FailNow"},
		{"WaitGroup.Go", `var wg sync.WaitGroup; wg.Go(func() { t.Skip() }); wg.Wait()`, "calls t.Skip"},
		{"time.AfterFunc", `time.AfterFunc(time.Second, func() { t.Fatalf("x") })`, "calls t.Fatalf"},
		{"helper", `go func() { stop(t) }()`, "p.stop, which can stop the test through t"},
		{"helper of a helper", `go func() { viaStop(t) }()`, "p.viaStop, which can stop the test through t"},
		{"helper in another package", `go func() { kt.Start(t) }()`, "kt.Start, which can stop the test through t"},
		{"go statement on a helper", `go stop(t)`, "p.stop, which can stop the test through t"},
		{"nested literal", `go func() { f := func() { t.Fatal("x") }; f() }()`, "calls t.Fatal"},
		{"only reports", `go func() { t.Error("x"); report(t); kt.Fine(t) }()`, ""},
		{"subtest started by a goroutine", `go func() { t.Run("s", func(t *testing.T) { t.Fatal("x") }) }()`, ""},
		{"helper whose subtest stops", `go func() { subtest(t) }()`, ""},
		{"helper whose literal has its own t", `go func() { fresh(t) }()`, ""},
		{"test goroutine", `t.Fatal("x"); stop(t); kt.Start(t)`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := loadModule(plantedModule(c.body))
			if err != nil {
				t.Fatal(err)
			}
			got := m.goroutineStops()
			switch {
			case c.want == "" && len(got) > 0:
				t.Errorf("found %q, want nothing", got)
			case c.want != "" && (len(got) != 1 || !strings.Contains(got[0], c.want) || !strings.HasPrefix(got[0], "p/p_test.go:")):
				t.Errorf("found %q, want one finding in p/p_test.go with %q", got, c.want)
			}
		})
	}
}

// TestFixedPortsPlanted: fixed loopback ports in tests and in test helper
// packages are found; port 0, other hosts, non-test code and the
// network-namespace packages are not.
func TestFixedPortsPlanted(t *testing.T) {
	src := func(pkg, lits string) []byte {
		return []byte("package " + pkg + "\n\nvar _ = []string{" + lits + "}\n")
	}
	fsys := fstest.MapFS{
		"go.mod":               {Data: []byte("module example.com/m\n")},
		"a/a_test.go":          {Data: src("a", `"nats://127.0.0.1:4222", "localhost:8080", "[::1]:9092", "127.0.0.1:0", "10.0.0.1:8080", "127.0.0.1"`)},
		"a/a.go":               {Data: src("a", `"127.0.0.1:9092"`)},
		"test/kafka/k.go":      {Data: src("kafkatest", `"bootstrap: [127.0.0.1:19092]"`)},
		"test/netns/n_test.go": {Data: src("netns", `"127.0.0.1:9092"`)},
		"test/chaos/c.go":      {Data: src("chaos", `"nats://127.0.0.1:4222"`)},
	}
	m, err := loadModule(fsys)
	if err != nil {
		t.Fatal(err)
	}
	got := m.fixedPorts()
	var where []string
	for _, f := range got {
		file, _, _ := strings.Cut(f, ":")
		addr := f[strings.Index(f, "port ")+5 : strings.Index(f, ": take")]
		where = append(where, file+" "+addr)
	}
	want := []string{"a/a_test.go 127.0.0.1:4222", "a/a_test.go localhost:8080", "a/a_test.go [::1]:9092", "test/kafka/k.go 127.0.0.1:19092"}
	slices.Sort(where)
	slices.Sort(want)
	if !slices.Equal(where, want) {
		t.Errorf("found %q, want %q", where, want)
	}
}

// TestEarlyExitPipesPlanted: a pipe into head or grep -q/-m in a script
// under pipefail is found; in a comment, without pipefail or in a file
// that is not a shell script it is not.
func TestEarlyExitPipesPlanted(t *testing.T) {
	fsys := fstest.MapFS{
		"tools/check.sh":   {Data: []byte("#!/usr/bin/env bash\nset -euo pipefail\n# tofu version | head -1\ntofu version | head -1\nls | grep -q x\nls | grep -v x\nls | grep -m1 x\n")},
		".ci/run":          {Data: []byte("#!/bin/bash\nset -o pipefail\njava -version 2>&1 | head -n 1\n")},
		"tools/nopf.sh":    {Data: []byte("#!/bin/sh\nset -e\ntofu version | head -1\n")},
		"docs/README.md":   {Data: []byte("set -o pipefail\ntofu version | head -1\n")},
		"testdata/x.sh":    {Data: []byte("set -o pipefail\nx | head\n")},
		".hidden/y.sh":     {Data: []byte("set -o pipefail\nx | head\n")},
		"tools/script.py":  {Data: []byte("#!/usr/bin/env python3\n# pipefail\nx = 'a | head'\n")},
		"tools/fine.bash":  {Data: []byte("#!/usr/bin/env bash\nset -o pipefail\nv=\"$(tofu version)\"\necho \"${v%%$'\\n'*}\"\n")},
		"tools/dash-style": {Data: []byte("#!/bin/sh\nset -o pipefail\nps | grep --quiet agent\n")},
	}
	got, err := earlyExitPipes(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var where []string
	for _, f := range got {
		file, rest, _ := strings.Cut(f, ":")
		line, _, _ := strings.Cut(rest, ":")
		where = append(where, file+":"+line)
	}
	want := []string{".ci/run:3", "tools/check.sh:4", "tools/check.sh:5", "tools/check.sh:7", "tools/dash-style:3"}
	slices.Sort(where)
	if !slices.Equal(where, want) {
		t.Errorf("found %q, want %q", where, want)
	}
}
