package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/mirror/offsets"
	"github.com/geomesh/geomesh/topology"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// translateOutput is what translate --json prints (docs/cli.md).
type translateOutput struct {
	Group string `json:"group"`
	From  string `json:"from"`
	To    string `json:"to"`
	// Exact is true when the source answered: Partitions translate the
	// group's committed offsets there. False: the source did not answer
	// (SourceError says how), and Held is what the target holds.
	Exact       bool   `json:"exact"`
	SourceError string `json:"source_error,omitempty"`
	// NewestCopy is when the newest record copied from the source was
	// written there (offsets.Held.NewestCopy); only without the source.
	NewestCopy time.Time               `json:"newest_copy,omitzero"`
	Partitions []exactPartition        `json:"partitions,omitempty"`
	Held       []offsets.HeldPartition `json:"held,omitempty"`
	// NotMirrored are the group's offsets in the source on topics the
	// flow does not copy: nothing to translate, listed so that no
	// partition of the group goes unmentioned.
	NotMirrored []notMirroredPartition `json:"not_mirrored,omitempty"`
	Applied     bool                   `json:"applied"`
	// NotApplied says why --apply committed nothing without the source.
	NotApplied string `json:"not_applied,omitempty"`
}

// exactPartition is one partition's translation, with the group's offset
// in the target region when the command ran.
type exactPartition struct {
	offsets.Translation
	// Committed is the group's offset in the target region before any
	// --apply, -1 when it has none.
	Committed int64 `json:"committed_offset"`
	// SourceEnd is the end of the source partition when State is
	// past-end: the group's offset lies beyond it.
	SourceEnd *int64 `json:"source_end,omitempty"`
}

// pastEnd is the state of a partition whose group offset in the source
// lies past the partition's end (a commit of an offset never written):
// the copier never gets there, so the translation would stay behind for
// good. It has no target offset. A consumer of the group in the source
// gets OFFSET_OUT_OF_RANGE there and resets by its auto.offset.reset.
const pastEnd offsets.State = "past-end"

// notMirrored is the state of a partition of a topic the flow does not
// copy.
const notMirrored offsets.State = "not-mirrored"

// notMirroredPartition is the group's offset in the source on a topic
// the flow does not copy.
type notMirroredPartition struct {
	Topic        string        `json:"topic"`
	Partition    int32         `json:"partition"`
	SourceOffset int64         `json:"source_offset"`
	State        offsets.State `json:"state"`
}

type translateOptions struct {
	group          string
	apply          bool
	allowBackwards bool
	// sourceTimeout bounds the wait for the source's answer; past it the
	// source counts as unreachable.
	sourceTimeout time.Duration
}

