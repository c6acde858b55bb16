package acls

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPlanFence(t *testing.T) {
	var (
		write    = kmsg.ACLOperationWrite
		all      = kmsg.ACLOperationAll
		read     = kmsg.ACLOperationRead
		appW     = acl(topic, literal, "orders", "User:app", write, allow)
		appDeny  = acl(topic, literal, "orders", "User:app", write, deny)
		appMark  = marker("shop", appDeny)
		payAll   = acl(topic, prefixed, "pay.", "User:app", all, allow)
		payDeny  = acl(topic, prefixed, "pay.", "User:app", write, deny)
		payMark  = marker("shop", payDeny)
		hostW    = ACL{ResourceType: topic, Name: "orders", Pattern: literal, Principal: "User:pos", Host: "10.0.0.7", Operation: write, Permission: allow}
		hostDeny = ACL{ResourceType: topic, Name: "orders", Pattern: literal, Principal: "User:pos", Host: "10.0.0.7", Operation: write, Permission: deny}
	)
	otherMark := marker("other", appDeny)
	localDeny := acl(topic, literal, "local-audit", "User:app", write, deny)
	localMark := marker("shop", localDeny)
	policy := FencePolicy{
		Mesh:    "shop",
		Selects: func(topic string) bool { return !strings.HasPrefix(topic, "local-") },
		Exempt:  []string{"User:geomesh"},
	}
	for _, tc := range []struct {
		name    string
		cluster []ACL
		fenced  bool
		want    FencePlan
	}{
		{name: "demoted: literal WRITE and prefixed ALL are denied, each after its marker",
			cluster: []ACL{appW, acl(topic, literal, "orders", "User:app", read, allow), payAll},
			fenced:  true,
			want:    FencePlan{AddMarkers: []ACL{appMark, payMark}, AddDenies: []ACL{appDeny, payDeny}}},
		{name: "the host of the ALLOW is kept",
			cluster: []ACL{hostW}, fenced: true,
			want: FencePlan{AddMarkers: []ACL{marker("shop", hostDeny)}, AddDenies: []ACL{hostDeny}}},
		{name: "WRITE and ALL on one pattern need one DENY",
			cluster: []ACL{appW, acl(topic, literal, "orders", "User:app", all, allow)}, fenced: true,
			want: FencePlan{AddMarkers: []ACL{appMark}, AddDenies: []ACL{appDeny}}},
		{name: "not denied: the agent, wildcards, unmirrored topics, groups, READ, DENY",
			cluster: []ACL{
				acl(topic, prefixed, "orders", "User:geomesh", write, allow),
				acl(topic, literal, "*", "User:app", write, allow),
				acl(topic, literal, "orders", "User:*", write, allow),
				acl(topic, literal, "local-audit", "User:app", write, allow),
				acl(group, literal, "orders", "User:app", all, allow),
				acl(topic, literal, "orders", "User:app", read, allow),
				acl(topic, literal, "orders", "User:mallory", write, deny),
				acl(topic, kmsg.ACLResourcePatternTypeMatch, "orders", "User:app", write, allow),
			},
			fenced: true},
		{name: "demoted and fenced already: nothing to do",
			cluster: []ACL{appW, appMark, appDeny}, fenced: true},
		{name: "a marked DENY someone deleted comes back, without a second marker",
			cluster: []ACL{appW, appMark}, fenced: true,
			want: FencePlan{AddDenies: []ACL{appDeny}}},
		{name: "an operator's own equal DENY is left alone and never marked",
			cluster: []ACL{appW, appDeny}, fenced: true},
		{name: "promoted: geomesh's DENYs go, then their markers",
			cluster: []ACL{appW, appMark, appDeny, payAll, payDeny, payMark}, fenced: false,
			want: FencePlan{RemoveDenies: []ACL{appDeny, payDeny}, RemoveMarkers: []ACL{appMark, payMark}}},
		{name: "promoted: an operator's DENY stays",
			cluster: []ACL{appW, appDeny, acl(topic, literal, "orders", "User:mallory", write, deny)}, fenced: false},
		{name: "promoted: a marker whose DENY is gone goes",
			cluster: []ACL{appW, appMark}, fenced: false,
			want: FencePlan{RemoveMarkers: []ACL{appMark}}},
		{name: "another mesh's DENY is not this mesh's to mark or delete",
			cluster: []ACL{appW, appDeny, otherMark}, fenced: true},
		{name: "promoted: another mesh's DENY stays",
			cluster: []ACL{appW, appDeny, otherMark}, fenced: false},
		{name: "demoted: a DENY on a topic the mesh no longer mirrors goes",
			cluster: []ACL{acl(topic, literal, "local-audit", "User:app", write, allow), localDeny, localMark}, fenced: true,
			want: FencePlan{RemoveDenies: []ACL{localDeny}, RemoveMarkers: []ACL{localMark}}},
		{name: "demoted: the ALLOW was revoked, so its DENY goes",
			cluster: []ACL{appMark, appDeny}, fenced: true,
			want: FencePlan{RemoveDenies: []ACL{appDeny}, RemoveMarkers: []ACL{appMark}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PlanFence(tc.cluster, tc.fenced, policy)
			if render(got) != render(tc.want) {
				t.Errorf("got\n%s\nwant\n%s", render(got), render(tc.want))
			}
		})
	}
}

