package acls

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// markerPrefix starts the resource name of a fence marker. A colon can
// never be part of a Kafka topic name, so an ACL on such a "topic" grants
// or denies nothing that exists.
const markerPrefix = "geomesh-fence:"

// marker is the ACL that records, in the cluster itself, that mesh's
// fence created the DENY d: a DENY DESCRIBE for the same principal and
// host on the literal topic "geomesh-fence:<mesh>:<PATTERN>:<name>". Kept
// beside the DENY in the cluster, it is shared by every agent of the
// region and survives their restarts; the mesh name keeps two meshes that
// share a cluster from removing each other's DENYs (mesh names hold no
// colon).
func marker(mesh string, d ACL) ACL {
	return ACL{ResourceType: kmsg.ACLResourceTypeTopic, Name: markerPrefix + mesh + ":" + d.Pattern.String() + ":" + d.Name,
		Pattern: kmsg.ACLResourcePatternTypeLiteral, Principal: d.Principal, Host: d.Host,
		Operation: kmsg.ACLOperationDescribe, Permission: kmsg.ACLPermissionTypeDeny}
}

// markedDeny returns the mesh and the DENY that the marker m records,
// and false if m is no marker.
func markedDeny(m ACL) (string, ACL, bool) {
	if m.ResourceType != kmsg.ACLResourceTypeTopic || m.Pattern != kmsg.ACLResourcePatternTypeLiteral ||
		m.Operation != kmsg.ACLOperationDescribe || m.Permission != kmsg.ACLPermissionTypeDeny ||
		!strings.HasPrefix(m.Name, markerPrefix) {
		return "", ACL{}, false
	}
	mesh, rest, ok := strings.Cut(strings.TrimPrefix(m.Name, markerPrefix), ":")
	if !ok || mesh == "" {
		return "", ACL{}, false
	}
	pattern, name, ok := strings.Cut(rest, ":")
	if !ok {
		return "", ACL{}, false
	}
	p, err := kmsg.ParseACLResourcePatternType(pattern)
	if err != nil || p != kmsg.ACLResourcePatternTypeLiteral && p != kmsg.ACLResourcePatternTypePrefixed {
		return "", ACL{}, false
	}
	return mesh, fenceDeny(ACL{ResourceType: kmsg.ACLResourceTypeTopic, Name: name, Pattern: p, Principal: m.Principal, Host: m.Host}), true
}

// fenceDeny is the DENY WRITE that overrides an ALLOW on the same
// resource pattern, principal and host.
func fenceDeny(a ACL) ACL {
	a.Operation, a.Permission = kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeDeny
	return a
}

// fenceACLs are the markers in acls and the DENYs they record, whether
// those DENYs exist or not: mesh's, or any mesh's if mesh is empty.
func fenceACLs(acls []ACL, mesh string) (markers, denies map[ACL]bool) {
	markers, denies = map[ACL]bool{}, map[ACL]bool{}
	for _, a := range acls {
		if m, d, ok := markedDeny(a); ok && (mesh == "" || m == mesh) {
			markers[a], denies[d] = true, true
		}
	}
	return markers, denies
}

// FencePolicy says which ALLOWs of a cluster a fence overrides.
type FencePolicy struct {
	// Mesh names the mesh in the markers. Required.
	Mesh string
	// Selects reports whether the region's topic (or topic prefix) is
	// mirrored, so that its application writes follow the primary.
	Selects func(topic string) bool
	// Exempt are principals never denied: the agent's own, which writes
	// the copies and geomesh's topics.
	Exempt []string
}

// overrides reports whether a fence denies the WRITE that ALLOW a gives.
func (p FencePolicy) overrides(a ACL) bool {
	return a.ResourceType == kmsg.ACLResourceTypeTopic && a.Permission == kmsg.ACLPermissionTypeAllow &&
		(a.Operation == kmsg.ACLOperationWrite || a.Operation == kmsg.ACLOperationAll) &&
		(a.Pattern == kmsg.ACLResourcePatternTypeLiteral || a.Pattern == kmsg.ACLResourcePatternTypePrefixed) &&
		// A wildcard resource reaches topics the mesh does not manage, and
		// a wildcard principal includes the agent itself.
		a.Name != "*" && a.Principal != "User:*" &&
		!slices.Contains(p.Exempt, a.Principal) && p.Selects(a.Name)
}

// FencePlan is what one fence pass changes, each list in the order of the
// cluster's ACLs. Markers are created before the DENYs they record, so
// that geomesh never holds a DENY it does not know it made, and DENYs
// are deleted before their markers.
type FencePlan struct {
	AddMarkers, AddDenies, RemoveDenies, RemoveMarkers []ACL
}

// Empty reports whether the plan changes nothing.
func (p FencePlan) Empty() bool {
	return len(p.AddMarkers)+len(p.AddDenies)+len(p.RemoveDenies)+len(p.RemoveMarkers) == 0
}

// PlanFence decides, from all of a cluster's topic ACLs, what makes its
// region deny application writes to mirrored topics (fenced) or stop
// denying them (not fenced). It is pure; see the package doc for the
// rules.
//
// A DENY is the mesh's only while its marker exists. One equal to a DENY
// the fence wants but without the mesh's marker is an operator's (or
// another mesh's): it is neither marked nor ever deleted. A marked DENY
// the fence no longer wants is deleted, also when its topic has left the
// mesh's selection.
func PlanFence(cluster []ACL, fenced bool, p FencePolicy) FencePlan {
	exists := map[ACL]bool{}
	for _, a := range cluster {
		exists[a] = true
	}
	_, owned := fenceACLs(cluster, p.Mesh)
	want := map[ACL]bool{}
	var plan FencePlan
	if fenced {
		for _, a := range cluster {
			if !p.overrides(a) {
				continue
			}
			d := fenceDeny(a)
			if want[d] {
				continue // WRITE and ALL on one pattern need one DENY
			}
			want[d] = true
			switch {
			case owned[d] && !exists[d]:
				plan.AddDenies = append(plan.AddDenies, d)
			case !owned[d] && !exists[d]:
				plan.AddMarkers = append(plan.AddMarkers, marker(p.Mesh, d))
				plan.AddDenies = append(plan.AddDenies, d)
			}
		}
	}
	for _, a := range cluster {
		mesh, d, ok := markedDeny(a)
		if !ok || mesh != p.Mesh || want[d] {
			continue
		}
		if exists[d] {
			plan.RemoveDenies = append(plan.RemoveDenies, d)
		}
		plan.RemoveMarkers = append(plan.RemoveMarkers, a)
	}
	return plan
}
