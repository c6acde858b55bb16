package testkit

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The geomesh binary is built once per test binary, into a directory named
// after the module root, so that repeated runs overwrite it instead of
// leaving copies behind.
var geomesh struct {
	once sync.Once
	path string
	err  error
}

// BuildGeomesh returns the path of a geomesh binary built from the module
// the test belongs to (go build ./cmd/geomesh): for the tests that run
// agents and the CLI as processes of their own. The first call of the
// test binary builds it; the others wait for that build and share it.
func BuildGeomesh(tb testing.TB) string {
	tb.Helper()
	geomesh.once.Do(func() { geomesh.path, geomesh.err = buildGeomesh() })
	if geomesh.err != nil {
		tb.Fatalf("testkit: %v", geomesh.err)
	}
	return geomesh.path
}

func buildGeomesh() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	if root == "." || root == "" {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	h := fnv.New32a()
	h.Write([]byte(root))
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("geomesh-build-%08x", h.Sum32()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Build under a temporary name and rename: a concurrent run of the same
	// tree keeps executing the binary it started.
	tmp, err := os.CreateTemp(dir, "geomesh-*.tmp")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/geomesh")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/geomesh in %s: %w\n%s", root, err, out)
	}
	path := filepath.Join(dir, "geomesh")
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}
