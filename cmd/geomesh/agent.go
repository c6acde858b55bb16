package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/internal/statedir"
	"github.com/spf13/cobra"
)

func agentCmd() *cobra.Command {
	var (
		region, id   string
		partitionLag bool
	)
	cmd := &cobra.Command{
		Use:   "agent --region REGION [--id AGENT] [--state-dir DIR]",
		Short: "Run one region's agent: replicate the flows that target the region",
		Long: `agent runs the flows of the topology whose target is REGION: it consumes
the remote source clusters and produces into the region's own cluster, and
serves /healthz, /readyz, /metrics, /v1/status, /v1/health and a status
page at / on the agent's API address (docs/metrics.md lists the metrics).
SIGTERM or Ctrl-C stops it gracefully: open transactions are finished or
aborted and its shards released within 10 s.

With an embedded control plane the agent keeps its node's share of the
mesh state in DIR/AGENT, DIR being --state-dir, else the topology's
control_plane.state_dir, else /var/lib/geomesh/MESH (the systemd unit's
state directory). It locks that directory while it runs: a second agent
given the same one stops at start, naming the first one's pid.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := noJSON(cmd); err != nil {
				return err
			}
			m, err := loadMesh(cmd)
			if err != nil {
				return err
			}
			if err := checkAgent(m, region, id); err != nil {
				return err
			}
			log, err := newLogger(cmd, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			dir, err := stateDir(cmd, m, statedir.Service(m.Name))
			if err != nil {
				return err
			}
			path, _ := topologyFile(cmd)
			source, _ := os.ReadFile(path) // read and validated just before: only for its digest
			a, err := agent.New(agent.Config{Mesh: m, Source: source, Region: region, AgentID: id, Logger: log, PartitionLagMetrics: partitionLag, ControlDir: dir})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if err := a.Start(ctx); err != nil {
				a.Close()
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "agent %s of region %s serving on http://%s\n", a.ID(), region, a.APIAddr())
			<-ctx.Done()
			return a.Close()
		},
	}
	cmd.Flags().StringVar(&region, "region", "", "region this agent serves (required)")
	cmd.Flags().StringVar(&id, "id", "", "agent id from the region's agents list (default: the first)")
	cmd.Flags().String("state-dir", "", stateDirFlag("/var/lib/geomesh/<mesh>"))
	cmd.Flags().BoolVar(&partitionLag, "partition-lag-metrics", false, "export replication lag and RPO per partition too (two series per copied partition)")
	_ = cmd.MarkFlagRequired("region")
	return cmd
}
