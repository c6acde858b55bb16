package chaos

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestScheduleIsSeeded(t *testing.T) {
	a, b := Schedule(7, time.Minute), Schedule(7, time.Minute)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("seed 7 twice (-first +second):\n%s", diff)
	}
	if cmp.Equal(a, Schedule(8, time.Minute)) {
		t.Fatal("seeds 7 and 8 give the same schedule")
	}
}

func TestScheduleShape(t *testing.T) {
	for _, tc := range []struct {
		length   time.Duration
		minSteps int
	}{
		{20 * time.Second, 3},
		{10 * time.Minute, 60},
	} {
		seen := map[Fault]int{}
		for seed := range uint64(20) {
			steps := Schedule(seed, tc.length)
			var sum time.Duration
			for _, s := range steps {
				sum += s.Pause + s.Hold
				seen[s.Fault]++
				if s.Pause < 500*time.Millisecond || s.Pause > 3*time.Second || s.Hold < 0 || s.Hold > 6*time.Second {
					t.Errorf("seed %d: step %s out of bounds", seed, s)
				}
			}
			if sum < tc.length || sum > tc.length+9*time.Second {
				t.Errorf("seed %d, length %s: steps add up to %s", seed, tc.length, sum)
			}
			if len(steps) < tc.minSteps {
				t.Errorf("seed %d, length %s: %d steps, want at least %d", seed, tc.length, len(steps), tc.minSteps)
			}
		}
		for _, w := range weights {
			if seen[w.fault] == 0 {
				t.Errorf("length %s: no %s in 20 schedules", tc.length, w.fault)
			}
		}
		// Kills are drawn four times as often as each broker restart.
		if tc.length == 10*time.Minute && !(seen[KillAgent] > 2*seen[RestartSource]) {
			t.Errorf("kills %d vs source restarts %d: weights not applied", seen[KillAgent], seen[RestartSource])
		}
	}
}

func TestSplitSchedule(t *testing.T) {
	if a, b := SplitSchedule(3), SplitSchedule(3); a != b {
		t.Fatalf("seed 3 twice: %v, then %v", a, b)
	}
	seen := map[Split]int{}
	for seed := range uint64(200) {
		s := SplitSchedule(seed)
		seen[s.Split]++
		switch {
		case s.Split == StopOneAgent && (s.Hold != 8*time.Second || s.Agent == ""):
			t.Errorf("seed %d: %v, want 8s of one named agent", seed, s)
		case s.Split != StopOneAgent && (s.Hold < 9*time.Second || s.Hold > 15*time.Second || s.Agent != ""):
			t.Errorf("seed %d: %v, want a cut of 9-15s", seed, s)
		case s.Split != CutOneWay && s.FromPrimary:
			t.Errorf("seed %d: %v has a direction", seed, s)
		}
	}
	for _, sp := range splits {
		if seen[sp] < 30 {
			t.Errorf("%s drawn %d times in 200 seeds, want about 50", sp, seen[sp])
		}
	}
}
