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
