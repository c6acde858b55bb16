package testhygiene

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/token"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// root is the repository, two levels above this package.
var root = os.DirFS("../..")

func TestNoStopFromGoroutine(t *testing.T) {
	m, err := loadModule(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.goroutineStops() {
		t.Error(f)
	}
}

func TestNoFixedLoopbackPorts(t *testing.T) {
	m, err := loadModule(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.fixedPorts() {
		t.Error(f)
	}
}

func TestNoEarlyExitPipeUnderPipefail(t *testing.T) {
	findings, err := earlyExitPipes(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Error(f)
	}
}

// fixedPortsExempt are the packages whose processes run in network
// namespaces the tests make, where a fixed port meets nobody; topology,
// whose tests only parse and check addresses, never dial or bind them;
// and this one, whose planted tests hold fixed ports on purpose.
var fixedPortsExempt = []string{"test/netns", "test/chaos", "internal/testhygiene", "topology"}

// loopbackPort matches a loopback address with a port other than 0.
var loopbackPort = regexp.MustCompile(`(?:127\.0\.0\.1|localhost|\[::1\]):0*[1-9][0-9]*`)

// fixedPorts lists, as "file:line: ...", every string literal in a Go
// test (a _test.go file, or any file of a test helper package: test/...,
// local/meshtest) that names a loopback address with a fixed port.
func (m *module) fixedPorts() []string {
	var out []string
	for _, sf := range m.files {
		helper := strings.HasPrefix(sf.dir, "test/") || sf.dir == "local/meshtest"
		if !strings.HasSuffix(sf.name, "_test.go") && !helper {
			continue
		}
		if slices.ContainsFunc(fixedPortsExempt, func(d string) bool { return sf.dir == d || strings.HasPrefix(sf.dir, d+"/") }) {
			continue
		}
		ast.Inspect(sf.ast, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			if addr := loopbackPort.FindString(s); addr != "" {
				out = append(out, fmt.Sprintf("%s: fixed loopback port %s: take testkit.FreeAddr, or testkit.RefusedAddr for an address that must not answer",
					m.fset.Position(lit.Pos()), addr))
			}
			return true
		})
	}
	return out
}

// earlyPipe matches a pipe into a reader that may exit before its
// writer is done.
var earlyPipe = regexp.MustCompile(`\|\s*(head\b|grep\s+(-[A-Za-z]*[qm]|--quiet|--max-count))`)

// earlyExitPipes lists, as "file:line: ...", every pipe into head or
// grep -q/-m in a shell script of fsys that sets pipefail.
func earlyExitPipes(fsys fs.FS) ([]string, error) {
	var out []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") && d.Name() != ".ci" || d.Name() == "testdata") {
				return fs.SkipDir
			}
			return nil
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if !isShell(p, src) || !bytes.Contains(src, []byte("pipefail")) {
			return nil
		}
		sc := bufio.NewScanner(bytes.NewReader(src))
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "#") {
				continue
			}
			if earlyPipe.MatchString(line) {
				out = append(out, fmt.Sprintf("%s:%d: under pipefail, a pipe into a reader that exits early fails with SIGPIPE (141) now and then; read the whole output: %s", p, n, line))
			}
		}
		return sc.Err()
	})
	return out, err
}

// isShell reports whether a file is a shell script: by its name, or by a
// #! line that runs sh or bash (directly or through env).
func isShell(name string, src []byte) bool {
	if path.Ext(name) == ".sh" {
		return true
	}
	first, _, _ := bytes.Cut(src, []byte("\n"))
	interp, ok := bytes.CutPrefix(first, []byte("#!"))
	if !ok {
		return false
	}
	f := strings.Fields(string(interp))
	if len(f) > 1 && path.Base(f[0]) == "env" {
		f = f[1:]
	}
	return len(f) > 0 && (path.Base(f[0]) == "sh" || path.Base(f[0]) == "bash")
}
