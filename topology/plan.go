package topology

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Flow kinds.
const (
	// FlowReplicate copies between peers: primary to standby, or between
	// active-active regions.
	FlowReplicate = "replicate"
	// FlowAggregate copies a spoke's topics into the hub.
	FlowAggregate = "aggregate"
	// FlowBroadcast copies chosen hub topics to a spoke under the same name.
	FlowBroadcast = "broadcast"
	// FlowStandby copies everything on the hub, aggregated topics included,
	// to the standby hub.
	FlowStandby = "standby"
)

// Flow is one directed copy from a source region's cluster to a target
// region's cluster.
type Flow struct {
	Source, Target string
	Kind           string
	Topics         Selection
	Groups         Selection
	Naming         Naming
	// Compression is the codec of the copies (Replication.Compression or
	// the flow's override).
	Compression Compression
	// Regions are the names of every region of the mesh; a topic that starts
	// with one of them and a dot is a copy, which the loop rules look for.
	Regions []string
}

// Plan lists the flows a mesh runs with the roles its file gives, in a
// stable order: by topology role, then in the order the file lists
// regions. It is PlanFor(m, m.Roles).
func Plan(m *Mesh) []Flow { return PlanFor(m, m.Roles) }

// PlanFor lists the flows of the mesh when its regions hold roles r
// instead of the file's: after a failover the control plane's state names
// another primary (or hub), and the flows follow it, so that the new
// primary becomes the source and an old primary that rejoined as a
// standby receives. A region in no role of r (a fenced former primary)
// is in no flow. In an active-active mesh every data region takes part
// whatever r says; which of those flows run after an evacuation is the
// failover machine's call.
func PlanFor(m *Mesh, r Roles) []Flow {
	var flows []Flow
	eachFlow(m, r, func(f *Flow, _ string) { flows = append(flows, *f) })
	return flows
}

// FlowCount is len(Plan(m)) without planning: an active-active mesh of n
// regions has n(n-1) flows, which a caller that only counts them need not
// hold.
func FlowCount(m *Mesh) int {
	n := 0
	eachFlow(m, m.Roles, func(*Flow, string) { n++ })
	return n
}

// eachFlow calls fn with every flow of PlanFor(m, r), in its order, and
// with where in the file the flow's topics come from: "topics",
// "topology.broadcast", "flows[i].topics" for an override, or "" for the
// standby hub's, which plan puts together. fn must not keep f, which is
// reused; its cost is constant per flow, so planning is linear in the
// flows it yields.
func eachFlow(m *Mesh, r Roles, fn func(f *Flow, from string)) {
	regions := make([]string, 0, len(m.Regions))
	for _, r := range m.Regions {
		regions = append(regions, r.Name)
	}
	var overrides map[Route]int
	if len(m.Flows) > 0 {
		overrides = make(map[Route]int, len(m.Flows))
		for i, o := range m.Flows {
			if _, dup := overrides[Route{o.Source, o.Target}]; !dup {
				overrides[Route{o.Source, o.Target}] = i
			}
		}
	}
	var f Flow
	emit := func(source, target, kind string, topics Selection, from string, naming Naming) {
		f = Flow{
			Source: source, Target: target, Kind: kind,
			Topics: topics, Groups: m.Groups, Naming: naming, Regions: regions,
			Compression: m.Replication.Compression,
		}
		if i, ok := overrides[Route{source, target}]; ok {
			f.Topics, from = m.Flows[i].Topics, "flows["+strconv.Itoa(i)+"].topics"
			f.Compression = m.Flows[i].Compression
		}
		fn(&f, from)
	}
	switch m.Kind {
	case KindActivePassive:
		for _, s := range r.Standby {
			emit(r.Primary, s, FlowReplicate, m.Topics, "topics", m.Naming)
		}
	case KindActiveActive:
		data := m.DataRegions()
		for _, s := range data {
			for _, t := range data {
				if s != t {
					emit(s, t, FlowReplicate, m.Topics, "topics", m.Naming)
				}
			}
		}
	case KindHubSpoke:
		for _, s := range r.Spokes {
			emit(s, r.Hub, FlowAggregate, m.Topics, "topics", m.Naming)
		}
		if len(r.Broadcast.Include) > 0 {
			// Mesh-wide excludes hold everywhere: a topic kept out of the mesh
			// stays out of the broadcast too.
			b := plannedSelection(r.Broadcast.Include, append(append([]string(nil), r.Broadcast.Exclude...), m.Topics.Exclude...))
			for _, s := range r.Spokes {
				emit(r.Hub, s, FlowBroadcast, b, "topology.broadcast", NamingIdentity)
			}
		}
		if r.StandbyHub != "" {
			emit(r.Hub, r.StandbyHub, FlowStandby, standbySelection(m), "", NamingIdentity)
		}
	}
}

