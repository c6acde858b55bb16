package quorum

import (
	"errors"
	"fmt"
	"sync"
	"time"
	_ "unsafe" // for go:linkname
)

// This file is geomesh's only reach into nats-server's internals. It
// writes two unexported variables of package
// github.com/nats-io/nats-server/v2/server, as read in v2.15.2,
// server/raft.go:
//
//	minElectionTimeout = minElectionTimeoutDefault // 4s, lines 317 and 331
//	maxElectionTimeout = maxElectionTimeoutDefault // 9s, lines 318 and 332
//
// randElectionTimeout (lines 2767–2770) draws every follower's and
// candidate's election timer from [min, max); a follower re-arms it on
// each append entry or heartbeat from its leader (processAppendEntry,
// lines 4682–4686), and switchToCandidate waits min/4 or min where it
// may not stand yet (lines 6253, 6264, 6272). nats-server has no setting
// for them: none in Options, ClusterOpts, the JetStream options or the
// config file (opts.go) of v2.15.2, nor of v2.15.3, the newest release
// when this was written. Its own tests set them the same way
// (jetstream_helpers_test.go, lines 52–53). Why geomesh shortens them,
// and to what: election.go.
//
// Nothing checks a go:linkname to a variable at build time. If
// nats-server renames or removes a variable, ours silently becomes a
// variable of its own and raft keeps its 4–9s; if it changes the type or
// the meaning, we would write a value of the wrong shape. Hence:
//
//   - natsElectionAtInit keeps what the variables held before anything
//     wrote them, and setNATSElection writes only if that is exactly
//     nats-server's 4s and 9s (checkNATSElection); otherwise it writes
//     nothing and returns why, and the node logs it as a warning.
//   - TestNATSElectionDefaults fails when they do not hold 4s and 9s;
//     TestElectionAfterLeaderLoss fails when the survivors of a killed
//     stream leader take longer to elect a new one than the window set
//     here allows, as with nats-server's own (never before 4s): when
//     what is written is not what raft reads.
//
// The variables are global to the process: every raft group of every
// server in it draws from one window. Raft goroutines read them without
// a lock, so setNATSElection writes them once, before the process's
// first server starts; the first node's window then holds for all.

//go:linkname natsMinElectionTimeout github.com/nats-io/nats-server/v2/server.minElectionTimeout
var natsMinElectionTimeout time.Duration

//go:linkname natsMaxElectionTimeout github.com/nats-io/nats-server/v2/server.maxElectionTimeout
var natsMaxElectionTimeout time.Duration

// natsElectionDefault is nats-server's own window: minElectionTimeoutDefault
// and maxElectionTimeoutDefault, server/raft.go lines 317–318 of v2.15.2.
var natsElectionDefault = electionWindow{Min: 4 * time.Second, Max: 9 * time.Second}

// natsElectionAtInit is what the variables held when this package was
// initialized: after package server (which it imports), before anything
// wrote them.
var natsElectionAtInit = electionWindow{Min: natsMinElectionTimeout, Max: natsMaxElectionTimeout}

// natsElection is the outcome of the process's one setNATSElection.
var natsElection struct {
	once sync.Once
	w    electionWindow
	err  error
}

// setNATSElection sets the election window of every raft group of this
// process to w. Only its first call writes, and it must come before the
// process starts its first nats-server; every call returns the window in
// effect (the first call's). It writes nothing and returns an error when
// the variables did not hold nats-server's defaults at init, or when w
// is not a window raft can draw from (rand.Int64N panics unless
// Max > Min); the process's raft groups then keep nats-server's timers.
func setNATSElection(w electionWindow) (electionWindow, error) {
	natsElection.once.Do(func() {
		if err := checkNATSElection(natsElectionAtInit); err != nil {
			natsElection.err = err
			return
		}
		if w.Min <= 0 || w.Max <= w.Min {
			natsElection.err = fmt.Errorf("election window %v–%v: want 0 < min < max", w.Min, w.Max)
			return
		}
		natsMinElectionTimeout, natsMaxElectionTimeout = w.Min, w.Max
		natsElection.w = w
	})
	return natsElection.w, natsElection.err
}

// checkNATSElection reports whether at, what nats-server's variables
// held before anything wrote them, is its default window: at run time
// the only sign that the linknames reach the variables raft reads, with
// the type and meaning this file expects.
func checkNATSElection(at electionWindow) error {
	switch {
	case at == natsElectionDefault:
		return nil
	case at == electionWindow{}:
		return errors.New("minElectionTimeout and maxElectionTimeout of package server are gone (renamed or removed); raft keeps its own election timers")
	default:
		return fmt.Errorf("minElectionTimeout and maxElectionTimeout of package server held %d and %d, not %v and %v: their type or meaning changed; left alone, raft keeps its own election timers",
			int64(at.Min), int64(at.Max), natsElectionDefault.Min, natsElectionDefault.Max)
	}
}
