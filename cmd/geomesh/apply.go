package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
	"github.com/spf13/cobra"
)

func diffCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diff FILE",
		Short: "Show what applying FILE would change in the running mesh, and what it would refuse",
		Long: `diff validates FILE (every problem as file:line:col: message, exit 1) and
asks the mesh's agents (those of -t FILE or $GEOMESH_TOPOLOGY, else
FILE's) what changes from the mesh's stored topology version (or, while
none is stored, the agent's topology file) to FILE: one line per setting,
"+" added, "-" removed, "~" changed, each marked "at restart" when the
agents take it only when they restart and "REFUSED" with the reason when
a running mesh cannot take it. Nothing is stored. It exits 3 when a
change is refused. --json prints the agent's answer (docs/cli.md).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			source, c, err := applyInput(cmd, args[0])
			if err != nil {
				return err
			}
			resp, err := c.Apply(cmd.Context(), api.ApplyRequest{Source: string(source), DryRun: true})
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				if err := writeJSON(cmd.OutOrStdout(), resp); err != nil {
					return err
				}
			} else {
				printChanges(cmd.OutOrStdout(), resp, args[0])
			}
			return refusal(resp)
		},
	}
}

func applyCmd() *cobra.Command {
	var rollback bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "apply FILE | apply --rollback",
		Short: "Store FILE as the mesh's next topology version; the agents take it without a restart",
		Long: `apply shows the changes as diff does, then stores FILE as the next
version of the mesh's topology in the control plane, with compare-and-set
on the version the changes were listed against: if another version was
stored in between it stores nothing and exits 3. Every agent watches the
stored versions and takes each new one without a restart: flows the new
version adds start, those it drops drain and stop, flows whose topics,
groups, replication settings or overrides change restart, and the
failover timings, mode, stranded policy and hooks apply from the next
decision. An agent's own addresses, the gossip, API, control-plane and
Kafka connection settings and the probe timings take effect when each
agent restarts (status lists them under pending_restart). A change a
running mesh cannot take (the mesh's name or kind, a region's name or
witness flag, the naming of a flow that keeps running, adding or
removing regions or voters) is refused with its reason, exit 3.

apply then waits (up to --wait, 0: not at all) until every agent of the
new version reports it in /v1/status, and prints how long that took; an
agent that does not answer or still runs another version makes it exit 1.

