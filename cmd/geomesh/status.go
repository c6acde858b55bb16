package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
	"github.com/spf13/cobra"
)

func statusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every agent's view of the mesh: roles, epoch, flows, lag, heartbeats, cluster health",
		Long: `status asks every agent the topology lists for GET /v1/failover,
/v1/status and /v1/health and prints the mesh state (epoch and roles), one
table of agents with their region's cluster health, and one of the flows
into each region: lag, heartbeat age and the RPO estimate; one of group
offset sync per flow (groups selected, time since all were last in step,
failing groups) and, when a group fails to sync, one row per such group
with the error; after an unplanned failover, one of the old primary's
stranded records (policy, state, records settled, attempts, last error).
An agent that
does not answer is listed with its error and makes the command exit
non-zero (1). --json prints the answers as they came, one object per
agent (docs/cli.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := loadMesh(cmd)
			if err != nil {
				return err
			}
			views := collectStatus(cmd.Context(), api.NewClient(m, api.ClientOptions{Admin: true}), m)
			if jsonOutput(cmd) {
				err = writeJSON(cmd.OutOrStdout(), views)
			} else {
				err = printStatus(cmd.OutOrStdout(), views)
			}
			if err != nil {
				return err
			}
			for _, v := range views {
				if v.Error != "" {
					return exitError{"some agents did not answer"}
				}
			}
			return nil
		},
	}
	return cmd
}

// agentView is one agent's answers to status; status --json prints a
// list of them, in the file's order (docs/cli.md).
type agentView struct {
	Region   string              `json:"region"`
	Agent    string              `json:"agent"`
	Addr     string              `json:"addr"`
	Failover *api.FailoverStatus `json:"failover,omitempty"`
	Status   *agent.Status       `json:"status,omitempty"`
	Health   *agent.HealthStatus `json:"health,omitempty"`
	Error    string              `json:"error,omitempty"`
}

// collectStatus asks every agent in file order, each within 5 s; an agent
// that fails is recorded and the rest are still asked.
func collectStatus(ctx context.Context, c *api.Client, m *topology.Mesh) []agentView {
	var out []agentView
	for _, r := range m.Regions {
		for _, a := range r.Agents {
			v := agentView{Region: r.Name, Agent: a.ID, Addr: a.API}
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			var fs api.FailoverStatus
			var st agent.Status
			var hs agent.HealthStatus
			err := c.Do(actx, "GET", a.API, "/v1/failover", nil, &fs)
			if err == nil {
				err = c.Do(actx, "GET", a.API, "/v1/status", nil, &st)
			}
			if err == nil {
				err = c.Do(actx, "GET", a.API, "/v1/health", nil, &hs)
			}
			cancel()
			if err != nil {
				v.Error = err.Error()
			} else {
				v.Failover, v.Status, v.Health = &fs, &st, &hs
			}
			out = append(out, v)
		}
	}
	return out
}

// printStatus writes the mesh state, the agents table, the flows table
// and, when an agent settled stranded records, their table.
func printStatus(out io.Writer, views []agentView) error {
	for _, v := range views {
		if v.Failover != nil && v.Failover.State != nil {
			fmt.Fprintf(out, "mesh %s: %s (as agent %s sees it)\n\n", v.Failover.Mesh, v.Failover.State.String(), v.Agent)
			break
		}
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "REGION\tAGENT\tROLE\tEPOCH\tCONTROL PLANE\tAGENTS UP\tBROKERS\tCONTROLLER\tUNDER-REPL\tOFFLINE\tGROUPS NOT OK\tVERDICTS\tERROR")
	for _, v := range views {
		if v.Error != "" {
			fmt.Fprintf(w, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n", v.Region, v.Agent, v.Error)
			continue
		}
		f := v.Failover
		role := f.Role
		if f.Fenced {
			role += " (fenced)"
		}
		var verdicts []string
		for _, rv := range f.Views {
			verdicts = append(verdicts, fmt.Sprintf("%s=%s", rv.Region, rv.Verdict))
		}
		brokers, ctrl, urp, offline, notOK := "-", "-", "-", "-", "-"
		if c := v.Health.Cluster; c != nil && !c.LastSuccess.IsZero() {
			brokers, urp, offline = fmt.Sprint(c.Brokers), fmt.Sprint(c.UnderReplicated), fmt.Sprint(c.Offline)
			ctrl = "none"
			if c.ActiveController {
				ctrl = fmt.Sprintf("node %d", c.ControllerID)
			}
			var bad []string
			for _, g := range c.Groups {
				if g.StatusText != "OK" {
					bad = append(bad, g.Group+" "+g.StatusText)
				}
			}
			notOK = fmt.Sprint(len(bad))
			if len(bad) > 0 {
				notOK += " (" + strings.Join(bad, ", ") + ")"
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", v.Region, v.Agent, role, f.Epoch, f.ControlPlane,
			len(v.Status.Members), brokers, ctrl, urp, offline, notOK, strings.Join(verdicts, " "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "FLOW\tSEEN BY\tLAG\tLAG AGE\tHEARTBEAT AGE\tRPO ESTIMATE\tERROR")
	for _, v := range views {
		if v.Health == nil {
			continue
		}
		for _, f := range v.Health.Flows {
			beat := seconds(f.HeartbeatAge)
			if !f.HeartbeatSeen {
				beat += " (no beat yet)"
			}
			fmt.Fprintf(w, "%s → %s\t%s\t%d\t%s\t%s\t%s\t%s\n", f.Source, f.Target, v.Agent, f.LagRecords, seconds(f.LagSeconds), beat, seconds(f.RPOSeconds), f.Error)
		}
	}
	printOffsetSync(w, views)
	header := false
	for _, v := range views {
		st := v.Failover
		if st == nil || st.Stranded == nil {
			continue
		}
		if !header {
			fmt.Fprintln(w)
			fmt.Fprintln(w, "STRANDED\tSEEN BY\tPOLICY\tSTATE\tRECORDS\tATTEMPTS\tERROR")
			header = true
		}
		s := st.Stranded
		fmt.Fprintf(w, "%s → %s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.Source, s.Target, v.Agent, s.Policy, s.State, s.Records, s.Attempts, s.Error)
	}
	return w.Flush()
}

// printOffsetSync writes the group offset sync of every flow as its
// target's agents see it and, when a group fails to sync, a row per
// failing group.
func printOffsetSync(w io.Writer, views []agentView) {
	var failing []string
	header := false
	for _, v := range views {
		if v.Status == nil {
			continue
		}
		for _, s := range v.Status.OffsetSync {
			if !header {
				fmt.Fprintln(w)
				fmt.Fprintln(w, "GROUP SYNC\tSEEN BY\tGROUPS\tALL IN STEP\tFAILING\tCOMMITTED\tERROR")
				header = true
			}
			fmt.Fprintf(w, "%s → %s\t%s\t%d\t%s ago\t%d\t%d\t%s\n", s.Source, s.Target, v.Agent, s.Groups, seconds(s.InStepAge), len(s.Failing), s.Committed, s.Error)
			for _, g := range s.Failing {
				failing = append(failing, fmt.Sprintf("%s\t%s → %s\t%s\t%s\t%s\t%s\n", g.Group, s.Source, s.Target, v.Agent, g.Class, seconds(g.For), g.Error))
			}
		}
	}
	if len(failing) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "GROUP NOT SYNCED\tFLOW\tSEEN BY\tCLASS\tFAILING FOR\tERROR")
		for _, f := range failing {
			fmt.Fprint(w, f)
		}
	}
}

func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(100 * time.Millisecond).String()
}