func translateCmd() *cobra.Command {
	var (
		from, to string
		timeout  time.Duration
		opts     translateOptions
	)
	cmd := &cobra.Command{
		Use:   "translate --group G --from R1 --to R2",
		Short: "Translate a consumer group's offsets from one region to another",
		Long: `translate reads the committed offsets of a consumer group in region R1
and translates each into the offset, in region R2, of the copy of the
first record at or after it, reading both regions' clusters directly (no
agent is needed). The state column says what the offset means:

  copied        the offset of the copy of the first record at or after the
                source offset
  end           nothing at or after the source offset is copied yet; the
                next copy lands at or after the offset
  behind        the copier has not reached the source offset yet; try again
  truncated     no copy at or after the source offset is left in R2
                (retention or DeleteRecords deleted them, or the topic was
                recreated); the offset is where a consumer resumes with
                what is left
  past-end      the source offset is past the end of the partition in R1
                (the state shows the end): the group committed an offset
                never written. There is nothing to translate and no target
                offset; the group's consumers in R1 reset by their
                auto.offset.reset
  not-mirrored  the flow from R1 to R2 does not copy the topic: R2 has no
                copies of it, nothing to translate

COMMITTED is the group's offset in R2 now: the agents' group sync commits
the translation there every second while the group is idle in R2.

--apply commits the translated offsets in R2. It is refused while the
group has active members in R2, when a partition cannot be translated
exactly yet, and when it would move a partition back from the group's
offset in R2 (the group consumed in R2 since, or was reset in R1), unless
--allow-backwards.

When R1 does not answer within --source-timeout (the region is lost),
the group's offsets there cannot be read. translate then answers from
what R2 holds, says so, and exits 5:

  synced     TARGET OFFSET is the group's offset in R2, committed by group
             sync while R1 still answered; SOURCE OFFSET is the offset in
             R1 of the first record a consumer resuming there reads. The
             group may have read further in R1 after its last sync: AT
             MOST REPEATED bounds the copies past the offset that it then
             reads again. None is skipped.
  unsynced   R2 holds copies of the partition but no offset of the group;
             its consumers start there at their auto.offset.reset

COPIED TO is how far replication from R1 got, and the newest copy says
when R1 last wrote a record R2 received (R1's agents write a heartbeat
every second, so that is about when replication stopped). --apply then
commits nothing: the offsets shown are the group's in R2 already.

Exit status: 0 every copied partition translated (and applied); 1 a
partition failed or is past-end, or another failure; 3 --apply refused
(the group is active in R2, or it would move back); 4 no region R1 or R2,
no flow between them, or no offsets of the group in R1; 5 a partition is
behind, or the answer is from R2 alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := loadMesh(cmd)
			if err != nil {
				return err
			}
			flow, err := findFlow(m, from, to)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			out, err := translate(ctx, m, flow, opts)
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				err = writeJSON(cmd.OutOrStdout(), out)
			} else {
				err = printTranslation(cmd.OutOrStdout(), out)
			}
			if err != nil {
				return err
			}
			return translateStatus(out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.group, "group", "", "consumer group (required)")
	f.StringVar(&from, "from", "", "region whose committed offsets are translated (required)")
	f.StringVar(&to, "to", "", "region to translate into (required)")
	f.BoolVar(&opts.apply, "apply", false, "commit the translated offsets in the target region")
	f.BoolVar(&opts.allowBackwards, "allow-backwards", false, "with --apply, also move partitions back from the group's offset in the target region")
	f.DurationVar(&opts.sourceTimeout, "source-timeout", 10*time.Second, "answer from the target region alone if the source region has not answered after this long")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	for _, name := range []string{"group", "from", "to"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// findFlow returns the flow that copies from one region to another.
func findFlow(m *topology.Mesh, from, to string) (topology.Flow, error) {
	for _, r := range []string{from, to} {
		if err := checkRegion(m, r); err != nil {
			return topology.Flow{}, err
		}
	}
	var names []string
	for _, f := range topology.Plan(m) {
		if f.Source == from && f.Target == to {
			return f, nil
		}
		names = append(names, f.Source+"->"+f.Target)
	}
	return topology.Flow{}, notFoundf("mesh %s copies nothing from %s to %s (flows: %v)", m.Name, from, to, names)
}

// translateStatus is the exit status of a translation that was printed:
// nil when every partition of the flow has an exact answer.
func translateStatus(out translateOutput) error {
	if !out.Exact {
		return exitStatus{code: exitBehind, err: fmt.Errorf("region %s did not answer: the offsets shown are what region %s holds", out.From, out.To)}
	}
	failed, past, behind := countProblems(out.Partitions)
	var msgs []string
	if failed > 0 {
		msgs = append(msgs, fmt.Sprintf("%s could not be translated", plural(failed, "partition")))
	}
	if past > 0 {
		msgs = append(msgs, fmt.Sprintf("group %s is committed past the end of %s in region %s (past-end)", out.Group, plural(past, "partition"), out.From))
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	if behind > 0 {
		return exitStatus{code: exitBehind, err: fmt.Errorf("%s behind: the copier has not reached the group's offsets in region %s yet; try again", plural(behind, "partition"), out.From)}
	}
	return nil
}

// countProblems counts the partitions without an exact answer: failed,
// past the source's end, and behind.
func countProblems(parts []exactPartition) (failed, past, behind int) {
	for _, p := range parts {
		switch {
		case p.Error != "":
			failed++
		case p.State == pastEnd:
			past++
		case p.State == offsets.Behind:
			behind++
		}
	}
	return failed, past, behind
}

func translate(ctx context.Context, m *topology.Mesh, flow topology.Flow, opts translateOptions) (translateOutput, error) {
	out := translateOutput{Group: opts.group, From: flow.Source, To: flow.Target}
	src, _ := m.Region(flow.Source)
	dst, _ := m.Region(flow.Target)
	// A source that is down must not hold the answer up: dials fail after
	// the source timeout, not kgo's default of 10 s each.
	srcCl, err := broker.NewClient(src.Name, src.Kafka, kgo.DialTimeout(opts.sourceTimeout))
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
	dstAdm := kadm.NewClient(dstCl)
	srcAdm := kadm.NewClient(srcCl)

	sctx, cancel := context.WithTimeout(ctx, opts.sourceTimeout)
	reqs, others, err := groupOffsets(sctx, srcAdm, flow, opts.group)
	cancel()
	switch {
	case err == nil:
	case errors.Is(err, kerr.GroupIDNotFound):
		return out, notFoundf("group %s has no committed offsets in region %s", opts.group, flow.Source)
	case ctx.Err() == nil && unreachable(err):
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", opts.sourceTimeout, err)
		}
		return held(ctx, tr, out, opts, err)
	default:
		return out, err
	}
	out.NotMirrored = others
	if len(reqs) == 0 {
		if len(others) > 0 {
			return out, notFoundf("group %s has no committed offsets in region %s for the topics the flow to %s copies: its offsets there are on %s, which the flow does not copy (not-mirrored)",
				opts.group, flow.Source, flow.Target, strings.Join(topicsOf(others), ", "))
		}
		return out, notFoundf("group %s has no committed offsets in region %s for the topics the flow to %s copies", opts.group, flow.Source, flow.Target)
	}
	trs, err := tr.Translate(ctx, reqs)
	if err != nil {
		return out, err
	}
	committed, err := dstAdm.FetchOffsets(ctx, opts.group)
	if err == nil {
		err = committed.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		committed, err = nil, nil // the group never committed in the target region
	}
	if err != nil {
		return out, fmt.Errorf("region %s: offsets of group %s: %w", dst.Name, opts.group, err)
	}
	out.Exact = true
	for _, t := range trs {
		p := exactPartition{Translation: t, Committed: -1}
		if o, ok := committed.Lookup(t.TargetTopic, t.Partition); ok && o.Err == nil && o.At >= 0 {
			p.Committed = o.At
		}
		out.Partitions = append(out.Partitions, p)
	}
	markPastEnd(ctx, srcAdm, out.Partitions)
	if !opts.apply {
		return out, nil
	}
	if err := applyTranslation(ctx, dstAdm, dst.Name, opts.group, out.Partitions, opts.allowBackwards); err != nil {
		return out, err
	}
	out.Applied = true
	return out, nil
}

// groupOffsets returns the group's committed offsets in the flow's source:
// those on topics the flow copies, to translate, and the others, sorted
// by topic and partition.
func groupOffsets(ctx context.Context, adm *kadm.Client, flow topology.Flow, group string) ([]offsets.Request, []notMirroredPartition, error) {
	resps, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cluster %s: offsets of group %s: %w", flow.Source, group, err)
	}
	var reqs []offsets.Request
	var others []notMirroredPartition
	for _, o := range resps.Sorted() {
		switch {
		case o.At < 0:
		case flow.Selects(o.Topic):
			reqs = append(reqs, offsets.Request{Topic: o.Topic, Partition: o.Partition, Offset: o.At})
		default:
			others = append(others, notMirroredPartition{Topic: o.Topic, Partition: o.Partition, SourceOffset: o.At, State: notMirrored})
		}
	}
	return reqs, others, nil
}

func topicsOf(ps []notMirroredPartition) []string {
	var topics []string
	for _, p := range ps {
		if !slices.Contains(topics, p.Topic) {
			topics = append(topics, p.Topic)
		}
	}
	return topics
}

// markPastEnd tells, among the partitions behind, those whose group
// offset lies past the source partition's end: the copier never reaches
// them. They get state past-end, the end, and no target offset. When the
// source's ends cannot be read they stay behind.
func markPastEnd(ctx context.Context, src *kadm.Client, parts []exactPartition) {
	var topics []string
	for _, p := range parts {
		if p.Error == "" && p.State == offsets.Behind && !slices.Contains(topics, p.Topic) {
			topics = append(topics, p.Topic)
		}
	}
	if len(topics) == 0 {
		return
	}
	ends, err := src.ListEndOffsets(ctx, topics...)
	if err != nil {
		return
	}
	for i := range parts {
		p := &parts[i]
		if p.Error != "" || p.State != offsets.Behind {
			continue
		}
		if o, ok := ends.Lookup(p.Topic, p.Partition); ok && o.Err == nil && p.SourceOffset > o.Offset {
			end := o.Offset
			p.State, p.TargetOffset, p.OriginOffset, p.SourceEnd = pastEnd, -1, -1, &end
		}
	}
}

// unreachable tells a source that did not answer (no connection, or no
// answer in time, or a coordinator that stays unavailable) from one that
// answered with an error that waiting does not change, such as a denied
// authorization: only the first leaves the target's view as the best
// there is.
func unreachable(err error) bool {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Retriable
	}
	return true
}

// held fills out from what the target holds, for a source that did not
// answer; --apply commits nothing then.
func held(ctx context.Context, tr *offsets.Translator, out translateOutput, opts translateOptions, srcErr error) (translateOutput, error) {
	out.SourceError = srcErr.Error()
	h, err := tr.Held(ctx, opts.group)
	if err != nil {
		return out, fmt.Errorf("region %s: %v; and region %s cannot be read either: %w", out.From, srcErr, out.To, err)
	}
	if len(h.Partitions) == 0 {
		return out, fmt.Errorf("region %s: %v; and region %s holds no offsets of group %s for the topics copied from %s: group sync never committed them there (does the topology's groups select it?)",
			out.From, srcErr, out.To, opts.group, out.From)
	}
	out.Held, out.NewestCopy = h.Partitions, h.NewestCopy
	if opts.apply {
		out.NotApplied = fmt.Sprintf("without region %s there is nothing to translate: the offsets shown are the group's in region %s already", out.From, out.To)
	}
	return out, nil
}

// applyTranslation commits the translated offsets unless the group is
// active in the target region, a partition has no exact answer, or a
// partition would move back from the group's offset there without
// allowBackwards.
func applyTranslation(ctx context.Context, adm *kadm.Client, region, group string, parts []exactPartition, allowBackwards bool) error {
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("region %s: list groups: %w", region, err)
	}
	if g, ok := listed[group]; ok && g.State != "Empty" && g.State != "Dead" {
		return refusedf("group %s is active in region %s (state %s): stop its consumers there first, or translate without --apply", group, region, g.State)
	}
	commit := kadm.Offsets{}
	var problems, backwards []error
	for _, p := range parts {
		t := p.Translation
		switch {
		case t.Error != "":
			problems = append(problems, fmt.Errorf("%s/%d: %s", t.Topic, t.Partition, t.Error))
		case t.State != offsets.Copied && t.State != offsets.End:
			problems = append(problems, fmt.Errorf("%s/%d: %s at source offset %d", t.Topic, t.Partition, t.State, t.SourceOffset))
		case t.TargetOffset < p.Committed && !allowBackwards:
			backwards = append(backwards, fmt.Errorf("%s/%d: from %d to %d", t.TargetTopic, t.Partition, p.Committed, t.TargetOffset))
		default:
			commit.Add(kadm.Offset{Topic: t.TargetTopic, Partition: t.Partition, At: t.TargetOffset, LeaderEpoch: -1})
		}
	}
	if len(problems) > 0 {
		err := fmt.Errorf("not applied, %d partitions have no exact translation yet: %w", len(problems), errors.Join(problems...))
		if failed, past, _ := countProblems(parts); failed+past == 0 {
			return exitStatus{code: exitBehind, err: err}
		}
		return err
	}
	if len(backwards) > 0 {
		return refusedf("not applied: it would move %d partitions of group %s in region %s back, so that records it consumed there since, or after a reset in the source, are read again; --allow-backwards if that is what you want: %w",
			len(backwards), group, region, errors.Join(backwards...))
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

func printTranslation(w io.Writer, out translateOutput) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if !out.Exact {
		printHeld(tw, out)
		return tw.Flush()
	}
	fmt.Fprintf(tw, "group %s, %s -> %s\n", out.Group, out.From, out.To)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tSOURCE OFFSET\tTARGET TOPIC\tTARGET OFFSET\tCOMMITTED\tSTATE")
	for _, p := range out.Partitions {
		t := p.Translation
		state, offset := string(t.State), fmt.Sprint(t.TargetOffset)
		switch {
		case t.Error != "":
			state, offset = "error: "+t.Error, "-"
		case t.State == pastEnd && p.SourceEnd != nil:
			state, offset = fmt.Sprintf("%s (source end %d)", t.State, *p.SourceEnd), "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", t.Topic, t.Partition, t.SourceOffset, t.TargetTopic, offset, offsetOrDash(p.Committed), state)
	}
	for _, p := range out.NotMirrored {
		fmt.Fprintf(tw, "%s\t%d\t%d\t-\t-\t-\t%s\n", p.Topic, p.Partition, p.SourceOffset, p.State)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if _, past, _ := countProblems(out.Partitions); past > 0 {
		fmt.Fprintf(w, "past-end: the group's offset in %s is past the partition's end there, an offset never written: nothing to translate; its consumers there reset by their auto.offset.reset\n", out.From)
	}
	if len(out.NotMirrored) > 0 {
		fmt.Fprintf(w, "not-mirrored: the flow %s -> %s does not copy %s (the topology's topics selection): no copies in %s, nothing to translate\n",
			out.From, out.To, strings.Join(topicsOf(out.NotMirrored), ", "), out.To)
	}
	if out.Applied {
		fmt.Fprintf(w, "committed in %s\n", out.To)
	}
	return nil
}

func printHeld(w io.Writer, out translateOutput) {
	fmt.Fprintf(w, "group %s, %s -> %s: region %s did not answer (%s)\n", out.Group, out.From, out.To, out.From, out.SourceError)
	fmt.Fprintf(w, "answered from what region %s holds: the group's offsets there as group sync last committed them, not a translation of its offsets in %s now\n", out.To, out.From)
	if out.NewestCopy.IsZero() {
		fmt.Fprintf(w, "newest copy from %s: none\n", out.From)
	} else {
		fmt.Fprintf(w, "newest copy from %s: written %s (%s ago)\n", out.From, out.NewestCopy.UTC().Format(time.RFC3339), time.Since(out.NewestCopy).Round(time.Second))
	}
	fmt.Fprintln(w, "TOPIC\tPARTITION\tTARGET TOPIC\tTARGET OFFSET\tSOURCE OFFSET\tCOPIED TO\tAT MOST REPEATED\tSTATE")
	for _, p := range out.Held {
		state := string(p.State)
		if p.Error != "" {
			state += ", error: " + p.Error
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Topic, p.Partition, p.TargetTopic,
			offsetOrDash(p.TargetOffset), offsetOrDash(p.SourceOffset), offsetOrDash(p.CopiedTo), offsetOrDash(p.AtMostRepeated), state)
	}
	if out.NotApplied != "" {
		fmt.Fprintf(w, "not applied: %s\n", out.NotApplied)
	}
}

func offsetOrDash(o int64) string {
	if o < 0 {
		return "-"
	}
	return fmt.Sprint(o)
}