func render(p FencePlan) string {
	var b strings.Builder
	for _, part := range []struct {
		name string
		acls []ACL
	}{{"add marker", p.AddMarkers}, {"add deny", p.AddDenies}, {"remove deny", p.RemoveDenies}, {"remove marker", p.RemoveMarkers}} {
		for _, a := range part.acls {
			b.WriteString(part.name + ": " + a.String() + "\n")
		}
	}
	return b.String()
}

func TestMarker(t *testing.T) {
	d := acl(topic, prefixed, "pay.", "User:app", kmsg.ACLOperationWrite, deny)
	m := marker("shop", d)
	if want := "DENY User:app DESCRIBE on TOPIC:LITERAL:geomesh-fence:shop:PREFIXED:pay. from *"; m.String() != want {
		t.Errorf("marker %s, want %s", m, want)
	}
	if mesh, got, ok := markedDeny(m); !ok || got != d || mesh != "shop" {
		t.Errorf("markedDeny(%s) = %s, %s, %v; want shop, %s", m, mesh, got, ok, d)
	}
	for _, notMarker := range []ACL{
		acl(topic, literal, "geomesh-fence:shop:PREFIXED:pay.", "User:app", kmsg.ACLOperationDescribe, allow),
		acl(topic, literal, "geomesh-fence:shop:ANY:pay.", "User:app", kmsg.ACLOperationDescribe, deny),
		acl(topic, literal, "geomesh-fence:shop:pay.", "User:app", kmsg.ACLOperationDescribe, deny),
		acl(topic, literal, "geomesh-fence::LITERAL:pay.", "User:app", kmsg.ACLOperationDescribe, deny),
		acl(topic, prefixed, "geomesh-fence:shop:LITERAL:pay.", "User:app", kmsg.ACLOperationDescribe, deny),
		acl(topic, literal, "orders", "User:app", kmsg.ACLOperationDescribe, deny),
	} {
		if _, _, ok := markedDeny(notMarker); ok {
			t.Errorf("%s taken for a marker", notMarker)
		}
	}
}

// TestDesiredSkipsFence: a source region's fence, of any mesh, is not
// copied; an operator's DENY is.
func TestDesiredSkipsFence(t *testing.T) {
	fence := acl(topic, literal, "orders", "User:app", kmsg.ACLOperationWrite, deny)
	operator := acl(topic, literal, "orders", "User:mallory", kmsg.ACLOperationWrite, deny)
	src := []ACL{fence, marker("shop", fence), operator}
	m := Mapping{Flow: selectAll{}}
	got := m.Desired(src)
	if len(got) != 1 || got[0] != operator {
		t.Errorf("Desired = %v, want only %s", got, operator)
	}
}

type selectAll struct{}

func (selectAll) Selects(string) bool            { return true }
func (selectAll) TargetTopic(name string) string { return name }
