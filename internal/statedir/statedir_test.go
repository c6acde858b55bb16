package statedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLock: a second lock of a node directory fails at once with an
// InUseError naming the directory and this process's pid, whether the
// first is held in this process or not; after Unlock the directory can
// be locked again; a missing directory is created.
func TestLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shop", "us-east-1")
	first, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o750 {
		t.Errorf("node directory: %v, %v; want created with mode 0750", st, err)
	}
	_, err = Lock(dir)
	var inUse *InUseError
	if !errors.As(err, &inUse) || inUse.Dir != dir || inUse.PID != os.Getpid() {
		t.Fatalf("second Lock: %v; want an InUseError for %s, pid %d", err, dir, os.Getpid())
	}
	if want := fmt.Sprintf("state dir %s is in use by another agent (pid %d)", dir, os.Getpid()); err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if err := first.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := first.Unlock(); err != nil {
		t.Errorf("second Unlock: %v", err)
	}
	again, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	defer again.Unlock()
	if _, err := Lock(filepath.Join(dir, "other")); err != nil {
		t.Errorf("a directory inside a locked one: %v", err)
	}
}

// TestLockNamesTheDirectory: a directory that cannot be created is named
// in the error.
func TestLockNamesTheDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(file, "us-east-1")
	_, err := Lock(dir)
	if err == nil || !strings.HasPrefix(err.Error(), "state dir "+dir+": ") {
		t.Errorf("Lock under a file: %v; want an error naming %s", err, dir)
	}
}

func TestDefaults(t *testing.T) {
	if got := Service("shop"); got != "/var/lib/geomesh/shop" {
		t.Errorf("Service = %s", got)
	}
	t.Setenv("XDG_STATE_HOME", "/srv/state")
	if got, err := User("shop"); err != nil || got != "/srv/state/geomesh/shop" {
		t.Errorf("User with $XDG_STATE_HOME = %s, %v", got, err)
	}
	t.Setenv("XDG_STATE_HOME", "relative")
	t.Setenv("HOME", "/home/op")
	if got, err := User("shop"); err != nil || got != "/home/op/.local/state/geomesh/shop" {
		t.Errorf("User with a relative $XDG_STATE_HOME = %s, %v; want under ~/.local/state", got, err)
	}
}
