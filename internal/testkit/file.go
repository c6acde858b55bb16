package testkit

import (
	"os"
	"path/filepath"
	"testing"
)

// TempFile writes content to a file called name in a directory of the
// test's own, readable by this user only (secrets, keys and topology
// files alike), and returns its path. The directory goes when the test
// ends.
func TempFile(tb testing.TB, name, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatalf("testkit: write %s: %v", path, err)
	}
	return path
}
