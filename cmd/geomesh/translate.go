package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/mirror/offsets"
	"github.com/geomesh/geomesh/topology"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

type translateOutput struct {
	Group      string                `json:"group"`
	From       string                `json:"from"`
	To         string                `json:"to"`
	Applied    bool                  `json:"applied"`
	Partitions []offsets.Translation `json:"partitions"`
}

func translateCmd() *cobra.Command {
	var (
		file, group, from, to string
		asJSON, apply         bool
		timeout               time.Duration
	)
	cmd := &cobra.Command{
		Use:   "translate --topology FILE --group G --from R1 --to R2",
		Short: "Translate a consumer group's offsets from one region to another",
		Long: `translate reads the committed offsets of a consumer group in region R1
and translates each into the offset, in region R2, of the copy of the
first record at or after it, reading R2's cluster directly (no agent is
needed). The state column says what the offset means:

  copied  the offset of the copy of the first record at or after the
          source offset
  end     nothing at or after the source offset is copied yet; the next
          copy lands at or after the offset
  behind  the copier has not reached the source offset yet; try again

--apply commits the translated offsets in R2. It is refused while the
group has active members in R2, and when a partition cannot be translated
exactly yet.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := loadTopology(cmd, file)
			if err != nil {
				return err
			}
			flow, err := findFlow(m, from, to)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			out, err := translate(ctx, m, flow, group, apply)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			return printTranslation(cmd, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "topology", "", "topology file (required)")
	f.StringVar(&group, "group", "", "consumer group (required)")
	f.StringVar(&from, "from", "", "region whose committed offsets are translated (required)")
	f.StringVar(&to, "to", "", "region to translate into (required)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&apply, "apply", false, "commit the translated offsets in the target region")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	for _, name := range []string{"topology", "group", "from", "to"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// findFlow returns the flow that copies from one region to another.
func findFlow(m *topology.Mesh, from, to string) (topology.Flow, error) {
	var names []string
	for _, f := range topology.Plan(m) {
		if f.Source == from && f.Target == to {
			return f, nil
		}
		names = append(names, f.Source+"->"+f.Target)
	}
	return topology.Flow{}, fmt.Errorf("mesh %s copies nothing from %s to %s (flows: %v)", m.Name, from, to, names)
}

func translate(ctx context.Context, m *topology.Mesh, flow topology.Flow, group string, apply bool) (translateOutput, error) {
	out := translateOutput{Group: group, From: flow.Source, To: flow.Target}
	src, _ := m.Region(flow.Source)
	dst, _ := m.Region(flow.Target)
	srcCl, err := broker.NewClient(src.Name, src.Kafka)
	if err != nil {
		return out, err
	}
	defer srcCl.Close()
	dstCl, err := broker.NewClient(dst.Name, dst.Kafka)
	if err != nil {
		return out, err
	}
	defer dstCl.Close()
	tr := offsets.NewTranslator(offsets.Config{
		Flow: flow, Source: srcCl, Target: dstCl,
		NewTargetClient: mirror.RegionClients(dst.Name, dst.Kafka),
		Logger:          slog.New(slog.DiscardHandler),
	})
	tr.Start(ctx)
	defer tr.Close()
	if out.Partitions, err = tr.TranslateGroup(ctx, group); err != nil {
		return out, err
	}
	if len(out.Partitions) == 0 {
		return out, fmt.Errorf("group %s has no committed offsets in region %s for the topics the flow to %s copies", group, flow.Source, flow.Target)
	}
	if !apply {
		return out, nil
	}
	if err := applyTranslation(ctx, kadm.NewClient(dstCl), dst.Name, group, out.Partitions); err != nil {
		return out, err
	}
	out.Applied = true
	return out, nil
}

// applyTranslation commits the translated offsets unless the group is
// active in the target region or a partition has no exact answer.
func applyTranslation(ctx context.Context, adm *kadm.Client, region, group string, trs []offsets.Translation) error {
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("region %s: list groups: %w", region, err)
	}
	if g, ok := listed[group]; ok && g.State != "Empty" && g.State != "Dead" {
		return fmt.Errorf("group %s is active in region %s (state %s): stop its consumers there first, or translate without --apply", group, region, g.State)
	}
	commit := kadm.Offsets{}
	var problems []error
	for _, t := range trs {
		switch {
		case t.Error != "":
			problems = append(problems, fmt.Errorf("%s/%d: %s", t.Topic, t.Partition, t.Error))
		case t.State != offsets.Copied && t.State != offsets.End:
			problems = append(problems, fmt.Errorf("%s/%d: %s at source offset %d", t.Topic, t.Partition, t.State, t.SourceOffset))
		default:
			commit.Add(kadm.Offset{Topic: t.TargetTopic, Partition: t.Partition, At: t.TargetOffset, LeaderEpoch: -1})
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("not applied, %d partitions have no exact translation yet: %w", len(problems), errors.Join(problems...))
	}
	// The coordinator accepts this admin commit only while the group has
	// no members, so a consumer that joined since the listing makes it
	// fail rather than be overwritten.
	resp, err := adm.CommitOffsets(ctx, group, commit)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("region %s: commit offsets of group %s: %w", region, group, err)
	}
	return nil
}

func printTranslation(cmd *cobra.Command, out translateOutput) error {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "group %s, %s -> %s\n", out.Group, out.From, out.To)
	fmt.Fprintln(w, "TOPIC\tPARTITION\tSOURCE OFFSET\tTARGET TOPIC\tTARGET OFFSET\tSTATE")
	for _, t := range out.Partitions {
		state, offset := string(t.State), fmt.Sprint(t.TargetOffset)
		if t.Error != "" {
			state, offset = "error: "+t.Error, "-"
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\n", t.Topic, t.Partition, t.SourceOffset, t.TargetTopic, offset, state)
	}
	if out.Applied {
		fmt.Fprintf(w, "committed in %s\n", out.To)
	}
	return w.Flush()
}
