//go:build unix

package topology

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestLoadFIFO: a named pipe that no one writes to is refused at once;
// reading it would wait forever.
func TestLoadFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	start := time.Now()
	want := fifo + ": cannot read: a named pipe, not a regular file; give the path of a topology file"
	if got := loadError(t, fifo, 5*time.Second); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Load took %s on a named pipe, want under 1s", d)
	}
}
