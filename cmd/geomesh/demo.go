package main

import (
	"context"
	"fmt"
	"io/fs"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/configs"
	"github.com/geomesh/geomesh/topology"
	"github.com/spf13/cobra"
)

func demoCmd() *cobra.Command {
	var (
		kind    string
		records int
		asJSON  bool
		fail    string
		logs    logFlags
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Replicate records across an example mesh on embedded clusters and check every one",
		Long: `demo runs one of the example topologies (` + strings.Join(exampleNames(), ", ") + `)
inside this process: an embedded Kafka cluster and an agent per region. It
produces records into every source region, waits until the agents have
replicated them to every region the plan sends them to, reads everything back
with read_committed and checks it record by record: lost, duplicated and
out-of-order copies, and the replication latency. It needs nothing but Go.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := loadExample(kind)
			if err != nil {
				return err
			}
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			res, err := agent.RunFailoverDemo(ctx, m, records, fail, log)
			if err != nil {
				return err
			}
			if asJSON {
				err = writeJSON(cmd.OutOrStdout(), res)
			} else {
				err = printDemo(cmd, res)
			}
			if err == nil && res.Lost+res.Duplicated+res.OutOfOrder > 0 {
				return exitError{"demo found lost, duplicated or out-of-order records"}
			}
			if err == nil && res.DemoFailover != nil && res.SplitBrain {
				return exitError{"demo saw two primaries at one epoch"}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&kind, "topology", "active-passive", "example topology: "+strings.Join(exampleNames(), ", "))
	cmd.Flags().IntVar(&records, "records", 1000, "records to produce into each source topic")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().StringVar(&fail, "fail-region", "", "after replication, stop this region's cluster and agent and report the failover (epoch, detection seconds, split brain); an active-passive primary fails under an application's load, returns and fails back")
	logs.register(cmd)
	logs.level = "warn"
	return cmd
}

func exampleNames() []string {
	names, _ := fs.Glob(configs.Examples, "examples/*.yaml")
	for i, n := range names {
		names[i] = strings.TrimSuffix(strings.TrimPrefix(n, "examples/"), ".yaml")
	}
	sort.Strings(names)
	return names
}

func loadExample(name string) (*topology.Mesh, error) {
	file := "examples/" + name + ".yaml"
	data, err := configs.Examples.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("unknown example topology %q (have %s)", name, strings.Join(exampleNames(), ", "))
	}
	return topology.Parse("configs/"+file, data)
}

func printDemo(cmd *cobra.Command, r *agent.DemoResult) error {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "mesh %s (%s)\n", r.Mesh, r.Topology)
	fmt.Fprintln(w, "REGION\tTOPIC\tPRODUCED\tEXPECTED\tRECEIVED")
	for _, rt := range r.Routes {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\n", rt.Region, rt.Topic, rt.Produced, rt.Expected, rt.Received)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(cmd.OutOrStdout(),
		"produced %d, replicated %d of %d copies: lost %d, duplicated %d, out of order %d; latency p50 %.0f ms, p99 %.0f ms; %.1f s\n",
		r.Produced, r.Replicated, r.Expected, r.Lost, r.Duplicated, r.OutOfOrder, r.P50LatencyMs, r.P99LatencyMs, r.Seconds)
	if err == nil && r.DemoFailover != nil {
		f := r.DemoFailover
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "failed %s at epoch %d: %s took over at epoch %d after %.1f s; split brain: %v\n",
			f.FailRegion, f.EpochBefore, f.NewPrimary, f.FailoverEpoch, f.DetectionSeconds, f.SplitBrain)
		if err == nil && f.FailedBack {
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "application: producing again after %.1f s; %d stranded (%d recovered); failed back at epoch %d; %d acknowledged, lost %d, duplicated %d\n",
				f.FailoverSeconds, f.Stranded, f.StrandedRecovered, f.EpochAfter, f.AppAcked, f.AppLost, f.AppDuplicated)
		}
	}
	return err
}
