package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/geomesh/geomesh/topology"
	"github.com/spf13/cobra"
)

type planOutput struct {
	Mesh  string          `json:"mesh"`
	Kind  string          `json:"kind"`
	Flows []topology.Flow `json:"flows"`
}

func planCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plan FILE",
		Short: "Print the replication flows a topology file implies",
		Long: `plan derives the replication flows of a valid topology file: for each
source and target region, the kind of flow, the topics and consumer groups
it selects and how target topics are named.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := loadTopology(cmd, args[0])
			if err != nil {
				return err
			}
			out := planOutput{Mesh: m.Name, Kind: string(m.Kind), Flows: topology.Plan(m)}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			return printPlan(cmd, out)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return cmd
}

func printPlan(cmd *cobra.Command, p planOutput) error {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "mesh %s (%s), %s\n", p.Mesh, p.Kind, plural(len(p.Flows), "flow"))
	fmt.Fprintln(w, "SOURCE\tTARGET\tKIND\tTOPICS\tTARGET NAME\tGROUPS")
	for _, f := range p.Flows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n",
			f.Source, f.Target, f.Kind, selection(f.Topics), f.TargetTopic("<topic>"), selection(f.Groups))
	}
	return w.Flush()
}

func selection(s topology.Selection) string {
	if len(s.Include) == 0 {
		return "-"
	}
	out := strings.Join(s.Include, ",")
	if len(s.Exclude) > 0 {
		out += " except " + strings.Join(s.Exclude, ",")
	}
	return out
}

// loadTopology loads a file and, when it is invalid, prints every error
// in file:line:col form before failing.
func loadTopology(cmd *cobra.Command, path string) (*topology.Mesh, error) {
	m, err := topology.Load(path)
	if err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), err)
		return nil, exitError{"invalid topology file " + path}
	}
	return m, nil
}
