package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/configs"
	"github.com/geomesh/geomesh/local/demo"
	"github.com/geomesh/geomesh/topology"
	"github.com/spf13/cobra"
)

func demoCmd() *cobra.Command {
	var (
		example string
		records int
		fail    string
	)
	cmd := &cobra.Command{
		Use:   "demo [--example NAME] [--records N] [--fail-region REGION]",
		Short: "Replicate records across a mesh on embedded clusters and check every one",
		Long: `demo runs the topology file of -t or $GEOMESH_TOPOLOGY, or one of the
built-in examples (--example ` + strings.Join(exampleNames(), ", ") + `; active-passive
when no file is given), inside this process: an embedded Kafka cluster and
an agent per region, on free loopback ports. Every data region of a file
must say kafka: {embedded: true} and its control plane must be embedded:
the demo creates topics, writes records and stops regions. It
produces records into every source region, waits until the agents have
replicated them to every region the plan sends them to, reads everything back
with read_committed and checks it record by record: lost, duplicated and
out-of-order copies, and the replication latency. Where the topology's flows
select consumer groups, it commits a group in the middle of every source
partition and checks that group offset sync moves it, on every target, onto
the copies of those records; a group not moved in 30 s fails the demo. It
needs nothing but Go.

With --fail-region it then stops that region's cluster and agent and reports
what the topology does: a primary's standby, a hub's standby hub is promoted;
an active-active region is evacuated, its clients moved to another active
region; a standby, a spoke or a witness is failed over to nobody (a spoke's
feed to the hub stops until it returns). From before the failure to the end
it samples what every running agent acts on and judges split brain for the
topology kind: more than one primary or hub, a region taking writes that the
quorum's state does not list as a writer, two writer sets at one epoch. It
exits 1 on split brain, as on a lost or duplicated record. Its logs are at
level warn unless --log-level is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := demoMesh(cmd, example)
			if err != nil {
				return err
			}
			if fail != "" {
				if err := checkRegion(m, fail); err != nil {
					return err
				}
			}
			log, err := newLoggerAt(cmd, cmd.ErrOrStderr(), "warn")
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			res, err := demo.RunFailover(ctx, m, records, fail, log)
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				err = writeJSON(cmd.OutOrStdout(), res)
			} else {
				err = printDemo(cmd, res)
			}
			if err == nil && res.Lost+res.Duplicated+res.OutOfOrder > 0 {
				return exitError{"demo found lost, duplicated or out-of-order records"}
			}
			if err == nil && res.GroupsNotSynced() > 0 {
				return exitError{"demo found consumer group offsets that group sync did not move to the target"}
			}
			if err == nil && res.Failover != nil && res.SplitBrain {
				return exitError{"demo found split brain: " + strings.Join(res.SplitBrainFindings, "; ")}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&example, "example", "", "built-in example topology instead of a file: "+strings.Join(exampleNames(), ", ")+" (default active-passive when no file is given)")
	cmd.Flags().IntVar(&records, "records", 1000, "records to produce into each source topic")
	cmd.Flags().StringVar(&fail, "fail-region", "", "after replication, stop this region's cluster and agent and report what the mesh does: who takes over its role at which epoch, or why nobody does (a standby, a spoke, a witness), the writers after it and whether any two regions took writes the topology allows only one of (split brain); an active-passive primary fails under an application's load, returns and fails back")
	return cmd
}

// demoMesh is the mesh the demo runs: the built-in example, if given,
// else the topology file, else the active-passive example. A file must
// run on embedded clusters and an embedded control plane alone.
func demoMesh(cmd *cobra.Command, example string) (*topology.Mesh, error) {
	given := cmd.Flags().Changed("topology")
	if example != "" && given {
		return nil, usageErrorf("demo runs either a file (-t) or a built-in example (--example), not both")
	}
	if example != "" {
		return loadExample(example)
	}
	path, err := topologyFile(cmd)
	if err != nil && !given {
		return loadExample("active-passive")
	}
	if err != nil {
		return nil, err
	}
	if _, statErr := os.Stat(path); statErr != nil && slices.Contains(exampleNames(), path) {
		return nil, usageErrorf("no topology file %s: -t names a file; for the built-in example say --example %s", path, path)
	}
	m, err := loadTopology(cmd, path)
	if err != nil {
		return nil, err
	}
	for _, r := range m.Regions {
		if r.Kafka != nil && !r.Kafka.Embedded {
			return nil, usageErrorf("demo runs on embedded clusters only, and %s's region %s has kafka without embedded: true: the demo creates topics, writes records and stops regions", path, r.Name)
		}
	}
	if !m.ControlPlane.Embedded {
		return nil, usageErrorf("demo runs on an embedded control plane only, and %s names an external one: the demo would write its epochs there", path)
	}
	return m, nil
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
		return nil, usageErrorf("unknown example topology %q (have %s)", name, strings.Join(exampleNames(), ", "))
	}
	return topology.Parse("configs/"+file, data)
}

func printDemo(cmd *cobra.Command, r *demo.Result) error {
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
	for _, g := range r.GroupSync {
		if err == nil {
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "group offset sync: group %s committed in %s on %s, %d of %d partitions synced to %s at the copies of the committed records after %.1f s%s\n",
				g.Group, g.Source, g.Topic, g.Synced, g.Partitions, g.Target, g.Seconds, suffix(g.Error))
		}
	}
	if err == nil && len(r.GroupSync) == 0 {
		_, err = fmt.Fprintln(cmd.OutOrStdout(), "group offset sync: no flow of this topology selects consumer groups")
	}
	if err == nil && r.Failover != nil {
		err = printFailover(cmd.OutOrStdout(), r.Failover)
	}
	return err
}

// printFailover says what failed, what the mesh did about it (who took
// over, or why nobody does), the writers after it and the split-brain
// verdict.
func printFailover(w io.Writer, f *demo.Failover) error {
	writers := func(ws []string) string {
		if len(ws) == 0 {
			return "none"
		}
		return strings.Join(ws, ", ")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "failed %s (%s) at epoch %d, writers %s: ", f.FailRegion, f.Role, f.EpochBefore, writers(f.WritersBefore))
	switch f.Decision {
	case api.DecisionEvacuate:
		fmt.Fprintf(&b, "evacuated at epoch %d after %.1f s, its clients now served by %s", f.FailoverEpoch, f.DetectionSeconds, f.TakenOverBy)
	case "":
		fmt.Fprintf(&b, "no failover after %.1f s: %s", f.DetectionSeconds, f.NoFailover)
		if len(f.StoppedFeeds) > 0 {
			fmt.Fprintf(&b, "; stopped feeds: %s", strings.Join(f.StoppedFeeds, ", "))
		}
	default:
		fmt.Fprintf(&b, "%s promoted (%s) at epoch %d after %.1f s", f.TakenOverBy, f.Decision, f.FailoverEpoch, f.DetectionSeconds)
		if len(f.FedBy) > 0 {
			fmt.Fprintf(&b, "; %s now feed %s", strings.Join(f.FedBy, ", "), f.TakenOverBy)
		}
	}
	fmt.Fprintf(&b, "\n")
	if f.FailedBack {
		aborts := ""
		if f.FailbackAborts > 0 {
			aborts = fmt.Sprintf(" (the mesh aborted %d switch back and the demo asked again)", f.FailbackAborts)
		}
		fmt.Fprintf(&b, "application: producing again after %.1f s; %d stranded (%d recovered); failed back at epoch %d%s; %d acknowledged, lost %d, duplicated %d\n",
			f.FailoverSeconds, f.Stranded, f.StrandedRecovered, f.EpochAfter, aborts, f.AppAcked, f.AppLost, f.AppDuplicated)
	}
	if g := f.AppGroup; g != nil {
		fmt.Fprintf(&b, "application group %s when %s stopped: %d of %d partitions synced to %s, %d offsets behind its last commit in %s (copies it reads again there and drops, with those of what it read after that commit)%s\n",
			g.Group, f.FailRegion, g.Synced, g.Partitions, g.Target, g.Behind, f.FailRegion, suffix(g.Error))
	}
	fmt.Fprintf(&b, "epoch %d, writers %s; split brain: %v (%d samples of every running agent)\n", f.EpochAfter, writers(f.Writers), f.SplitBrain, f.Samples)
	for _, x := range f.SplitBrainFindings {
		fmt.Fprintf(&b, "  split brain: %s\n", x)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// suffix renders an error after a sentence, or nothing.
func suffix(err string) string {
	if err == "" {
		return ""
	}
	return ": " + err
}
