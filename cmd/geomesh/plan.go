package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/geomesh/geomesh/topology"
	"github.com/spf13/cobra"
)

// planOutput is what plan --json prints (docs/cli.md).
type planOutput struct {
	Mesh  string     `json:"mesh"`
	Kind  string     `json:"kind"`
	Flows []planFlow `json:"flows"`
}

// planFlow is one flow of the plan.
type planFlow struct {
	Source string `json:"source"`
	Target string `json:"target"`
	// Kind is replicate, aggregate, broadcast or standby.
	Kind   string        `json:"kind"`
	Topics planSelection `json:"topics"`
	Groups planSelection `json:"groups"`
	// Naming is how target topics are named: identity or prefix.
	Naming string `json:"naming"`
	// TargetTopic is the name of a topic's copy, with <topic> for the
	// source topic's name: "<topic>" or "us-east.<topic>".
	TargetTopic string `json:"target_topic"`
}

// planSelection is a topic or group selection: regular expressions,
// empty lists rather than null.
type planSelection struct {
	Include []string `json:"include"`
	Exclude []string `json:"exclude"`
}

func newPlanOutput(m *topology.Mesh) planOutput {
	out := planOutput{Mesh: m.Name, Kind: string(m.Kind), Flows: []planFlow{}}
	// Flows share their selections' lists: an active-active mesh of n
	// regions has n(n-1) flows and few distinct selections.
	empty := []string{}
	nonNil := func(l []string) []string {
		if l == nil {
			return empty
		}
		return l
	}
	sel := func(s topology.Selection) planSelection {
		return planSelection{Include: nonNil(s.Include), Exclude: nonNil(s.Exclude)}
	}
	plan := topology.Plan(m)
	out.Flows = make([]planFlow, 0, len(plan))
	for _, f := range plan {
		out.Flows = append(out.Flows, planFlow{
			Source: f.Source, Target: f.Target, Kind: f.Kind, Topics: sel(f.Topics), Groups: sel(f.Groups),
			Naming: string(f.Naming), TargetTopic: f.TargetTopic("<topic>"),
		})
	}
	return out
}

func planCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan [FILE]",
		Short: "Print the replication flows a topology file implies",
		Long: `plan derives the replication flows of a valid topology file: for each
source and target region, the kind of flow, the topics and consumer groups
it selects and how target topics are named. FILE is a shorthand for -t FILE.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := topologyArgs(cmd, args)
			if err != nil {
				return err
			}
			m, err := loadTopology(cmd, files[0])
			if err != nil {
				return err
			}
			out := newPlanOutput(m)
			if jsonOutput(cmd) {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			return printPlan(cmd, out)
		},
	}
	return cmd
}

func printPlan(cmd *cobra.Command, p planOutput) error {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "mesh %s (%s), %s\n", p.Mesh, p.Kind, plural(len(p.Flows), "flow"))
	fmt.Fprintln(w, "SOURCE\tTARGET\tKIND\tTOPICS\tTARGET NAME\tGROUPS")
	for _, f := range p.Flows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n",
			f.Source, f.Target, f.Kind, selection(f.Topics), f.TargetTopic, selection(f.Groups))
	}
	return w.Flush()
}

func selection(s planSelection) string {
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
