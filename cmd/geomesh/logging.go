package main

import (
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

// newLogger builds the logger of the global --log-level and --log-format.
func newLogger(cmd *cobra.Command, w io.Writer) (*slog.Logger, error) {
	return newLoggerAt(cmd, w, "")
}

// newLoggerAt is newLogger with another default level, used unless
// --log-level is given.
func newLoggerAt(cmd *cobra.Command, w io.Writer, defaultLevel string) (*slog.Logger, error) {
	name, format := "info", "text"
	if f := cmd.Flags().Lookup("log-level"); f != nil {
		name = f.Value.String()
		if !f.Changed && defaultLevel != "" {
			name = defaultLevel
		}
	}
	if f := cmd.Flags().Lookup("log-format"); f != nil {
		format = f.Value.String()
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(name)); err != nil {
		return nil, usageErrorf("--log-level %q: want debug, info, warn or error", name)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, usageErrorf("--log-format %q: want text or json", format)
	}
}
