package main

import (
	"encoding/json"
	"io"

	"github.com/spf13/cobra"
)

// exitError makes the command exit 1 without printing anything more:
// the command has already reported what went wrong in its own format.
type exitError struct{ msg string }

func (e exitError) Error() string { return e.msg }

// exitStatus makes the command exit with code after main prints msg: the
// command printed its answer, and the status says what kind it is.
type exitStatus struct {
	code int
	msg  string
}

func (e exitStatus) Error() string { return e.msg }

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "geomesh",
		Short: "Keep Kafka clusters in several regions in step and fail over between them",
		Long: `geomesh replicates Kafka topics between regional clusters under
active-passive, active-active or hub-spoke topologies described in one
YAML topology file, and moves applications between regions when one fails.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(validateCmd(), planCmd(), upCmd(), agentCmd(), translateCmd(), demoCmd(), keysCmd(), statusCmd(), failoverCmd(), failbackCmd(), versionCmd())
	return root
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
