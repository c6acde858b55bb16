package main

import (
	"fmt"
	"os/signal"
	"syscall"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/local"
	"github.com/spf13/cobra"
)

func upCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "up [FILE] [--state-dir DIR]",
		Short: "Run a whole mesh in this process: embedded clusters and one agent per region",
		Long: `up starts an in-process Kafka cluster for every region whose kafka
section says embedded: true, on the addresses the file gives, and the first
agent of every region on its configured API and gossip addresses. Everything
runs until interrupted (Ctrl-C or SIGTERM), then stops gracefully. FILE
is a shorthand for -t FILE.

With an embedded control plane the mesh state (epoch and roles) is kept
in DIR: --state-dir, else the topology's control_plane.state_dir, else
$XDG_STATE_HOME/geomesh/MESH (~/.local/state/geomesh/MESH). It outlives
the run, so a failover still holds at the next up; the embedded
clusters keep their records in memory and start empty. Remove DIR to
start from the file's roles.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noJSON(cmd); err != nil {
				return err
			}
			files, err := topologyArgs(cmd, args)
			if err != nil {
				return err
			}
			m, err := loadTopology(cmd, files[0])
			if err != nil {
				return err
			}
			log, err := newLogger(cmd, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			// Empty: local's default, under $XDG_STATE_HOME.
			dir, err := stateDir(cmd, m, "")
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			mesh, err := local.Start(ctx, m, local.Options{Logger: log, Agent: agent.Config{ControlDir: dir}})
			if err != nil {
				return err
			}
			if d := mesh.StateDir(); d != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "mesh state in %s\n", d)
			}
			for _, c := range mesh.Clusters() {
				fmt.Fprintf(cmd.OutOrStdout(), "region %s: kafka on %v\n", c.Region(), c.Addrs())
			}
			for _, a := range mesh.Agents() {
				fmt.Fprintf(cmd.OutOrStdout(), "agent %s: http://%s/v1/status\n", a.ID(), a.APIAddr())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "mesh %s is up; Ctrl-C stops it\n", m.Name)
			<-ctx.Done()
			fmt.Fprintln(cmd.OutOrStdout(), "stopping")
			return mesh.Close()
		},
	}
	cmd.Flags().String("state-dir", "", stateDirFlag("$XDG_STATE_HOME/geomesh/<mesh>"))
	return cmd
}
