package topology

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Error is one problem in a topology file. Line and Col are 1-based; Col is 0
// when only the line is known (a YAML syntax error in a file too large to
// search for its column) and Line is 0 when the problem is the whole file
// (it could not be read, or is too large).
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

// Error formats the problem as "file:line:col: msg", the form editors and
// CI annotations jump to.
func (e Error) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Col == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Errors is every problem found in one file, sorted by position.
type Errors []Error

// Error puts one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted orders by position and drops exact repeats, which arise when one
// bad node breaks two checks that word their complaint the same way.
func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Col < es[j].Col
	})
	out := es[:0]
	for i, e := range es {
		if i > 0 && e == es[i-1] {
			continue
		}
		out = append(out, e)
	}
	return out
}

// maxQuote is how much of a value from the file a message quotes, and
// maxMessage the longest message: the longest written is under 300
// bytes, so only one that quotes a long value reaches it.
const (
	maxQuote   = 64
	maxMessage = 1000
)

// clipped is a value from the file as messages show it: whole up to
// maxQuote bytes and a little more, else its first maxQuote bytes and its
// length, so that a 50 MB value is not echoed whole.
type clipped string

func (c clipped) Format(f fmt.State, verb rune) {
	s := string(c)
	if len(s) <= maxQuote+16 {
		fmt.Fprintf(f, fmt.FormatString(f, verb), s)
		return
	}
	cut := s[:maxQuote]
	for len(cut) > 0 && !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1]
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), cut)
	fmt.Fprintf(f, "… (%d bytes)", len(s))
}

// clipMiddle cuts s, if longer than max bytes, to its start and end around
// its length, as "start… (N bytes) …end".
func clipMiddle(s string, max int) string {
	if len(s) <= max {
		return s
	}
	head, tail := s[:max*2/3], s[len(s)-max/4:]
	for len(head) > 0 && !utf8.ValidString(head) {
		head = head[:len(head)-1]
	}
	for len(tail) > 0 && !utf8.ValidString(tail) {
		tail = tail[1:]
	}
	return fmt.Sprintf("%s… (%d bytes) …%s", head, len(s), tail)
}
