package chaos

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Fault is one kind of trouble a schedule puts a run in.
type Fault string

// The faults a schedule draws from; each is undone at the end of its
// step.
const (
	// KillAgent ends the standby's agent with SIGKILL, then starts it
	// again.
	KillAgent Fault = "kill-agent"
	// StopAgent freezes the agent (SIGSTOP), then continues it (SIGCONT).
	StopAgent Fault = "stop-agent"
	// Partition cuts the two data regions apart, both ways, then heals.
	Partition Fault = "partition"
	// SlowLink raises the WAN delay between the regions, then lowers it.
	SlowLink Fault = "slow-link"
	// RestartSource kills the source region's broker and starts it
	// again.
	RestartSource Fault = "restart-source-broker"
	// RestartTarget kills the target region's broker and starts it
	// again.
	RestartTarget Fault = "restart-target-broker"
)

// weights is how often each fault is drawn, out of their sum. Broker
// restarts cost a JVM start each on a 2-core machine, so they are rarer.
var weights = []struct {
	fault  Fault
	weight int
}{
	{KillAgent, 4},
	{StopAgent, 3},
	{Partition, 3},
	{SlowLink, 2},
	{RestartSource, 1},
	{RestartTarget, 1},
}

// Step is one fault of a schedule: after Pause, Fault is applied for Hold,
// then undone.
type Step struct {
	Pause time.Duration
	Fault Fault
	Hold  time.Duration
}

func (s Step) String() string {
	return fmt.Sprintf("after %s: %s for %s", s.Pause, s.Fault, s.Hold)
}

// Schedule returns the steps of a run of about length (pauses and holds
// add up to at least length), drawn from seed: the same seed gives the
// same schedule.
func Schedule(seed uint64, length time.Duration) []Step {
	rng := rand.New(rand.NewPCG(seed, 0x6368616f73))
	total := 0
	for _, w := range weights {
		total += w.weight
	}
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo)+1)) }
	var steps []Step
	var sum time.Duration
	for sum < length {
		x := rng.IntN(total)
		var f Fault
		for _, w := range weights {
			if x < w.weight {
				f = w.fault
				break
			}
			x -= w.weight
		}
		s := Step{Pause: between(500*time.Millisecond, 3*time.Second), Fault: f}
		switch f {
		case KillAgent:
			s.Hold = between(0, time.Second)
		case StopAgent, SlowLink:
			s.Hold = between(500*time.Millisecond, 4*time.Second)
		case Partition:
			s.Hold = between(time.Second, 6*time.Second)
		case RestartSource, RestartTarget:
			s.Hold = between(0, 2*time.Second)
		}
		steps = append(steps, s)
		sum += s.Pause + s.Hold
	}
	return steps
}

// Split is the one fault of a partition schedule (SplitSchedule), put on
// a mesh with a control plane: whether it fails over or not, no epoch may
// have two primaries.
type Split string

const (
	// CutPrimary isolates the primary region from both others: it must
	// fence itself and the standby be promoted.
	CutPrimary Split = "cut-primary"
	// CutOneWay drops what one data region sends the other, while the
	// other way still passes: each sees the other go quiet, the witness
	// sees both.
	CutOneWay Split = "cut-one-way"
	// CutWitness isolates the witness: the data regions are still a
	// majority, so nothing fails over.
	CutWitness Split = "cut-witness"
	// StopOneAgent freezes one region's agent (SIGSTOP) for 8s, then
	// continues it; when it is the primary's, the others may fail over
	// while it cannot fence itself.
	StopOneAgent Split = "stop-agent"
)

// splits are the faults SplitSchedule draws from, equally often.
var splits = []Split{CutPrimary, CutOneWay, CutWitness, StopOneAgent}

// SplitStep is a partition schedule: Split held for Hold. For CutOneWay,
// FromPrimary says the primary's traffic to the standby is dropped (else
// the standby's to the primary); for StopOneAgent, Agent is the role
// (primary, standby or witness) whose agent freezes.
type SplitStep struct {
	Split       Split
	FromPrimary bool
	Agent       string
	Hold        time.Duration
}

func (s SplitStep) String() string {
	switch s.Split {
	case CutOneWay:
		from, to := "standby", "primary"
		if s.FromPrimary {
			from, to = to, from
		}
		return fmt.Sprintf("%s %s→%s for %s", s.Split, from, to, s.Hold)
	case StopOneAgent:
		return fmt.Sprintf("%s of the %s for %s", s.Split, s.Agent, s.Hold)
	}
	return fmt.Sprintf("%s for %s", s.Split, s.Hold)
}

// SplitSchedule draws a partition schedule from seed. Cuts hold 9-15s,
// longer than a failover of a cut-off primary takes with the region-kill
// mesh's detection (5–7s: the promotion waits until the old primary has
// surely fenced itself), so it is replaced before the cut heals; a
// stopped agent stays stopped 8s.
func SplitSchedule(seed uint64) SplitStep {
	rng := rand.New(rand.NewPCG(seed, 0x73706c6974))
	s := SplitStep{Split: splits[rng.IntN(len(splits))]}
	s.Hold = 9*time.Second + time.Duration(rng.Int64N(int64(6*time.Second)+1))
	switch s.Split {
	case CutOneWay:
		s.FromPrimary = rng.IntN(2) == 0
	case StopOneAgent:
		s.Agent = []string{"primary", "standby", "witness"}[rng.IntN(3)]
		s.Hold = 8 * time.Second
	}
	return s
}
