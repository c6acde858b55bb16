package testkit

import (
	"log/slog"
	"os"
	"testing"
)

// Logger is the logger to give the code under test: in a verbose run
// (go test -v) it writes records of level and above to stderr, each
// tagged with the test's name; otherwise it is nil, which the module's
// configs take for no logging.
func Logger(tb testing.TB, level slog.Level) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("test", tb.Name())
}
