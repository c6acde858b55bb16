package topology

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// diffBase is an active-passive mesh with two standbys and a witness;
// the cases of TestDiff edit its text.
const diffBase = `mesh: shop
topology:
  kind: active-passive
  primary: us-east
  standby: [eu-west, ap-south]
regions:
  - name: us-east
    kafka:
      bootstrap: [kafka.us-east.example.com:9093]
      tls: {}
      sasl: {mechanism: SCRAM-SHA-512, username: geomesh, password: env:US_EAST_PASSWORD}
    agents:
      - {id: us-east-1, gossip: 10.1.0.10:7946, api: 10.1.0.10:8080, control: 10.1.0.10:6222}
  - name: eu-west
    kafka:
      bootstrap: [kafka.eu-west.example.com:9093]
      tls: {}
    agents:
      - {id: eu-west-1, gossip: 10.2.0.10:7946, api: 10.2.0.10:8080, control: 10.2.0.10:6222}
  - name: ap-south
    kafka:
      bootstrap: [kafka.ap-south.example.com:9093]
      tls: {}
    agents:
      - {id: ap-south-1, gossip: 10.3.0.10:7946, api: 10.3.0.10:8080, control: 10.3.0.10:6222}
  - name: witness
    witness: true
    agents:
      - {id: witness-1, gossip: 10.4.0.10:7946, api: 10.4.0.10:8080, control: 10.4.0.10:6222}
topics:
  include: ["orders.*"]
failover:
  detection: {down_after: 10s}
allow_insecure: [api-without-token, control-plane-without-tls]
`

// TestDiff compares the base mesh with edited versions: what changed,
// by the file's names, and what a running mesh refuses.
func TestDiff(t *testing.T) {
	parse := func(t *testing.T, text string) *Mesh {
		t.Helper()
		m, err := Parse("mesh.yaml", []byte(text))
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		return m
	}
	// cut removes the lines of region name's entry.
	cut := func(text, name string) string {
		start := strings.Index(text, "  - name: "+name+"\n")
		end := strings.Index(text[start+1:], "  - name: ") + start + 1
		return text[:start] + text[end:]
	}
	writers := []string{"us-east"}
	for _, tc := range []struct {
		name string
		edit func(string) string
		want []Change
	}{
		{"same", func(s string) string { return s }, nil},
		{"bootstrap", func(s string) string {
			return strings.Replace(s, "kafka.eu-west.example.com:9093", "kafka-0.eu-west.example.com:9093, kafka-1.eu-west.example.com:9093", 1)
		}, []Change{{Path: "regions[eu-west].kafka.bootstrap", Old: "[kafka.eu-west.example.com:9093]",
			New: "[kafka-0.eu-west.example.com:9093, kafka-1.eu-west.example.com:9093]"}}},
		{"timing and topics", func(s string) string {
			return strings.NewReplacer("down_after: 10s", "down_after: 12s", `include: ["orders.*"]`, `include: ["orders.*", "payments"]`).Replace(s)
		}, []Change{
			{Path: "topics.include", Old: "[orders.*]", New: "[orders.*, payments]"},
			{Path: "failover.detection.down_after", Old: "10s", New: "12s"},
		}},
		{"secret by reference", func(s string) string {
			return strings.Replace(s, "env:US_EAST_PASSWORD", "file:/run/secrets/us-east", 1)
		}, []Change{{Path: "regions[us-east].kafka.sasl.password", Old: "env:US_EAST_PASSWORD", New: "file:/run/secrets/us-east"}}},
		{"agent moves", func(s string) string {
			return strings.Replace(s, "api: 10.2.0.10:8080", "api: 10.2.0.11:8080", 1)
		}, []Change{{Path: "regions[eu-west].agents[eu-west-1].api", Old: "10.2.0.10:8080", New: "10.2.0.11:8080"}}},
		{"remove a standby", func(s string) string {
			return strings.Replace(cut(s, "ap-south"), "standby: [eu-west, ap-south]", "standby: [eu-west]", 1)
		}, []Change{
			{Path: "roles.standby", Old: "[eu-west, ap-south]", New: "[eu-west]"},
			{Path: "regions[ap-south]", Old: "ap-south"},
			{Path: "failover.quorum.voters", Old: "[us-east, eu-west, ap-south, witness]", New: "[us-east, eu-west, witness]"},
			{Path: "planned flow us-east→ap-south", Old: "replicate flow"},
		}},
		{"add a standby", func(s string) string {
			return strings.Replace(strings.Replace(s, "standby: [eu-west, ap-south]", "standby: [eu-west, ap-south, sa-east]", 1), "  - name: witness\n", "  - name: sa-east\n    kafka: {bootstrap: [kafka.sa-east.example.com:9093], tls: {}}\n"+
				"    agents:\n      - {id: sa-east-1, gossip: 10.5.0.10:7946, api: 10.5.0.10:8080, control: 10.5.0.10:6222}\n  - name: witness\n", 1)
		}, []Change{
			{Path: "roles.standby", Old: "[eu-west, ap-south]", New: "[eu-west, ap-south, sa-east]"},
			{Path: "regions[sa-east]", New: "sa-east"},
			{Path: "failover.quorum.voters", Old: "[us-east, eu-west, ap-south, witness]", New: "[us-east, eu-west, ap-south, sa-east, witness]"},
			{Path: "planned flow us-east→sa-east", New: "replicate flow"},
		}},
		{"remove the writer", func(s string) string {
			return strings.NewReplacer("primary: us-east", "primary: eu-west", "standby: [eu-west, ap-south]", "standby: [ap-south]").Replace(cut(s, "us-east"))
		}, []Change{
			{Path: "roles.primary", Old: "us-east", New: "eu-west"},
			{Path: "roles.standby", Old: "[eu-west, ap-south]", New: "[ap-south]"},
			{Path: "regions[us-east]", Old: "us-east",
				Refused: "region us-east takes writes now: move them first (geomesh failover --to another region), then remove it"},
			{Path: "failover.quorum.voters", Old: "[us-east, eu-west, ap-south, witness]", New: "[eu-west, ap-south, witness]"},
			{Path: "planned flow us-east→eu-west", Old: "replicate flow"},
			{Path: "planned flow us-east→ap-south", Old: "replicate flow"},
			{Path: "planned flow eu-west→ap-south", New: "replicate flow"},
		}},
		{"rename a region", func(s string) string {
			return strings.NewReplacer("name: ap-south", "name: ap-east", "standby: [eu-west, ap-south]", "standby: [eu-west, ap-east]").Replace(s)
		}, []Change{
			{Path: "roles.standby", Old: "[eu-west, ap-south]", New: "[eu-west, ap-east]"},
			{Path: "regions[ap-south]", Old: "ap-south"},
			{Path: "regions[ap-east]", New: "ap-east"},
			{Path: "failover.quorum.voters", Old: "[us-east, eu-west, ap-south, witness]", New: "[us-east, eu-west, ap-east, witness]"},
			{Path: "regions[ap-south].name", Old: "ap-south", New: "ap-east",
				Refused: "renaming region ap-south to ap-east (same cluster): the name keys its state, its flows' progress and its copies' names; keep the name"},
			{Path: "planned flow us-east→ap-south", Old: "replicate flow"},
			{Path: "planned flow us-east→ap-east", New: "replicate flow"},
		}},
		{"mesh name", func(s string) string { return strings.Replace(s, "mesh: shop", "mesh: shop-2", 1) },
			[]Change{{Path: "name", Old: "shop", New: "shop-2",
				Refused: "the mesh's name names its control-plane state, subjects and topics: a renamed mesh is a new mesh"}}},
		{"naming of running flows", func(s string) string { return strings.Replace(s, "topics:", "naming: prefix\ntopics:", 1) },
			[]Change{
				{Path: "naming", Old: "identity", New: "prefix"},
				{Path: "planned flow us-east→eu-west.naming", Old: "identity", New: "prefix",
					Refused: "the flow's copies are named identity in eu-west: other names would copy every topic again beside the old copies"},
				{Path: "planned flow us-east→ap-south.naming", Old: "identity", New: "prefix",
					Refused: "the flow's copies are named identity in ap-south: other names would copy every topic again beside the old copies"},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, new := parse(t, diffBase), parse(t, tc.edit(diffBase))
			got := Diff(old, new, writers)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("Diff (-want +got):\n%s", d)
			}
			if Refused(got) != Refused(tc.want) {
				t.Errorf("Refused = %v", Refused(got))
			}
		})
	}
}

