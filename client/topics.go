package client

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/geomesh/geomesh/topology"
)

// ErrNotPrimary is returned, wrapped with the region and topic, for a
// record that the Producer will not write because the region does not take
// writes for the topic: it is a standby, or the topic there is a copy that
// the mesh's flows write.
var ErrNotPrimary = errors.New("region is not primary for the topic")

// defaultOrigin is the region whose topics a consumer of the mesh reads
// when Origin is not given; empty for active-active, where it is the start
// region.
func defaultOrigin(m *topology.Mesh) string {
	switch m.Kind {
	case topology.KindActivePassive:
		return m.Roles.Primary
	case topology.KindHubSpoke:
		return m.Roles.Hub
	}
	return ""
}

// defaultWriter is the region a Producer writes to when Region is not
// given; empty for active-active.
func defaultWriter(m *topology.Mesh) string { return defaultOrigin(m) }

// dataRegion checks that name is a region of the mesh with a Kafka cluster.
func dataRegion(m *topology.Mesh, name string) (*topology.Region, error) {
	r, ok := m.Region(name)
	if !ok {
		return nil, fmt.Errorf("mesh %s has no region %q (regions: %s)", m.Name, name, strings.Join(m.DataRegions(), ", "))
	}
	if r.Kafka == nil {
		return nil, fmt.Errorf("region %s of mesh %s is a witness: it has no Kafka cluster", name, m.Name)
	}
	return r, nil
}

// topicIn names, in region, the topic that holds the records of topic as
// produced in origin: the topic itself in the origin region, elsewhere the
// copy that the planned flow from origin makes.
func topicIn(m *topology.Mesh, flows []topology.Flow, origin, region, topic string) (string, error) {
	if region == origin {
		return topic, nil
	}
	for _, f := range flows {
		if f.Source == origin && f.Target == region {
			if !f.Selects(topic) {
				return "", fmt.Errorf("mesh %s does not copy topic %s from region %s to %s", m.Name, topic, origin, region)
			}
			return f.TargetTopic(topic), nil
		}
	}
	return "", fmt.Errorf("mesh %s has no flow from region %s to %s, so region %s holds no copy of topic %s", m.Name, origin, region, region, topic)
}

// copyOf returns the planned flow that writes topic in region as the copy
// of a topic of another region, if there is one.
func copyOf(flows []topology.Flow, region, topic string) (topology.Flow, bool) {
	for _, f := range flows {
		if f.Target != region {
			continue
		}
		src := topic
		if f.Naming == topology.NamingPrefix {
			var ok bool
			if src, ok = strings.CutPrefix(topic, f.Source+"."); !ok {
				continue
			}
		}
		if f.Selects(src) && f.TargetTopic(src) == topic {
			return f, true
		}
	}
	return topology.Flow{}, false
}

// checkWrite decides whether region takes writes of topic, given the
// region that is primary (active-passive) or hub (hub-spoke) right now.
//
//   - active-passive: only the primary takes writes; a standby's topics
//     are copies.
//   - active-active: every region takes writes, except to the copies of
//     other regions' topics under prefix naming. Under identity naming
//     local writes and copies share a topic by design; the provenance
//     headers tell them apart.
//   - hub-spoke: the current hub takes writes except to the spokes'
//     aggregated topics ("<spoke>.<topic>"); a spoke, except to the topics
//     the hub broadcasts to it; the standby hub (until it is the hub) and a
//     failed hub take none.
func checkWrite(m *topology.Mesh, flows []topology.Flow, primary, region, topic string) error {
	switch m.Kind {
	case topology.KindActivePassive:
		if region != primary {
			return fmt.Errorf("produce to %s in region %s: %w: %s is the primary of mesh %s", topic, region, ErrNotPrimary, primary, m.Name)
		}
		return nil
	case topology.KindHubSpoke:
		if region == primary {
			for _, s := range m.Roles.Spokes {
				if strings.HasPrefix(topic, s+".") {
					return fmt.Errorf("produce to %s in region %s: %w: it holds the copies of spoke %s", topic, region, ErrNotPrimary, s)
				}
			}
			return nil
		}
		if !slices.Contains(m.Roles.Spokes, region) {
			return fmt.Errorf("produce to %s in region %s: %w: %s is the hub of mesh %s", topic, region, ErrNotPrimary, primary, m.Name)
		}
	}
	if f, ok := copyOf(flows, region, topic); ok && !(m.Kind == topology.KindActiveActive && f.Naming == topology.NamingIdentity) {
		return fmt.Errorf("produce to %s in region %s: %w: it is the copy of region %s's topic that the mesh writes", topic, region, ErrNotPrimary, f.Source)
	}
	return nil
}
