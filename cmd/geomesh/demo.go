package main

import (
	"context"
	"fmt"
	"io/fs"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/configs"
	"github.com/geomesh/geomesh/topology"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// demoSummary is the machine-readable result of a demo run.
type demoSummary struct {
	Topology string           `json:"topology"`
	Mesh     string           `json:"mesh"`
	Flows    []topology.Flow  `json:"flows"`
	Topic    string           `json:"topic"`
	Produced int              `json:"produced"`
	Stored   map[string]int64 `json:"stored"`
	Seconds  float64          `json:"seconds"`
}

func demoCmd() *cobra.Command {
	var (
		kind    string
		records int
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a scripted scenario on embedded clusters",
		Long: `demo starts the embedded regions of one of the example topologies
(` + strings.Join(exampleNames(), ", ") + `) inside this process, produces records
into every source region and reads them back. It needs nothing but Go.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			sum, err := runDemo(ctx, kind, records)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), sum)
			}
			return printDemo(cmd, sum)
		},
	}
	cmd.Flags().StringVar(&kind, "topology", "active-passive", "example topology: "+strings.Join(exampleNames(), ", "))
	cmd.Flags().IntVar(&records, "records", 1000, "records to produce into each source region")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
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

// demoTopicFor picks the first literal topic name the mesh selects, so
// that the records the demo produces are ones the mesh replicates.
func demoTopicFor(m *topology.Mesh) string {
	for _, p := range m.Topics.Include {
		if regexp.QuoteMeta(p) == p {
			return p
		}
	}
	return "geomesh-demo"
}

func runDemo(ctx context.Context, kind string, records int) (*demoSummary, error) {
	if records < 1 {
		return nil, fmt.Errorf("--records must be at least 1, got %d", records)
	}
	start := time.Now()
	m, err := loadExample(kind)
	if err != nil {
		return nil, err
	}
	clusters := broker.EmbeddedFor(m)
	if err := broker.StartAll(ctx, clusters); err != nil {
		return nil, err
	}
	defer closeAll(clusters)

	flows := topology.Plan(m)
	sum := &demoSummary{Topology: kind, Mesh: m.Name, Flows: flows, Topic: demoTopicFor(m), Stored: map[string]int64{}}
	for _, src := range sourceRegions(flows) {
		r, _ := m.Region(src)
		n, err := produceAndCount(ctx, r, sum.Topic, records)
		if err != nil {
			return nil, err
		}
		sum.Produced += records
		sum.Stored[src] = n
	}
	sum.Seconds = time.Since(start).Seconds()
	return sum, nil
}

// sourceRegions lists every region that some flow reads from, once.
func sourceRegions(flows []topology.Flow) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range flows {
		if !seen[f.Source] {
			seen[f.Source] = true
			out = append(out, f.Source)
		}
	}
	return out
}

// produceAndCount writes records to the demo topic of a region and returns
// how many the region's cluster then holds, read back from its offsets.
func produceAndCount(ctx context.Context, r *topology.Region, topic string, records int) (int64, error) {
	cl, err := broker.NewClient(r.Name, r.Kafka, kgo.DefaultProduceTopic(topic))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		return 0, fmt.Errorf("region %s: create topic %s: %w", r.Name, topic, err)
	}
	batch := make([]*kgo.Record, records)
	for i := range batch {
		batch[i] = &kgo.Record{
			Key:   fmt.Appendf(nil, "%s-%d", r.Name, i%64),
			Value: fmt.Appendf(nil, "order %d from %s", i, r.Name),
		}
	}
	if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
		return 0, fmt.Errorf("region %s: produce to %s: %w", r.Name, topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("region %s: end offsets of %s: %w", r.Name, topic, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n, nil
}

func printDemo(cmd *cobra.Command, s *demoSummary) error {
	w := cmd.OutOrStdout()
	if err := printPlan(cmd, planOutput{Mesh: s.Mesh, Kind: s.Topology, Flows: s.Flows}); err != nil {
		return err
	}
	for _, src := range sourceRegions(s.Flows) {
		fmt.Fprintf(w, "region %s: produced %d records to %q, cluster holds %d\n", src, s.Produced/len(s.Stored), s.Topic, s.Stored[src])
	}
	fmt.Fprintf(w, "done in %.1fs\n", s.Seconds)
	return nil
}
