package client

import (
	"errors"
	"testing"

	"github.com/geomesh/geomesh/topology"
)

func load(t *testing.T, file string) (*topology.Mesh, []topology.Flow) {
	t.Helper()
	m, err := topology.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return m, topology.Plan(m)
}

func TestTopicIn(t *testing.T) {
	ap, apFlows := load(t, "../configs/examples/active-passive.yaml")
	aa, aaFlows := load(t, "../configs/examples/active-active.yaml")
	for _, c := range []struct {
		name                  string
		m                     *topology.Mesh
		flows                 []topology.Flow
		origin, region, topic string
		want, wantErr         string
	}{
		{"origin", ap, apFlows, "us-east", "us-east", "orders", "orders", ""},
		{"identity standby", ap, apFlows, "us-east", "eu-west", "orders", "orders", ""},
		{"not selected", ap, apFlows, "us-east", "eu-west", "billing", "", "mesh shop does not copy topic billing from region us-east to eu-west"},
		{"no flow back", ap, apFlows, "eu-west", "us-east", "orders", "", "mesh shop has no flow from region eu-west to us-east, so region us-east holds no copy of topic orders"},
		{"prefix", aa, aaFlows, "us-east", "eu-west", "posts", "us-east.posts", ""},
		{"prefix origin", aa, aaFlows, "eu-west", "eu-west", "posts", "posts", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := topicIn(c.m, c.flows, c.origin, c.region, c.topic)
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("%q %v, want %q", got, err, c.want)
			}
		})
	}
}

func TestCheckWrite(t *testing.T) {
	ap, apFlows := load(t, "../configs/examples/active-passive.yaml")
	aa, aaFlows := load(t, "../configs/examples/active-active.yaml")
	hs, hsFlows := load(t, "../configs/examples/hub-spoke.yaml")
	aaID := *aa
	aaID.Naming = topology.NamingIdentity
	aaIDFlows := topology.Plan(&aaID)
	hub, spoke := hs.Roles.Hub, hs.Roles.Spokes[0]
	for _, c := range []struct {
		name                   string
		m                      *topology.Mesh
		flows                  []topology.Flow
		primary, region, topic string
		ok                     bool
	}{
		{"ap primary", ap, apFlows, "us-east", "us-east", "orders", true},
		{"ap standby", ap, apFlows, "us-east", "eu-west", "orders", false},
		{"ap promoted standby", ap, apFlows, "eu-west", "eu-west", "orders", true},
		{"ap old primary after failover", ap, apFlows, "eu-west", "us-east", "orders", false},
		{"aa prefix local", aa, aaFlows, "", "eu-west", "posts", true},
		{"aa prefix copy", aa, aaFlows, "", "eu-west", "us-east.posts", false},
		{"aa prefix unselected name with prefix", aa, aaFlows, "", "eu-west", "us-east.other", true},
		{"aa identity", &aaID, aaIDFlows, "", "eu-west", "posts", true},
		{"hs hub", hs, hsFlows, hub, hub, "prices", true},
		{"hs hub aggregated copy", hs, hsFlows, hub, hub, spoke + ".sales", false},
		{"hs standby hub", hs, hsFlows, hub, hs.Roles.StandbyHub, "prices", false},
		{"hs promoted standby hub", hs, hsFlows, hs.Roles.StandbyHub, hs.Roles.StandbyHub, "prices", true},
		{"hs spoke", hs, hsFlows, hub, spoke, "sales", true},
		{"hs spoke broadcast copy", hs, hsFlows, hub, spoke, "prices", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkWrite(c.m, c.flows, c.primary, c.region, c.topic)
			if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrNotPrimary)) {
				t.Fatalf("checkWrite: %v, want ok=%v", err, c.ok)
			}
		})
	}
}
