package testkit

import (
	"bytes"
	"encoding/json"
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

// ReadStrict decodes the JSON file at path into v, failing the test on a
// key v does not have: a table shared between languages must not grow a
// key one of them ignores unnoticed.
func ReadStrict(tb testing.TB, path string, v any) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}
