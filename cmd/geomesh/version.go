package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version, commit and date are stamped by release builds (make dist,
// packaging/release): -ldflags "-X main.version=v1.2.3 -X main.commit=<sha>
// -X main.date=<RFC 3339>". A plain `go build` leaves version "dev" and
// takes commit and date from the Go toolchain's VCS stamp, when it has one.
var (
	version = "dev"
	commit  = ""
	date    = ""
)

type versionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// Date is when the commit was made (release builds) or, unstamped,
	// the commit time the toolchain recorded.
	Date string `json:"date"`
	// Modified says an unstamped build had uncommitted changes.
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func buildInfo() versionInfo {
	v := versionInfo{Version: version, Commit: commit, Date: date, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if v.Commit == "" {
				v.Commit = s.Value
			}
		case "vcs.time":
			if v.Date == "" {
				v.Date = s.Value
			}
		case "vcs.modified":
			v.Modified = s.Value == "true" && commit == ""
		}
	}
	return v
}

// String is the one line `geomesh version` prints.
func (v versionInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "geomesh %s", v.Version)
	if v.Commit != "" {
		fmt.Fprintf(&b, " commit %s", v.Commit)
		if v.Modified {
			b.WriteString(" (modified)")
		}
	}
	if v.Date != "" {
		fmt.Fprintf(&b, " date %s", v.Date)
	}
	fmt.Fprintf(&b, " %s %s", v.Go, v.Platform)
	return b.String()
}

func versionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the geomesh version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildInfo()
			if jsonOutput(cmd) {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), v)
			return err
		},
	}
	return cmd
}