// standbySelection is what the standby hub copies from the hub: everything
// the mesh keeps there, so that it can take over as it is: the topics the
// mesh selects, the broadcast topics and the spokes' aggregated copies.
// Topics on the hub cluster that the mesh does not manage stay out; a
// flows: override for hub → standby hub widens the selection.
func standbySelection(m *Mesh) Selection {
	r := m.Roles
	include := append(append([]string(nil), m.Topics.Include...), r.Broadcast.Include...)
	exclude := append([]string(nil), m.Topics.Exclude...)
	if m.Naming == NamingPrefix {
		for _, spoke := range r.Spokes {
			prefix := regexp.QuoteMeta(spoke + ".")
			for _, p := range m.Topics.Include {
				include = append(include, prefix+"(?:"+p+")")
			}
			for _, p := range m.Topics.Exclude {
				exclude = append(exclude, prefix+"(?:"+p+")")
			}
		}
	}
	return plannedSelection(include, exclude)
}

// TargetTopic is the name a source topic gets in the target cluster.
func (f Flow) TargetTopic(source string) string {
	if f.Naming == NamingPrefix {
		return f.Source + "." + source
	}
	return source
}

// Selects reports whether the flow copies topic: the selection must pick it,
// and the loop rules must allow it.
//
//   - Kafka's internal topics (a leading "__") and geomesh's own
//     ("geomesh.*") are never copied; the mirror engine moves what it needs of
//     them itself.
//   - A topic named "<target>.…" is the target's own data coming back.
//   - Under prefix naming only locally produced topics travel: a topic that
//     starts with any region's name and a dot is a copy and stays put. The
//     standby hub is the exception: it needs the aggregated copies too.
func (f Flow) Selects(topic string) bool {
	copied := func(topic string) bool {
		for _, r := range f.Regions {
			if strings.HasPrefix(topic, r+".") {
				return true
			}
		}
		return false
	}
	return f.passes(topic, copied) && f.Topics.Match(topic)
}

// passes applies the loop rules of Selects to topic; copied reports
// whether topic starts with a region's name and a dot.
func (f *Flow) passes(topic string, copied func(topic string) bool) bool {
	if strings.HasPrefix(topic, "__") || strings.HasPrefix(topic, "geomesh.") {
		return false
	}
	if hasPrefixDot(topic, f.Target) {
		return false
	}
	return f.Naming != NamingPrefix || f.Kind == FlowStandby || !copied(topic)
}

// Inbound lists the flows into region under any data region as primary
// (or hub): those of Plan first, then those a failover could start. An
// agent follows the heartbeats and translates offsets along all of them,
// so that a region whose role changes has the evidence of its new
// sources at once.
func Inbound(m *Mesh, region string) []Flow {
	var out []Flow
	seen := map[Route]bool{}
	add := func(f *Flow, _ string) {
		if f.Target == region && !seen[f.Route()] {
			seen[f.Route()] = true
			out = append(out, *f)
		}
	}
	eachFlow(m, m.Roles, add)
	data := m.DataRegions()
	for _, p := range data {
		r := m.Roles
		switch m.Kind {
		case KindActivePassive:
			// Of p's standbys, only region receives into region.
			r.Primary, r.Standby = p, nil
			if p != region && slices.Contains(data, region) {
				r.Standby = []string{region}
			}
		case KindHubSpoke:
			// The hub and the standby hub trade roles: with either as hub,
			// the other is its standby hub, fed by the standby flow.
			r.Hub, r.StandbyHub = p, ""
			switch p {
			case m.Roles.Hub:
				r.StandbyHub = m.Roles.StandbyHub
			case m.Roles.StandbyHub:
				r.StandbyHub = m.Roles.Hub
			}
		default:
			// Every data region takes part whatever the roles say: the
			// file's plan already holds every flow.
			return out
		}
		eachFlow(m, r, add)
	}
	return out
}
