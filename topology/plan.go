package topology

import (
	"regexp"
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
	var regions []string
	for _, r := range m.Regions {
		regions = append(regions, r.Name)
	}
	var flows []Flow
	add := func(source, target, kind string, topics Selection, naming Naming) {
		flows = append(flows, Flow{
			Source: source, Target: target, Kind: kind,
			Topics: topics, Groups: m.Groups, Naming: naming, Regions: regions,
		})
	}
	switch m.Kind {
	case KindActivePassive:
		for _, s := range r.Standby {
			add(r.Primary, s, FlowReplicate, m.Topics, m.Naming)
		}
	case KindActiveActive:
		data := m.DataRegions()
		for _, s := range data {
			for _, t := range data {
				if s != t {
					add(s, t, FlowReplicate, m.Topics, m.Naming)
				}
			}
		}
	case KindHubSpoke:
		for _, s := range r.Spokes {
			add(s, r.Hub, FlowAggregate, m.Topics, m.Naming)
		}
		if len(r.Broadcast.Include) > 0 {
			// Mesh-wide excludes hold everywhere: a topic kept out of the mesh
			// stays out of the broadcast too.
			b := plannedSelection(r.Broadcast.Include, append(append([]string(nil), r.Broadcast.Exclude...), m.Topics.Exclude...))
			for _, s := range r.Spokes {
				add(r.Hub, s, FlowBroadcast, b, NamingIdentity)
			}
		}
		if r.StandbyHub != "" {
			add(r.Hub, r.StandbyHub, FlowStandby, standbySelection(m), NamingIdentity)
		}
	}
	for _, o := range m.Flows {
		for i := range flows {
			if flows[i].Source == o.Source && flows[i].Target == o.Target {
				flows[i].Topics = o.Topics
			}
		}
	}
	return flows
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
	if strings.HasPrefix(topic, "__") || strings.HasPrefix(topic, "geomesh.") {
		return false
	}
	if strings.HasPrefix(topic, f.Target+".") {
		return false
	}
	if f.Naming == NamingPrefix && f.Kind != FlowStandby {
		for _, r := range f.Regions {
			if strings.HasPrefix(topic, r+".") {
				return false
			}
		}
	}
	return f.Topics.Match(topic)
}

// Inbound lists the flows into region under any data region as primary
// (or hub): those of Plan first, then those a failover could start. An
// agent follows the heartbeats and translates offsets along all of them,
// so that a region whose role changes has the evidence of its new
// sources at once.
func Inbound(m *Mesh, region string) []Flow {
	var out []Flow
	seen := map[Route]bool{}
	add := func(fs []Flow) {
		for _, f := range fs {
			if f.Target == region && !seen[f.Route()] {
				seen[f.Route()] = true
				out = append(out, f)
			}
		}
	}
	add(Plan(m))
	for _, p := range m.DataRegions() {
		r := m.Roles
		switch m.Kind {
		case KindActivePassive:
			r.Primary, r.Standby = p, nil
			for _, s := range m.DataRegions() {
				if s != p {
					r.Standby = append(r.Standby, s)
				}
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
		}
		add(PlanFor(m, r))
	}
	return out
}
