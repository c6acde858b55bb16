package offsets

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestSyncRecord drives the bookkeeping of group sync health through a
// sequence of round outcomes and checks, after each, which groups fail,
// the classes counted and how far back InStep reaches.
func TestSyncRecord(t *testing.T) {
	denied := fmt.Errorf("cluster eu: commit offsets of group b: %w", kerr.GroupAuthorizationFailed)
	down := fmt.Errorf("cluster us: list groups: %w", &net.OpError{Op: "dial", Err: errors.New("connection refused")})
	other := errors.New("group a: translate orders/0: cluster eu: topic orders has no partition 0")

	type want struct {
		failing []string // groups, sorted
		classes []string // Failed calls of the round
		groups  int
		// inStep: "round" (the round's own end) or the index of an
		// earlier round whose end it must equal.
		inStep   any
		roundErr bool
	}
	steps := []struct {
		name string
		r    round
		want want
	}{
		{"a new group fails at once", round{listed: true, groups: []string{"a", "b"}, failed: map[string]error{"b": denied}},
			want{failing: []string{"b"}, classes: []string{SyncClassAuthorization}, groups: 2, inStep: 0}},
		{"all sync", round{listed: true, groups: []string{"a", "b"}},
			want{groups: 2, inStep: "round"}},
		{"one fails, the other syncs", round{listed: true, groups: []string{"a", "b"}, failed: map[string]error{"a": other}},
			want{failing: []string{"a"}, classes: []string{SyncClassOther}, groups: 2, inStep: 1}},
		{"the source cannot be listed: every known group fails", round{err: down},
			want{failing: []string{"a", "b"}, classes: []string{SyncClassUnreachable, SyncClassUnreachable}, groups: 2, inStep: 1, roundErr: true}},
		{"the target cannot be listed", round{listed: true, groups: []string{"a", "b"}, err: down},
			want{failing: []string{"a", "b"}, classes: []string{SyncClassUnreachable, SyncClassUnreachable}, groups: 2, inStep: 1, roundErr: true}},
		{"groups gone from the source are forgotten", round{listed: true, groups: []string{"c"}},
			want{groups: 1, inStep: "round"}},
		{"no group selected", round{listed: true},
			want{inStep: "round"}},
	}
	obs := &recordObserver{}
	s := NewSyncer(SyncConfig{Translator: NewTranslator(Config{Flow: topology.Flow{Source: "us", Target: "eu"}}), Observer: obs})
	var ends []time.Time
	var since time.Time
	for i, step := range steps {
		obs.classes = nil
		time.Sleep(2 * time.Millisecond) // rounds end at distinct times
		s.record(&step.r)
		st := s.Status()
		ends = append(ends, st.LastRound)
		var failing []string
		for _, f := range st.Failing {
			failing = append(failing, f.Group)
		}
		if !slices.Equal(failing, step.want.failing) || !slices.Equal(obs.classes, step.want.classes) ||
			st.Groups != step.want.groups || (st.Error != "") != step.want.roundErr {
			t.Fatalf("%s: failing %v classes %v groups %d error %q, want %+v", step.name, failing, obs.classes, st.Groups, st.Error, step.want)
		}
		switch w := step.want.inStep.(type) {
		case string:
			if !st.InStep.Equal(st.LastRound) {
				t.Fatalf("%s: in step at %v, want the round's end %v", step.name, st.InStep, st.LastRound)
			}
		case int:
			if !st.InStep.Equal(ends[w]) {
				t.Fatalf("%s: in step at %v, want the end of round %d, %v", step.name, st.InStep, w, ends[w])
			}
		}
		// A group failing in consecutive rounds keeps the start of its
		// run of failures.
		if i == 3 {
			since = st.Failing[0].Since
		}
		if i == 4 && !st.Failing[0].Since.Equal(since) {
			t.Fatalf("%s: a's failures since %v, want %v", step.name, st.Failing[0].Since, since)
		}
	}

	fresh := NewSyncer(SyncConfig{Translator: NewTranslator(Config{Flow: topology.Flow{Source: "us", Target: "eu"}}), Observer: obs})
	obs.classes = nil
	made := fresh.Status().InStep
	time.Sleep(2 * time.Millisecond)
	fresh.record(&round{err: down})
	if st := fresh.Status(); !st.InStep.Equal(made) || st.Error == "" || len(st.Failing) != 0 || !slices.Equal(obs.classes, []string{SyncClassUnreachable}) {
		t.Fatalf("a first round that lists nothing: %+v, classes %v", st, obs.classes)
	}
}

type recordObserver struct{ classes []string }

func (o *recordObserver) Committed(int) {}

func (o *recordObserver) Failed(class string) { o.classes = append(o.classes, class) }
