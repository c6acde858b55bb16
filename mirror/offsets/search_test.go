package offsets

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// partitionOf builds a modelled target partition from a short spec, one
// token per offset: "c5" a committed copy of source offset 5, "l" a local
// record, "t" a record of another writer's transaction that is still open.
// start is the log start offset.
func partitionOf(start int64, spec string) *mlog {
	l := newLog()
	for _, tok := range strings.Fields(spec) {
		switch {
		case tok == "l":
			l.append(entry{origin: -1})
		case tok == "t":
			l.append(entry{pid: foreignPID, origin: -1})
		case strings.HasPrefix(tok, "c"):
			o, err := strconv.ParseInt(tok[1:], 10, 64)
			if err != nil {
				panic(tok)
			}
			l.append(entry{copy: true, origin: o})
		default:
			panic(tok)
		}
	}
	l.start = start
	return l
}

// progress is a copier's committed progress: next, last source, last
// target.
type progress [3]int64

// TestTranslateTargetChanges pins the answers once the target partition
// is no longer only appended to: retention and DeleteRecords moved its
// log start, or the topic was deleted and created again and the copier's
// progress and the hints still name offsets of the old one.
func TestTranslateTargetChanges(t *testing.T) {
	tests := []struct {
		name  string
		log   *mlog
		prog  progress
		group int64
		// hints are (origin, target) pairs learned before, some of a
		// deleted topic.
		hints []Pair
		// high overrides the high watermark when not 0; -1 is unknown.
		high int64
		want Result
		// wantErr is ErrUnstable when the translation must wait.
		wantErr error
		// wantHints is the number of pairs left, -1 for any.
		wantHints int
	}{{
		name:  "retention deleted every copy",
		log:   partitionOf(4, "c0 c1 c2 l l l"),
		prog:  progress{3, 2, 2},
		group: 1,
		want:  Result{Offset: 4, State: Truncated, Origin: -1}, wantHints: -1,
	}, {
		name:  "DeleteRecords up to the end",
		log:   partitionOf(3, "c0 c1 c2"),
		prog:  progress{3, 2, 2},
		group: 0,
		want:  Result{Offset: 3, State: Truncated, Origin: -1}, wantHints: -1,
	}, {
		name:  "retention deleted the copy of the group offset, not later ones",
		log:   partitionOf(2, "c0 c1 c2 c3"),
		prog:  progress{4, 3, 3},
		group: 1,
		want:  Result{Offset: 2, State: Copied, Origin: 2}, wantHints: -1,
	}, {
		name:  "a group past the last copy after retention deleted it",
		log:   partitionOf(3, "c0 c1 c2 l"),
		prog:  progress{3, 2, 2},
		group: 3,
		want:  Result{Offset: 4, State: End, Origin: -1}, wantHints: -1,
	}, {
		name:  "recreated topic shorter than the last copy's offset: copies made are gone",
		log:   partitionOf(0, "l l"),
		prog:  progress{10, 9, 20},
		group: 5,
		want:  Result{Offset: 0, State: Truncated, Origin: -1}, wantHints: -1,
	}, {
		name:  "recreated topic shorter than the last copy's offset: a caught-up group ends at the new end",
		log:   partitionOf(0, "l l"),
		prog:  progress{10, 9, 20},
		group: 10,
		want:  Result{Offset: 2, State: End, Origin: -1}, wantHints: -1,
	}, {
		name:  "recreated topic shorter than the last copy's offset: a group past the copier",
		log:   partitionOf(0, "l l"),
		prog:  progress{10, 9, 20},
		group: 12,
		want:  Result{Offset: 2, State: Behind, Origin: -1}, wantHints: -1,
	}, {
		name:  "recreated topic with an open transaction in it: no wait",
		log:   partitionOf(0, "l t t"),
		prog:  progress{10, 9, 20},
		group: 10,
		want:  Result{Offset: 1, State: End, Origin: -1}, wantHints: -1,
	}, {
		name:  "recreated topic grown past the last copy's offset with local records",
		log:   partitionOf(0, strings.Repeat("l ", 25)),
		prog:  progress{10, 9, 20},
		group: 5,
		want:  Result{Offset: 0, State: Truncated, Origin: -1}, wantHints: -1,
	}, {
		name:  "recreated topic grown past the hints of the old one",
		log:   partitionOf(0, "c10 c11 c12 c13 c14 c15 c16 c17 c18 c19 c20 c21 c22 c23 c24 c25 c26 c27 c28 c29 c30"),
		prog:  progress{31, 30, 20},
		group: 4,
		hints: []Pair{{3, 10}, {6, 15}},
		want:  Result{Offset: 0, State: Copied, Origin: 10}, wantHints: -1,
	}, {
		name:  "a hint of the old topic on a copy of the new one",
		log:   partitionOf(0, "l l l l l c40 c41 c42"),
		prog:  progress{43, 42, 7},
		group: 7,
		hints: []Pair{{8, 5}},
		want:  Result{Offset: 5, State: Copied, Origin: 40}, wantHints: -1,
	}, {
		name:  "hints past the end of a recreated topic",
		log:   partitionOf(0, "c50 c51 c52"),
		prog:  progress{53, 52, 2},
		group: 6,
		hints: []Pair{{5, 30}, {7, 40}},
		want:  Result{Offset: 0, State: Copied, Origin: 50}, wantHints: -1,
	}, {
		name:  "hints that still hold are kept",
		log:   partitionOf(0, "c0 l c1 l c2 l c3 l c4 l c5"),
		prog:  progress{6, 5, 10},
		group: 3,
		hints: []Pair{{1, 2}, {4, 8}},
		want:  Result{Offset: 6, State: Copied, Origin: 3}, wantHints: 4,
	}, {
		name:    "another writer's open transaction hides the last copy",
		log:     partitionOf(0, "c0 c1 t c2"),
		prog:    progress{3, 2, 3},
		group:   1,
		wantErr: ErrUnstable,
	}, {
		// The last copy cannot be read, so it cannot be told from an
		// offset of a deleted topic that this one has grown past.
		name:    "an open transaction hides the last copy from a caught-up group",
		log:     partitionOf(0, "c0 c1 t c2"),
		prog:    progress{3, 2, 3},
		group:   3,
		wantErr: ErrUnstable,
	}, {
		name:    "no high watermark: a last copy past the end is waited for",
		log:     partitionOf(0, "l l"),
		prog:    progress{10, 9, 20},
		group:   10,
		high:    -1,
		wantErr: ErrUnstable,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hints := &Hints{}
			for _, p := range tc.hints {
				hints.learn(p.Origin, p.Target)
			}
			q := Query{
				Group: tc.group, SourceStart: 0,
				HasProgress: true, Next: tc.prog[0], LastSource: tc.prog[1], LastTarget: tc.prog[2],
				TargetStart: tc.log.start, TargetEnd: tc.log.lso(), TargetHigh: tc.log.end(),
			}
			if tc.high != 0 {
				q.TargetHigh = tc.high
			}
			for _, h := range []*Hints{hints, nil} {
				got, err := Translate(context.Background(), &target{l: tc.log}, q, h)
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("hints %v: got %+v, %v; want %v", h != nil, got, err, tc.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("hints %v: %v", h != nil, err)
				}
				got.Reads = 0
				if got != tc.want {
					t.Fatalf("hints %v: got %+v, want %+v", h != nil, got, tc.want)
				}
			}
			if tc.wantHints >= 0 && hints.Len() != tc.wantHints {
				t.Errorf("%d hints left, want %d", hints.Len(), tc.wantHints)
			}
		})
	}
}
