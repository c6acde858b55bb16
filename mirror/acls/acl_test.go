package acls

import (
	"slices"
	"strings"
	"testing"

	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func acl(rt kmsg.ACLResourceType, pattern kmsg.ACLResourcePatternType, name, principal string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) ACL {
	return ACL{ResourceType: rt, Name: name, Pattern: pattern, Principal: principal, Host: "*", Operation: op, Permission: perm}
}

const (
	topic    = kmsg.ACLResourceTypeTopic
	group    = kmsg.ACLResourceTypeGroup
	literal  = kmsg.ACLResourcePatternTypeLiteral
	prefixed = kmsg.ACLResourcePatternTypePrefixed
	allow    = kmsg.ACLPermissionTypeAllow
	deny     = kmsg.ACLPermissionTypeDeny
)

func TestDesired(t *testing.T) {
	src := []ACL{
		acl(topic, literal, "orders", "User:app-east", kmsg.ACLOperationWrite, allow),
		acl(topic, literal, "orders", "User:app-east", kmsg.ACLOperationRead, allow),
		acl(topic, prefixed, "pay.", "User:app-east", kmsg.ACLOperationAll, allow),
		acl(topic, literal, "orders", "User:mallory", kmsg.ACLOperationWrite, deny),
		acl(topic, literal, "internal-only", "User:app-east", kmsg.ACLOperationRead, allow),
		acl(topic, literal, "*", "User:app-east", kmsg.ACLOperationRead, allow),
		acl(topic, literal, "geomesh.progress", "User:app-east", kmsg.ACLOperationRead, allow),
		acl(group, literal, "billing", "User:app-east", kmsg.ACLOperationRead, allow),
		acl(group, prefixed, "tmp-", "User:app-east", kmsg.ACLOperationRead, allow),
		acl(kmsg.ACLResourceTypeCluster, literal, "kafka-cluster", "User:app-east", kmsg.ACLOperationAlter, allow),
	}
	m := &topology.Mesh{Regions: []topology.Region{
		{Name: "east", Kafka: &topology.Kafka{Principals: map[string]string{"User:app": "User:app-east"}}},
		{Name: "west", Kafka: &topology.Kafka{Principals: map[string]string{"User:app": "User:app-west"}}},
	}}
	flow := topology.Flow{Source: "east", Target: "west", Kind: topology.FlowReplicate, Naming: topology.NamingPrefix,
		Regions: []string{"east", "west"}, Topics: topology.MustSelection([]string{".*"}, []string{"internal-.*"})}
	mapping := Mapping{
		Flow:      flow,
		Group:     func(g string) bool { return g != "tmp-" },
		Principal: func(p string) string { return m.MapPrincipal("east", "west", p) },
	}
	render := func(acls []ACL) string {
		var out []string
		for _, a := range acls {
			out = append(out, a.String())
		}
		slices.Sort(out)
		return strings.Join(out, "\n")
	}
	want := `ALLOW User:app-west DESCRIBE on TOPIC:PREFIXED:east.pay. from *
ALLOW User:app-west DESCRIBE_CONFIGS on TOPIC:PREFIXED:east.pay. from *
ALLOW User:app-west READ on GROUP:LITERAL:billing from *
ALLOW User:app-west READ on TOPIC:LITERAL:east.orders from *
ALLOW User:app-west READ on TOPIC:PREFIXED:east.pay. from *
DENY User:mallory WRITE on TOPIC:LITERAL:east.orders from *`
	if got := render(mapping.Desired(src)); got != want {
		t.Errorf("standby target:\n%s\nwant\n%s", got, want)
	}
	mapping.Writable = true
	want = `ALLOW User:app-west ALL on TOPIC:PREFIXED:east.pay. from *
ALLOW User:app-west READ on GROUP:LITERAL:billing from *
ALLOW User:app-west READ on TOPIC:LITERAL:east.orders from *
ALLOW User:app-west WRITE on TOPIC:LITERAL:east.orders from *
DENY User:mallory WRITE on TOPIC:LITERAL:east.orders from *`
	if got := render(mapping.Desired(src)); got != want {
		t.Errorf("primary target:\n%s\nwant\n%s", got, want)
	}
}
