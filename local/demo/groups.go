package demo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/local"
	"github.com/geomesh/geomesh/mirror"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// demoGroup is the consumer group the demo commits in every source region
// whose flows select groups, to watch group offset sync move it.
const demoGroup = "geomesh-demo"

// GroupSync is what group offset sync did with a group the demo
// committed on a flow's source.
type GroupSync struct {
	Group  string `json:"group"`
	Source string `json:"source"`
	Target string `json:"target"`
	Topic  string `json:"topic"`
	// Partitions the group committed on the source, each in its middle;
	// Synced how many of them the target's group holds at exactly the
	// copy of the record the group reads next (checked by the copy's
	// provenance headers).
	Partitions int `json:"partitions"`
	Synced     int `json:"synced"`
	// Seconds from the commit on the source until every partition was
	// synced, or until the demo gave up.
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// demoGroupSync commits demoGroup in the middle of every partition of a
// source topic of each flow that selects it and waits until the target
// holds the group at the copies of those records. A flow that does not
// get there in time is reported, not returned as an error.
func demoGroupSync(ctx context.Context, m *topology.Mesh, sources map[place]bool) ([]GroupSync, error) {
	var out []GroupSync
	committed := map[place]map[int32]int64{}
	for _, f := range topology.Plan(m) {
		if !f.Groups.Match(demoGroup) {
			continue
		}
		for _, p := range sortedPlaces(sources) {
			if p.region != f.Source || !f.Selects(p.topic) {
				continue
			}
			at, ok := committed[p]
			if !ok {
				var err error
				if at, err = commitMiddle(ctx, m, p); err != nil {
					return nil, err
				}
				committed[p] = at
			}
			out = append(out, waitGroupSynced(ctx, m, f, p, at, 30*time.Second))
			break
		}
	}
	return out, nil
}

// commitMiddle commits demoGroup in the middle of every partition of p.
func commitMiddle(ctx context.Context, m *topology.Mesh, p place) (map[int32]int64, error) {
	cl, err := regionClient(m, p.region)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, p.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("region %s: end offsets of %s: %w", p.region, p.topic, err)
	}
	at := map[int32]int64{}
	offs := kadm.Offsets{}
	ends.Each(func(o kadm.ListedOffset) {
		at[o.Partition] = o.Offset / 2
		offs.AddOffset(p.topic, o.Partition, o.Offset/2, -1)
	})
	if err := adm.CommitAllOffsets(ctx, demoGroup, offs); err != nil {
		return nil, fmt.Errorf("region %s: commit group %s: %w", p.region, demoGroup, err)
	}
	return at, nil
}

// waitGroupSynced polls the target of flow f until demoGroup sits, in
// every partition of p's copy, at the copy of the source record at.
func waitGroupSynced(ctx context.Context, m *topology.Mesh, f topology.Flow, p place, at map[int32]int64, timeout time.Duration) GroupSync {
	res := GroupSync{Group: demoGroup, Source: f.Source, Target: f.Target, Topic: p.topic, Partitions: len(at)}
	start := time.Now()
	err := pollUntil(ctx, timeout, func() error {
		n, err := groupAtCopies(ctx, m, f, p.topic, at)
		res.Synced = n
		if err == nil && n < len(at) {
			err = fmt.Errorf("%d of %d partitions synced", n, len(at))
		}
		return err
	})
	res.Seconds = time.Since(start).Seconds()
	if err != nil {
		res.Error = fmt.Sprintf("group %s from %s to %s: %v", demoGroup, f.Source, f.Target, err)
	}
	return res
}

// groupAtCopies counts the partitions in which the target's demoGroup
// offset is that of the copy of the source record at[partition].
func groupAtCopies(ctx context.Context, m *topology.Mesh, f topology.Flow, topic string, at map[int32]int64) (int, error) {
	target := f.TargetTopic(topic)
	cl, err := regionClient(m, f.Target)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	have, err := kadm.NewClient(cl).FetchOffsets(ctx, demoGroup)
	if err != nil {
		return 0, fmt.Errorf("region %s: offsets of group %s: %w", f.Target, demoGroup, err)
	}
	n := 0
	for p, src := range at {
		o, ok := have.Lookup(target, p)
		if !ok || o.Err != nil || o.At < 0 {
			continue
		}
		origin, err := copyOrigin(ctx, m, f.Target, target, p, o.At)
		if err != nil {
			return n, err
		}
		if origin != src {
			return n, fmt.Errorf("region %s: group %s at %s/%d offset %d, a copy of source offset %d, want %d", f.Target, demoGroup, target, p, o.At, origin, src)
		}
		n++
	}
	return n, nil
}

