package main

import (
	"encoding/json"
	"io"
	"os"

	"github.com/geomesh/geomesh/topology"
	"github.com/spf13/cobra"
)

// envTopology names the topology file of every command run without -t.
const envTopology = "GEOMESH_TOPOLOGY"

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "geomesh",
		Short: "Keep Kafka clusters in several regions in step and fail over between them",
		Long: `geomesh replicates Kafka topics between regional clusters under
active-passive, active-active or hub-spoke topologies described in one
YAML topology file, and moves applications between regions when one fails.

Every command reads the topology file given with -t FILE (--topology
FILE), or else the one $GEOMESH_TOPOLOGY names. validate, plan and up also
take it as their argument, a shorthand for -t. demo runs the file too, or
a built-in example (demo --example NAME). --json makes a command print
JSON (docs/cli.md shows every shape); --log-level and --log-format set
the logs of the commands that log (agent, up, demo).

Exit status:
  0  done
  1  any other failure
  2  usage: bad flags or arguments, no topology file
  3  refused: the mesh or an agent refused the request
  4  not found: no such region, flow or consumer group in the mesh
  5  behind: translate has no current, exact answer yet (a partition is
     behind, or the source region did not answer)`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: checkGlobalFlags,
	}
	f := root.PersistentFlags()
	f.StringP("topology", "t", "", "the mesh's topology `FILE` (default $"+envTopology+")")
	f.Bool("json", false, "print JSON instead of text (docs/cli.md shows every shape)")
	f.String("log-level", "info", "log `LEVEL` of agent, up and demo (demo: warn unless given): debug, info, warn or error")
	f.String("log-format", "text", "log `FORMAT` of agent, up and demo: text or json")
	root.AddCommand(validateCmd(), planCmd(), upCmd(), agentCmd(), translateCmd(), demoCmd(), keysCmd(), statusCmd(), failoverCmd(), failbackCmd(), diffCmd(), applyCmd(), versionCmd())
	markRun(root)
	return root
}

// checkGlobalFlags refuses bad values of the global flags before any
// command runs.
func checkGlobalFlags(cmd *cobra.Command, _ []string) error {
	_, err := newLogger(cmd, io.Discard)
	return err
}

// topologyFile is the file -t names, else $GEOMESH_TOPOLOGY; a usage
// error when neither does.
func topologyFile(cmd *cobra.Command) (string, error) {
	if f := cmd.Flags().Lookup("topology"); f != nil && f.Changed {
		if f.Value.String() == "" {
			return "", usageErrorf("-t/--topology names no file")
		}
		return f.Value.String(), nil
	}
	if path := os.Getenv(envTopology); path != "" {
		return path, nil
	}
	return "", usageErrorf("no topology file: give -t FILE or set $%s", envTopology)
}

// topologyArgs are the files of validate, plan and up: their arguments,
// a shorthand for -t, else topologyFile. Arguments and -t together are a
// usage error; $GEOMESH_TOPOLOGY gives way to arguments.
func topologyArgs(cmd *cobra.Command, args []string) ([]string, error) {
	if len(args) == 0 {
		path, err := topologyFile(cmd)
		return []string{path}, err
	}
	if f := cmd.Flags().Lookup("topology"); f != nil && f.Changed {
		return nil, usageErrorf("the topology file is given twice, as -t %s and as an argument: give one", f.Value.String())
	}
	return args, nil
}

// loadMesh loads the topology file of the command (topologyFile).
func loadMesh(cmd *cobra.Command) (*topology.Mesh, error) {
	path, err := topologyFile(cmd)
	if err != nil {
		return nil, err
	}
	return loadTopology(cmd, path)
}

// jsonOutput says whether --json was given.
func jsonOutput(cmd *cobra.Command) bool {
	on, _ := cmd.Flags().GetBool("json")
	return on
}

// noJSON refuses --json for a command that prints no JSON.
func noJSON(cmd *cobra.Command) error {
	if jsonOutput(cmd) {
		return usageErrorf("%s prints no JSON; --log-format json makes its logs JSON", cmd.Name())
	}
	return nil
}

// writeJSON prints v indented, with <, > and & as they are.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
