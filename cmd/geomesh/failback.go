package main

import (
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
	"github.com/spf13/cobra"
)

func failbackCmd() *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "failback",
		Short: "Move writes back to the topology file's primary (or hub) with a planned switch",
		Long: `failback is a planned switch back to the region the topology file names as
primary (hub): producers pause, replication to it drains to zero, the epoch
flips, flows reverse and producers resume, with nothing lost. The old primary
must have rejoined as a standby. It waits for the flip (up to --wait).
It exits 3 when the mesh refuses the request or aborts the switch.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := loadMesh(cmd)
			if err != nil {
				return err
			}
			home := m.Roles.Primary
			if m.Kind == topology.KindHubSpoke {
				home = m.Roles.Hub
			}
			return runCommand(cmd, m, "/v1/failback", nil, wait, func(s *api.State) bool {
				return home == "" || s.Role(home) == api.RolePrimary || s.Role(home) == api.RoleHub
			})
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 3*time.Minute, "how long to wait for the switch to complete (0: do not wait)")
	return cmd
}