// copyOrigin reads the record at offset of a target partition and
// returns the source offset its provenance header names.
func copyOrigin(ctx context.Context, m *topology.Mesh, region, topic string, partition int32, offset int64) (int64, error) {
	cl, err := regionClient(m, region,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(offset)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for pctx.Err() == nil {
		fs := cl.PollFetches(pctx)
		for _, r := range fs.Records() {
			if r.Offset != offset {
				return 0, fmt.Errorf("region %s: %s/%d has no record at %d (next: %d)", region, topic, partition, offset, r.Offset)
			}
			for _, h := range r.Headers {
				if h.Key == mirror.HeaderOriginOffset {
					return strconv.ParseInt(string(h.Value), 10, 64)
				}
			}
			return 0, fmt.Errorf("region %s: %s/%d offset %d is not a copy", region, topic, partition, offset)
		}
	}
	return 0, fmt.Errorf("region %s: read %s/%d at %d: %w", region, topic, partition, offset, pctx.Err())
}

// AppGroup is the application's consumer group at the loss of its
// region: how far group offset sync had moved it into the region that
// takes over, where the application resumes from those offsets.
type AppGroup struct {
	Group  string `json:"group"`
	Target string `json:"target"`
	// Partitions the group had committed in the lost region; Synced how
	// many of them group sync had committed in Target.
	Partitions int `json:"partitions"`
	Synced     int `json:"synced"`
	// Behind is the span of target offsets between the synced offsets and
	// the translation of the group's last offsets in the lost region: the
	// copies the application reads again in Target and drops as already
	// read (with the copies' transaction markers); it also drops the
	// copies of what it read after its last commit. A partition never
	// synced counts from the start of its copy.
	Behind int64  `json:"behind"`
	Error  string `json:"error,omitempty"`
}

// demoAppGroup is the consumer group of the demo's application.
const demoAppGroup = "demo-app"

// appGroupSynced waits until group sync has the application's group in
// step in every region that syncs it from region, and returns, by target
// region, how far each had it just before the region is stopped. It
// asks every other region's agent for the group's offsets translated
// from region (GET /v1/translate), as a client library moving the group
// would; an agent with no flow from region answers 400 and is skipped.
func appGroupSynced(ctx context.Context, mesh *local.Mesh, region string, timeout time.Duration) map[string]*AppGroup {
	out := map[string]*AppGroup{}
	cl := api.NewClient(mesh.Topology(), api.ClientOptions{})
	_ = pollUntil(ctx, timeout, func() error {
		var errs []error
		for _, a := range mesh.Agents() {
			if a.Region() == region {
				continue
			}
			tr, err := cl.Translate(ctx, a.APIAddr(), demoAppGroup, region)
			if api.StatusOf(err) == http.StatusBadRequest {
				continue
			}
			g := &AppGroup{Group: demoAppGroup, Target: a.Region()}
			if err != nil {
				g.Error = fmt.Sprintf("region %s: translate group %s from %s: %v", a.Region(), demoAppGroup, region, err)
			} else {
				g = appGroupAt(ctx, mesh.Topology(), tr.Partitions, region, a.Region())
			}
			out[a.Region()] = g
			switch {
			case g.Error != "":
				errs = append(errs, errors.New(g.Error))
			case g.Partitions == 0 || g.Synced < g.Partitions:
				errs = append(errs, fmt.Errorf("group %s: %d of %d partitions synced to %s", g.Group, g.Synced, g.Partitions, g.Target))
			}
		}
		return errors.Join(errs...)
	})
	return out
}

// appGroupAt measures how far the application's group is synced into
// target: its offsets there against want, the translation of its
// offsets in region.
func appGroupAt(ctx context.Context, m *topology.Mesh, want []api.Translation, region, target string) *AppGroup {
	out := &AppGroup{Group: demoAppGroup, Target: target}
	cl, err := regionClient(m, target)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	have, err := adm.FetchOffsets(ctx, demoAppGroup)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) { // kfake's answer for a group it never saw
		out.Error = fmt.Sprintf("region %s: offsets of group %s: %v", target, demoAppGroup, err)
		return out
	}
	starts, err := adm.ListStartOffsets(ctx)
	if err != nil {
		out.Error = fmt.Sprintf("region %s: start offsets: %v", target, err)
		return out
	}
	for _, w := range want {
		if w.Error != "" {
			out.Error = fmt.Sprintf("region %s: translate group %s from %s: %s", target, demoAppGroup, region, w.Error)
			return out
		}
		out.Partitions++
		from := int64(0)
		if s, ok := starts.Lookup(w.TargetTopic, w.Partition); ok {
			from = s.Offset
		}
		if o, ok := have.Lookup(w.TargetTopic, w.Partition); ok && o.Err == nil && o.At >= 0 {
			out.Synced++
			from = o.At
		}
		if w.TargetOffset > from {
			out.Behind += w.TargetOffset - from
		}
	}
	return out
}

// GroupsNotSynced counts the flows whose demo group, and the failover's
// application group, group offset sync did not bring in step in time.
func (r *Result) GroupsNotSynced() int {
	n := 0
	for _, g := range r.GroupSync {
		if g.Synced < g.Partitions || g.Error != "" {
			n++
		}
	}
	if f := r.Failover; f != nil && f.AppGroup != nil && (f.AppGroup.Synced < f.AppGroup.Partitions || f.AppGroup.Partitions == 0 || f.AppGroup.Error != "") {
		n++
	}
	return n
}
