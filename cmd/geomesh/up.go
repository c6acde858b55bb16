package main

import (
	"fmt"
	"os/signal"
	"syscall"

	"github.com/geomesh/geomesh/broker"
	"github.com/spf13/cobra"
)

func upCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "up FILE",
		Short: "Run every embedded region of a topology file in this process",
		Long: `up starts an in-process Kafka cluster for every region whose kafka
section says embedded: true, on the addresses the file gives, and keeps them
running until interrupted (Ctrl-C or SIGTERM).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := loadTopology(cmd, args[0])
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			clusters := broker.EmbeddedFor(m)
			if len(clusters) == 0 {
				return fmt.Errorf("%s: no region has an embedded kafka cluster", args[0])
			}
			if err := broker.StartAll(ctx, clusters); err != nil {
				return err
			}
			defer closeAll(clusters)
			for _, c := range clusters {
				fmt.Fprintf(cmd.OutOrStdout(), "region %s: kafka on %v\n", c.Region(), c.Addrs())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "mesh %s is up; Ctrl-C stops it\n", m.Name)
			<-ctx.Done()
			fmt.Fprintln(cmd.OutOrStdout(), "stopping")
			return nil
		},
	}
}

func closeAll(clusters []*broker.Embedded) {
	for _, c := range clusters {
		c.Close()
	}
}