// TestRefusal: the rules for single changes, including those the edits
// of TestDiff do not reach.
func TestRefusal(t *testing.T) {
	for _, tc := range []struct {
		c       Change
		refused bool
	}{
		{Change{Path: "kind", Old: "active-passive", New: "active-active"}, true},
		{Change{Path: "regions[eu-west].witness", Old: "false", New: "true"}, true},
		{Change{Path: "regions[us-east]", Old: "us-east"}, true},
		{Change{Path: "regions[eu-west]", Old: "eu-west"}, false},
		{Change{Path: "regions[us-east]", New: "us-east"}, false},
		{Change{Path: "regions[us-east].kafka.bootstrap", Old: "[a:1]", New: "[b:1]"}, false},
		{Change{Path: "replication.mode", Old: "exactly-once", New: "at-least-once"}, false},
	} {
		if got := refusal(tc.c, []string{"us-east"}); (got != "") != tc.refused {
			t.Errorf("%+v: refusal %q, want refused %v", tc.c, got, tc.refused)
		}
	}
}

// TestRestartAndMembership: which changes agents take only at restart,
// and which a running mesh does not take yet.
func TestRestartAndMembership(t *testing.T) {
	for _, tc := range []struct {
		path, old, new  string
		restart, member bool
	}{
		{"regions[eu-west].agents[eu-west-1].api", "10.2.0.10:8080", "10.2.0.11:8080", true, false},
		{"regions[eu-west].agents[eu-west-2]", "", "eu-west-2", true, false},
		{"gossip.encryption", "a", "b", true, false},
		{"control_plane.tls.ca_file", "a", "b", true, false},
		{"api.admin_token", "env:A", "env:B", true, false},
		{"failover.detection.kafka_probe_interval", "2s", "1s", true, false},
		{"failover.detection.down_after", "10s", "5s", false, false},
		{"failover.hooks", "[]", "[x]", false, false},
		{"regions[eu-west].kafka.bootstrap", "[a:1]", "[b:1]", true, false},
		{"topics.include", "[a]", "[a, b]", false, false},
		{"apis", "", "", false, false},
		{"regions[sa-east]", "", "sa-east", false, true},
		{"regions[sa-east]", "sa-east", "", false, true},
		{"failover.quorum.voters", "[a, b, w]", "[a, b]", false, true},
	} {
		c := Change{Path: tc.path, Old: tc.old, New: tc.new}
		if got := Restart(c); got != tc.restart {
			t.Errorf("Restart(%s) = %v, want %v", tc.path, got, tc.restart)
		}
		if got := Membership(c) != ""; got != tc.member {
			t.Errorf("Membership(%s) = %q, want refused %v", tc.path, Membership(c), tc.member)
		}
	}
}
