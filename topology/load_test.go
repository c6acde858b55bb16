package topology

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loadError loads path, which must fail with exactly one error, within d.
func loadError(t *testing.T, path string, d time.Duration) string {
	t.Helper()
	type result struct {
		m   *Mesh
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := Load(path)
		done <- result{m, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(d):
		t.Fatalf("Load(%s) still running after %s", path, d)
	}
	if r.err == nil {
		t.Fatalf("Load(%s) succeeded, want an error", path)
	}
	var errs Errors
	if !errors.As(r.err, &errs) || len(errs) != 1 {
		t.Fatalf("Load(%s) = %v, want one error of type Errors", path, r.err)
	}
	return r.err.Error()
}

func TestLoadSizeCap(t *testing.T) {
	dir := t.TempDir()
	valid, err := os.ReadFile("testdata/valid/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// A file of exactly MaxFileSize bytes is read: comments pad it.
	atCap := append([]byte{}, valid...)
	line := "# " + strings.Repeat("x", 77) + "\n"
	for len(atCap)+len(line) <= MaxFileSize {
		atCap = append(atCap, line...)
	}
	atCap = append(atCap, strings.Repeat("#", MaxFileSize-len(atCap))...)
	path := filepath.Join(dir, "at-cap.yaml")
	if err := os.WriteFile(path, atCap, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatalf("a file of %d bytes: %v", len(atCap), err)
	}

	over := filepath.Join(dir, "over.yaml")
	if err := os.WriteFile(over, append(atCap, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	want := over + ": file is 4194305 bytes; a topology file may hold at most 4 MiB (4194304 bytes)"
	if got := loadError(t, over, 5*time.Second); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := Parse("big.yaml", make([]byte, MaxFileSize+1)); err == nil || err.Error() != "big.yaml: file is 4194305 bytes; a topology file may hold at most 4 MiB (4194304 bytes)" {
		t.Errorf("Parse of MaxFileSize+1 bytes: %v", err)
	}
}

// TestLoadDevZero: a device is refused before it is read, so an endless
// one neither fills memory nor blocks.
func TestLoadDevZero(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip(err)
	}
	want := "/dev/zero: cannot read: a device, not a regular file; give the path of a topology file"
	if got := loadError(t, "/dev/zero", 5*time.Second); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	want := dir + ": cannot read: a directory, not a regular file; give the path of a topology file"
	if got := loadError(t, dir, 5*time.Second); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestLoadSymlink: a link to a regular file is read, as configuration
// managers and Kubernetes config maps install files behind links.
func TestLoadSymlink(t *testing.T) {
	abs, err := filepath.Abs("testdata/valid/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.Symlink(abs, link); err != nil {
		t.Skip(err)
	}
	if _, err := Load(link); err != nil {
		t.Fatal(err)
	}
}