apply --rollback stores the version before the newest one again, as a new
version. The agents to ask are those of -t FILE or $GEOMESH_TOPOLOGY,
else FILE's.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if rollback && len(args) > 0 || !rollback && len(args) != 1 {
				return usageErrorf("apply takes one FILE, or --rollback and no FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var source []byte
			var c *api.Client
			var err error
			req := api.ApplyRequest{By: applier()}
			name := "the previous version"
			if rollback {
				if source, req.RollbackOf, c, err = previousVersion(cmd); err != nil {
					return err
				}
			} else {
				name = args[0]
				if source, c, err = applyInput(cmd, args[0]); err != nil {
					return err
				}
			}
			req.Source = string(source)
			check := req
			check.DryRun = true
			resp, err := c.Apply(ctx, check)
			if err != nil {
				return err
			}
			if !jsonOutput(cmd) {
				printChanges(cmd.OutOrStdout(), resp, name)
			}
			if err := refusal(resp); err != nil {
				return err
			}
			req.Expected = resp.From
			start := time.Now()
			if resp, err = c.Apply(ctx, req); err != nil {
				return err
			}
			if resp.Version == resp.From && !jsonOutput(cmd) {
				fmt.Fprintf(cmd.OutOrStdout(), "version %d is already this file: nothing stored\n", resp.Version)
			} else if !jsonOutput(cmd) {
				fmt.Fprintf(cmd.OutOrStdout(), "stored topology version %d\n", resp.Version)
			}
			var conv *convergence
			if wait > 0 {
				m, err := topology.Parse("topology version", source)
				if err != nil {
					return err
				}
				conv = waitConverged(ctx, api.NewClient(m, api.ClientOptions{}), m, resp.Version, wait, start)
			}
			if jsonOutput(cmd) {
				if err := writeJSON(cmd.OutOrStdout(), applyResult{ApplyResponse: resp, Converged: conv}); err != nil {
					return err
				}
			} else if conv != nil {
				conv.print(cmd.OutOrStdout(), resp.Version)
			}
			if conv != nil && len(conv.Behind) > 0 {
				return exitError{fmt.Sprintf("%d agents do not run version %d after %s", len(conv.Behind), resp.Version, wait)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&rollback, "rollback", false, "store the version before the newest again")
	cmd.Flags().DurationVar(&wait, "wait", time.Minute, "how long to wait for every agent to run the new version (0: do not wait)")
	return cmd
}

// applyResult is apply --json's answer.
type applyResult struct {
	api.ApplyResponse
	Converged *convergence `json:"converged,omitempty"`
}

// convergence is how the agents took a stored version.
type convergence struct {
	// Seconds from the apply request to the last agent's report.
	Seconds float64 `json:"seconds"`
	Agents  int     `json:"agents"`
	// Behind are the agents that did not report the version in time,
	// each with what they run or why they did not answer.
	Behind []string `json:"behind,omitempty"`
}

func (c *convergence) print(w io.Writer, version uint64) {
	if len(c.Behind) == 0 {
		fmt.Fprintf(w, "all %d agents run version %d, %.2fs after the apply\n", c.Agents, version, c.Seconds)
		return
	}
	fmt.Fprintf(w, "%d of %d agents do not run version %d:\n", len(c.Behind), c.Agents, version)
	for _, b := range c.Behind {
		fmt.Fprintf(w, "  %s\n", b)
	}
}

// applyInput validates FILE and returns its bytes and a client of the
// agents to ask.
func applyInput(cmd *cobra.Command, file string) ([]byte, *api.Client, error) {
	m, err := loadTopology(cmd, file)
	if err != nil {
		return nil, nil, err
	}
	source, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	if _, err := topologyFile(cmd); err == nil {
		if m, err = loadMesh(cmd); err != nil {
			return nil, nil, err
		}
	}
	return source, api.NewClient(m, api.ClientOptions{Admin: true}), nil
}

// previousVersion reads the version before the newest, for --rollback.
func previousVersion(cmd *cobra.Command) (source []byte, newest uint64, c *api.Client, err error) {
	m, err := loadMesh(cmd)
	if err != nil {
		return nil, 0, nil, err
	}
	c = api.NewClient(m, api.ClientOptions{Admin: true})
	latest, err := c.Topology(cmd.Context(), 0)
	if err != nil {
		return nil, 0, nil, err
	}
	if latest.Version < 2 {
		return nil, 0, nil, refusedf("topology version %d is the first stored: there is no earlier version to roll back to", latest.Version)
	}
	prev, err := c.Topology(cmd.Context(), latest.Version-1)
	if err != nil {
		return nil, 0, nil, err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "rolling back version %d to the text of version %d (applied %s by %s)\n",
		latest.Version, prev.Version, prev.AppliedAt.Format(time.RFC3339), prev.AppliedBy)
	return []byte(prev.Source), latest.Version, c, nil
}

// applier names who applies, for the stored version's record.
func applier() string {
	user := os.Getenv("USER")
	host, _ := os.Hostname()
	switch {
	case user != "" && host != "":
		return user + "@" + host
	case host != "":
		return host
	}
	return user
}

// refusal is the exit error of a response with refused changes.
func refusal(resp api.ApplyResponse) error {
	var why []string
	for _, c := range resp.Changes {
		if c.Refused != "" {
			why = append(why, c.Path)
		}
	}
	if len(why) == 0 {
		return nil
	}
	return refusedf("refused: %s", strings.Join(why, ", "))
}

func printChanges(w io.Writer, resp api.ApplyResponse, name string) {
	from := "the agents' topology file (no version stored)"
	if resp.From > 0 {
		from = fmt.Sprintf("topology version %d", resp.From)
	}
	if len(resp.Changes) == 0 {
		fmt.Fprintf(w, "no changes from %s to %s\n", from, name)
		return
	}
	fmt.Fprintf(w, "changes from %s to %s:\n", from, name)
	for _, c := range resp.Changes {
		var line string
		switch {
		case c.Old == "":
			line = fmt.Sprintf("+ %s: %s", c.Path, c.New)
		case c.New == "":
			line = fmt.Sprintf("- %s: %s", c.Path, c.Old)
		default:
			line = fmt.Sprintf("~ %s: %s → %s", c.Path, c.Old, c.New)
		}
		if !c.Live {
			line += "  (at restart)"
		}
		if c.Refused != "" {
			line += "\n    REFUSED: " + c.Refused
		}
		fmt.Fprintln(w, "  "+line)
	}
}

// waitConverged polls every agent of m until each runs version, or
// until wait has passed.
func waitConverged(ctx context.Context, c *api.Client, m *topology.Mesh, version uint64, wait time.Duration, start time.Time) *convergence {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	conv := &convergence{}
	for {
		conv.Agents, conv.Behind = 0, nil
		for _, r := range m.Regions {
			for _, ag := range r.Agents {
				conv.Agents++
				var st agent.Status
				err := c.Do(ctx, http.MethodGet, ag.API, "/v1/status", nil, &st)
				switch {
				case err != nil:
					conv.Behind = append(conv.Behind, fmt.Sprintf("%s: %v", ag.ID, err))
				case st.Topology.Version != version:
					b := fmt.Sprintf("%s: runs version %d", ag.ID, st.Topology.Version)
					if st.Topology.Rejected != "" {
						b += " and rejected " + st.Topology.Rejected
					}
					conv.Behind = append(conv.Behind, b)
				}
			}
		}
		conv.Seconds = time.Since(start).Seconds()
		if len(conv.Behind) == 0 {
			return conv
		}
		select {
		case <-ctx.Done():
			return conv
		case <-time.After(100 * time.Millisecond):
		}
	}
}
