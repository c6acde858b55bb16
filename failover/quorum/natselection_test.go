package quorum

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsElectionHelp is what to do when a guard of natselection.go fails.
const natsElectionHelp = `geomesh sets nats-server's raft election window through go:linkname
(failover/quorum/natselection.go), written against nats-server v2.15.2.
A failure here means the nats-server in go.mod no longer matches it.
Read randElectionTimeout and the variables it draws from in that
version's server/raft.go. If nats-server now has an option for the
election timeouts, set it per node in serverOptions and delete
natselection.go; if the variables were renamed, retyped or re-defaulted,
follow them in natselection.go (natsElectionDefault included) and in the
comments citing raft.go. Until then embedded nodes elect with
nats-server's 4–9s. See docs/architecture.md, "NATS election timing".`

// natsServerVersion is the nats-server this test binary was built with.
func natsServerVersion() string { return "v" + server.VERSION }

// TestNATSElectionDefaults checks that the variables natselection.go
// reaches held nats-server's defaults, 4s and 9s, before anything wrote
// them: so they exist, have the type time.Duration and, most likely, the
// meaning they had. Whether raft still reads them is
// TestElectionAfterLeaderLoss's question.
func TestNATSElectionDefaults(t *testing.T) {
	t.Logf("nats-server %s: minElectionTimeout %v, maxElectionTimeout %v at init", natsServerVersion(), natsElectionAtInit.Min, natsElectionAtInit.Max)
	if err := checkNATSElection(natsElectionAtInit); err != nil {
		t.Fatalf("nats-server %s: %v\n\n%s", natsServerVersion(), err, natsElectionHelp)
	}
}

func TestCheckNATSElection(t *testing.T) {
	for _, tc := range []struct {
		at   electionWindow
		want string // in the error; "" for none
	}{
		{electionWindow{4 * time.Second, 9 * time.Second}, ""},
		{electionWindow{}, "renamed or removed"},
		{electionWindow{4000, 9000}, "held 4000 and 9000"},
		{electionWindow{3 * time.Second, 9 * time.Second}, "type or meaning changed"},
	} {
		err := checkNATSElection(tc.at)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v, want nil", tc.at, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v, want an error with %q", tc.at, err, tc.want)
		}
	}
}

func TestElectionWindowFor(t *testing.T) {
	for slot, want := range []electionWindow{
		{2 * time.Second, 2500 * time.Millisecond},
		{2500 * time.Millisecond, 3 * time.Second},
		{3 * time.Second, 3500 * time.Millisecond},
	} {
		if got := electionWindowFor(slot); got != want {
			t.Errorf("electionWindowFor(%d) = %v, want %v", slot, got, want)
		}
	}
}
