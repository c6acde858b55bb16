package client

import (
	"strings"
	"testing"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
)

// st builds a mesh state from "region=role" words; "region=evacuated>to"
// sets ClientsTo, and "switch=from>to/clients" a planned switch.
func st(epoch uint64, decision, words string) *api.State {
	s := &api.State{Epoch: epoch, Decision: api.Decision(decision), Regions: map[string]api.RegionState{}}
	for _, w := range strings.Fields(words) {
		k, v, _ := strings.Cut(w, "=")
		if k == "switch" {
			ft, clients, _ := strings.Cut(v, "/")
			from, to, _ := strings.Cut(ft, ">")
			s.Switch = &api.Switch{From: from, To: to, Clients: clients}
			continue
		}
		role, to, _ := strings.Cut(v, ">")
		s.Regions[k] = api.RegionState{Role: api.Role(role), ClientsTo: to}
	}
	return s
}

func TestDecide(t *testing.T) {
	const (
		ap = topology.KindActivePassive
		aa = topology.KindActiveActive
		hs = topology.KindHubSpoke
	)
	prodEast := followed{producer: true, home: "east", writer: true, region: "east"}
	pausedEast := prodEast
	pausedEast.paused = true
	consEast := followed{home: "east", writer: true, region: "east"}
	consWest := followed{home: "west", region: "west"} // reads the copies in the standby
	prodWest := followed{producer: true, home: "east", writer: true, region: "west"}
	pausedWest := prodWest
	pausedWest.paused = true

	apInit := st(1, "init", "east=primary west=standby w=witness")
	apStart := st(2, "switchover-started", "east=primary west=standby w=witness switch=east>west/east")
	apFlip := st(3, "switchover", "east=standby west=primary w=witness")
	apAbort := st(3, "switchover-aborted", "east=primary west=standby w=witness")
	apFailover := st(2, "failover", "east=fenced west=primary w=witness")
	apBackStart := st(4, "switchover-started", "east=standby west=primary w=witness switch=west>east/west")
	apBack := st(5, "switchover", "east=primary west=standby w=witness")

	aaInit := st(1, "init", "east=active west=active")
	aaEvac := st(2, "evacuate", "east=evacuated>west west=active")
	aaBackStart := st(3, "switchover-started", "east=evacuated>west west=active switch=west>east/east")
	aaBack := st(4, "switchover", "east=active west=active")
	aaMoveStart := st(2, "switchover-started", "east=active west=active switch=east>west/east")
	aaMoved := st(3, "switchover", "east=evacuated>west west=active")
	aaWestHome := followed{producer: true, home: "west", region: "west"}
	aaEastAtWest := followed{producer: true, home: "east", region: "west"}
	aaEastAtWestPaused := aaEastAtWest
	aaEastAtWestPaused.paused = true
	aaEastPaused := followed{producer: true, home: "east", region: "east", paused: true}

	hsInit := st(1, "init", "hub=hub hub2=standby-hub s1=spoke")
	hsFailover := st(2, "failover", "hub=fenced hub2=hub s1=spoke")
	prodHub := followed{producer: true, home: "hub", writer: true, region: "hub"}
	prodSpoke := followed{producer: true, home: "s1", region: "s1"}

	for _, tc := range []struct {
		name     string
		kind     topology.Kind
		c        followed
		old, cur *api.State
		want     move
	}{
		{"first state, in place", ap, prodEast, nil, apInit, move{}},
		{"no state read yet", ap, prodEast, nil, nil, move{}},
		{"first state after a failover: a new client moves", ap, consEast, nil, apFailover, move{SwitchTo: "west"}},
		{"switch started: producer of From pauses", ap, prodEast, apInit, apStart, move{Pause: true}},
		{"switch started: already paused", ap, pausedEast, apStart, apStart, move{}},
		{"switch started: consumer keeps reading", ap, consEast, apInit, apStart, move{}},
		{"switch started: standby consumer stays", ap, consWest, apInit, apStart, move{}},
		{"flip: paused producer switches, then resumes", ap, pausedEast, apStart, apFlip, move{SwitchTo: "west", Resume: true}},
		{"flip: consumer switches with translated offsets", ap, consEast, apStart, apFlip, move{SwitchTo: "west"}},
		{"flip: standby consumer stays", ap, consWest, apStart, apFlip, move{}},
		{"whole switch between two reads", ap, prodEast, apInit, apFlip, move{SwitchTo: "west"}},
		{"abort: producer resumes in place", ap, pausedEast, apStart, apAbort, move{Resume: true}},
		{"abort: consumer stays", ap, consEast, apStart, apAbort, move{}},
		{"unplanned failover: producer moves", ap, prodEast, apInit, apFailover, move{SwitchTo: "west"}},
		{"unplanned failover during a switch: moves and resumes", ap, pausedEast, apStart, apFailover, move{SwitchTo: "west", Resume: true}},
		{"failback started: producer on the new primary pauses", ap, prodWest, apFlip, apBackStart, move{Pause: true}},
		{"failback: producer goes home and resumes", ap, pausedWest, apBackStart, apBack, move{SwitchTo: "east", Resume: true}},
		{"stale agent: an older epoch changes nothing", ap, prodWest, apFlip, apStart, move{}},
		{"same epoch again: nothing to do", ap, prodWest, apFlip, apFlip, move{}},
		{"no single primary: stay", ap, prodEast, apInit, st(2, "failover", "east=fenced west=standby"), move{}},

		{"aa init", aa, aaWestHome, nil, aaInit, move{}},
		{"aa evacuate: east's clients move", aa, followed{producer: true, home: "east", region: "east"}, aaInit, aaEvac, move{SwitchTo: "west"}},
		{"aa evacuate: west's clients stay", aa, aaWestHome, aaInit, aaEvac, move{}},
		{"aa failback started: east's producer at west pauses", aa, aaEastAtWest, aaEvac, aaBackStart, move{Pause: true}},
		{"aa failback started: west's own producer keeps writing", aa, aaWestHome, aaEvac, aaBackStart, move{}},
		{"aa failback: east's clients go home and resume", aa, aaEastAtWestPaused, aaBackStart, aaBack, move{SwitchTo: "east", Resume: true}},
		{"aa planned move started: east's producer pauses", aa, followed{producer: true, home: "east", region: "east"}, aaInit, aaMoveStart, move{Pause: true}},
		{"aa planned move: east's clients move and resume", aa, aaEastPaused, aaMoveStart, aaMoved, move{SwitchTo: "west", Resume: true}},
		{"aa consumer follows its home's clients", aa, followed{home: "east", region: "east"}, aaInit, aaEvac, move{SwitchTo: "west"}},

		{"hub failover: hub producer moves to the new hub", hs, prodHub, hsInit, hsFailover, move{SwitchTo: "hub2"}},
		{"hub failover: spoke producer stays", hs, prodSpoke, hsInit, hsFailover, move{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decide(tc.kind, tc.c, tc.old, tc.cur); got != tc.want {
				t.Errorf("decide = %+v, want %+v", got, tc.want)
			}
		})
	}
}
