package main

import (
	"fmt"
	"os/signal"
	"syscall"

	"github.com/geomesh/geomesh/local"
	"github.com/spf13/cobra"
)

func upCmd() *cobra.Command {
	var logs logFlags
	cmd := &cobra.Command{
		Use:   "up FILE",
		Short: "Run a whole mesh in this process: embedded clusters and one agent per region",
		Long: `up starts an in-process Kafka cluster for every region whose kafka
section says embedded: true, on the addresses the file gives, and the first
agent of every region on its configured API and gossip addresses. Everything
runs until interrupted (Ctrl-C or SIGTERM), then stops gracefully.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := loadTopology(cmd, args[0])
			if err != nil {
				return err
			}
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			mesh, err := local.Start(ctx, m, local.Options{Logger: log})
			if err != nil {
				return err
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
	logs.register(cmd)
	return cmd
}
