package acls

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ACL is one access control entry of a cluster: principal may (or may
// not) perform operation on a resource, from host.
type ACL struct {
	ResourceType kmsg.ACLResourceType
	Name         string
	Pattern      kmsg.ACLResourcePatternType
	Principal    string
	Host         string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// String reads like the kafka-acls tool's listing:
// "ALLOW User:app READ on TOPIC:LITERAL:orders from *".
func (a ACL) String() string {
	return fmt.Sprintf("%s %s %s on %s:%s:%s from %s",
		a.Permission, a.Principal, a.Operation, a.ResourceType, a.Pattern, a.Name, a.Host)
}

// Flow is what the Syncer needs of a topology flow. topology.Flow
// satisfies it.
type Flow interface {
	// Selects reports whether the flow copies a source topic.
	Selects(topic string) bool
	// TargetTopic names the copy of a source topic on the target; it maps
	// a prefix the same way, since naming only ever prepends.
	TargetTopic(source string) string
}

// readOnly are the topic operations an application may have on a copy
// that is not primary.
var readOnly = []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDescribeConfigs}

// Mapping says how source ACLs become target ACLs.
type Mapping struct {
	Flow Flow
	// Group reports whether the flow syncs a consumer group; nil selects
	// every group.
	Group func(group string) bool
	// Principal names a source principal on the target; nil keeps names.
	Principal func(principal string) string
	// Writable: the target is primary for the flow's topics, so ALLOW
	// ACLs on them are copied whole, WRITE included.
	Writable bool
}

// Desired maps source ACLs to the ACLs the target should have, in the
// order of src, without duplicates. It is pure, so the rules are tested
// without clusters.
func (m Mapping) Desired(src []ACL) []ACL {
	var out []ACL
	seen := map[ACL]bool{}
	add := func(a ACL) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	// A region's fence (fence.go) is its own decision: its DENYs and their
	// markers must not deny writes on the target too.
	markers, fence := fenceACLs(src, "")
	for _, a := range src {
		if markers[a] || fence[a] {
			continue
		}
		if a.Name == "*" || a.Pattern != kmsg.ACLResourcePatternTypeLiteral && a.Pattern != kmsg.ACLResourcePatternTypePrefixed {
			continue
		}
		switch a.ResourceType {
		case kmsg.ACLResourceTypeTopic:
			if !m.Flow.Selects(a.Name) {
				continue
			}
			a.Name = m.Flow.TargetTopic(a.Name)
		case kmsg.ACLResourceTypeGroup:
			if m.Group != nil && !m.Group(a.Name) {
				continue
			}
		default:
			continue
		}
		if m.Principal != nil {
			a.Principal = m.Principal(a.Principal)
		}
		if a.ResourceType != kmsg.ACLResourceTypeTopic || m.Writable || a.Permission != kmsg.ACLPermissionTypeAllow {
			add(a)
			continue
		}
		for _, op := range readOnly {
			if a.Operation == op || a.Operation == kmsg.ACLOperationAll {
				b := a
				b.Operation = op
				add(b)
			}
		}
	}
	return out
}
