package main

import (
	"context"
	"fmt"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
	"github.com/spf13/cobra"
)

func failoverCmd() *cobra.Command {
	var to, from string
	var force bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "failover --to REGION [--from REGION] [--force]",
		Short: "Move writes to REGION: at once if the writer is down (or --force), else a planned switch with no loss",
		Long: `failover asks the mesh's agents (the first that answers) to move the writer
role to REGION. If a majority sees the current writer down, or with --force, the
epoch flips at once; what the old writer did not replicate is stranded. Else it
is a planned switch: producers pause, replication drains to zero, the epoch
flips, flows reverse and producers resume; failover waits for the flip (up to
--wait) and prints the new state (--json: the state as JSON).

It exits 4 when a REGION is not in the mesh, 3 when the mesh refuses the
request (an agent answers 409: another decision came first, or the
failover machine refuses it) or aborts the planned switch.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := loadMesh(cmd)
			if err != nil {
				return err
			}
			for _, r := range []string{to, from} {
				if r == "" {
					continue
				}
				if err := checkRegion(m, r); err != nil {
					return err
				}
			}
			req := &api.FailoverRequest{To: to, From: from, Force: force}
			return runCommand(cmd, m, "/v1/failover", req, wait, func(s *api.State) bool {
				return s.Switch == nil && s.Role(to) != "" && s.Role(to) != api.RoleStandby && s.Role(to) != api.RoleStandbyHub
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "region that takes the writes (required)")
	cmd.Flags().StringVar(&from, "from", "", "active-active: region whose clients move")
	cmd.Flags().BoolVar(&force, "force", false, "fail over at once, without draining, even if the writer looks up")
	cmd.Flags().DurationVar(&wait, "wait", 3*time.Minute, "how long to wait for a planned switch to complete (0: do not wait)")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// runCommand posts an operator command, then, for a planned switch,
// polls the state until done reports it complete or the switch ends
// otherwise (aborted).
func runCommand(cmd *cobra.Command, m *topology.Mesh, path string, req *api.FailoverRequest, wait time.Duration, done func(*api.State) bool) error {
	c := api.NewClient(m, api.ClientOptions{Admin: true})
	ctx := cmd.Context()
	st, err := c.Command(ctx, path, req)
	if err != nil {
		return err
	}
	if st != nil && st.Switch != nil && wait > 0 {
		st, err = waitSwitch(ctx, c, st.Epoch, wait)
		if err != nil {
			return err
		}
	}
	if st == nil {
		return fmt.Errorf("the agent decided but returned no state")
	}
	if jsonOutput(cmd) {
		if err := writeJSON(cmd.OutOrStdout(), st); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "%s at epoch %d: %s\n%s\n", st.Decision, st.Epoch, st.Reason, st.String())
	}
	if st.Decision == api.DecisionSwitchAbort {
		return refusedf("planned switch aborted at epoch %d: %s", st.Epoch, st.Reason)
	}
	if st.Switch == nil && !done(st) {
		return fmt.Errorf("epoch %d (%s) does not give the requested roles", st.Epoch, st.Decision)
	}
	return nil
}

// waitSwitch polls until the state moves past the switchover-started one.
func waitSwitch(ctx context.Context, c *api.Client, started uint64, wait time.Duration) (*api.State, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		var fs api.FailoverStatus
		if _, err := c.Any(ctx, "GET", "/v1/failover", nil, &fs); err == nil && fs.State != nil && fs.State.Epoch > started && fs.State.Switch == nil {
			return fs.State, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("planned switch started at epoch %d did not complete within %s: %w", started, wait, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
