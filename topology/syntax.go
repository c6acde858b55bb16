package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// parseYAML returns the root mapping's node, or nil after reporting why
// there is none.
func (d *decoder) parseYAML(data []byte) *yaml.Node {
	data, ok := d.prepare(data)
	if !ok {
		return nil
	}
	root, second, err := parseDocuments(data)
	switch {
	case err != nil:
		d.syntaxError(data, err)
		return nil
	case second != nil:
		d.errorf(nodePos(second), "a topology file holds one YAML document; remove this second one")
		return nil
	case root == nil || len(root.Content) == 0:
		d.errorf(pos{1, 1}, "file is empty; a topology needs at least mesh, topology and regions")
		return nil
	}
	return root.Content[0]
}

// parseDocuments parses the first YAML document of data and, if there is
// one, the second.
func parseDocuments(data []byte) (first, second *yaml.Node, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs [2]yaml.Node
	for i := range docs {
		switch err := dec.Decode(&docs[i]); {
		case errors.Is(err, io.EOF):
			return first, nil, nil
		case err != nil:
			return nil, nil, err
		}
		if i == 0 {
			first = &docs[0]
		}
	}
	return first, &docs[1], nil
}

// prepare returns data as the parser is to see it, or false after
// reporting why it cannot be parsed. It reads UTF-16 with a byte order
// mark as yaml.v3 does, drops a UTF-8 byte order mark, refuses bytes that
// are not YAML text at their own line and column (yaml.v3 gives neither),
// and takes a %YAML 1.2 directive, which yaml.v3 refuses although it
// parses the 1.2 syntax.
func (d *decoder) prepare(data []byte) ([]byte, bool) {
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE, 0, 0}), bytes.HasPrefix(data, []byte{0, 0, 0xFE, 0xFF}):
		d.errorf(pos{1, 1}, "the file is UTF-32; save it as UTF-8")
		return nil, false
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		if len(data)%2 != 0 {
			d.errorf(pos{1, 1}, "the file starts as UTF-16 but has an odd number of bytes; save it as UTF-8")
			return nil, false
		}
		data = fromUTF16(data)
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if p, msg := checkText(data); msg != "" {
		d.errorf(p, "%s", msg)
		return nil, false
	}
	return d.directives(data)
}

// fromUTF16 converts text that starts with a UTF-16 byte order mark to
// UTF-8, keeping the mark.
func fromUTF16(data []byte) []byte {
	units := make([]uint16, len(data)/2)
	for i := range units {
		if data[0] == 0xFF {
			units[i] = uint16(data[2*i]) | uint16(data[2*i+1])<<8
		} else {
			units[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
		}
	}
	var out []byte
	for _, r := range utf16.Decode(units) {
		out = utf8.AppendRune(out, r)
	}
	return out
}

// checkText finds the first character that YAML does not allow in a
// file: bytes that are not UTF-8, NUL and other control characters.
func checkText(data []byte) (pos, string) {
	p := pos{1, 1}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return p, fmt.Sprintf("invalid UTF-8 (byte 0x%02x): a topology file is UTF-8 text; save it as UTF-8", data[i])
		case r == 0:
			return p, "NUL byte: a topology file is UTF-8 text, and this looks like a binary file"
		case !printable(r):
			return p, fmt.Sprintf("control character U+%04X is not allowed in YAML", r)
		}
		i += size
		if isBreak(r) && (r != '\r' || i == len(data) || data[i] != '\n') {
			p = pos{p.line + 1, 1}
		} else {
			p.col++
		}
	}
	return p, ""
}

// printable is YAML's set of characters a file may hold.
func printable(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0x7E) || r == 0x85 ||
		(r >= 0xA0 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= utf8.MaxRune)
}

// isBreak reports the characters that end a line for yaml.v3, and so for
// the lines of its nodes: \n, \r (alone or before \n), NEL, LS and PS.
func isBreak(r rune) bool {
	return r == '\n' || r == '\r' || r == 0x85 || r == 0x2028 || r == 0x2029
}

// lineStarts gives the offset of each line's first byte.
func lineStarts(data []byte) []int {
	starts := []int{0}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		i += size
		if isBreak(r) && (r != '\r' || i == len(data) || data[i] != '\n') && i < len(data) {
			starts = append(starts, i)
		}
	}
	return starts
}

// directives takes the %YAML directives before the document: 1.1, which
// yaml.v3 knows, and 1.2, which it parses but refuses to be told about.
// A 1.2 directive becomes a comment of the same length, so that every
// position stays where it was.
func (d *decoder) directives(data []byte) ([]byte, bool) {
	starts := lineStarts(data)
	copied := false
	for i, s := range starts {
		e := len(data)
		if i+1 < len(starts) {
			e = starts[i+1]
		}
		line := string(data[s:e])
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		if !strings.HasPrefix(line, "%YAML") {
			if line[0] == '%' {
				continue // %TAG, which yaml.v3 knows
			}
			break
		}
		f := strings.Fields(line[len("%YAML"):])
		if len(f) == 0 {
			break // yaml.v3 says what is missing
		}
		switch f[0] {
		case "1.1":
		case "1.2":
			if !copied {
				data, copied = bytes.Clone(data), true
			}
			data[s] = '#'
		default:
			at := len("%YAML") + strings.Index(line[len("%YAML"):], f[0])
			col := utf8.RuneCountInString(line[:at]) + 1
			d.errorf(pos{i + 1, col}, "YAML version %s is not supported; write %%YAML 1.2, or leave the directive out", clipped(f[0]))
			return nil, false
		}
	}
	return data, true
}

var yamlError = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parserProblems are yaml.v3's errors from its parser rather than its
// scanner; it reports them at a 0-based line.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// syntaxError reports a YAML syntax error where the parser gave up.
//
// yaml.v3 names a line, often not the line of the mistake: the line where
// the mapping, list or string began that the mistake broke, one too few
// for its parser's errors, and no line at all for some. So the line it
// names is only where to start looking, and locate finds the place.
func (d *decoder) syntaxError(data []byte, err error) {
	m := yamlError.FindStringSubmatch(err.Error())
	if m == nil {
		d.errorf(pos{1, 0}, "invalid yaml: %s", err)
		return
	}
	problem := m[2]
	from, _ := strconv.Atoi(m[1])
	if m[1] == "" || parserProblems[problem] {
		from++
	}
	p := locate(data, problem, from)
	at := charAt(data, p)
	switch {
	case at == '\t':
		d.errorf(p, "tabs are not allowed for indentation; indent with spaces")
	case problem == "found character that cannot start any token" && (at == '@' || at == '`'):
		d.errorf(p, "%q cannot start a value; put the value in quotes", at)
	case strings.HasPrefix(problem, "unknown anchor '"):
		name := strings.TrimSuffix(strings.TrimPrefix(problem, "unknown anchor '"), "' referenced")
		// The parser fails once it has read the whole name: point at the
		// '*' before it.
		if star := (pos{p.line, p.col - utf8.RuneCountInString(name)}); charAt(data, star) == '*' {
			p = star
		}
		d.errorf(p, "alias *%s refers to no anchor: an anchor (&%s) must come before its aliases", clipped(name), clipped(name))
	default:
		d.errorf(p, "invalid yaml: %s", problem)
	}
}

// charAt is the character at p, or 0 if p names none.
func charAt(data []byte, p pos) rune {
	starts := lineStarts(data)
	if p.col < 1 || p.line < 1 || p.line > len(starts) {
		return 0
	}
	line := data[starts[p.line-1]:]
	for range p.col - 1 {
		r, size := utf8.DecodeRune(line)
		if size == 0 || isBreak(r) {
			return 0
		}
		line = line[size:]
	}
	r, _ := utf8.DecodeRune(line)
	return r
}

// locateBudget bounds the bytes locate parses: twice the largest file,
// about a second of work; files of a few hundred kilobytes get all the
// parses they need.
const locateBudget = 2 * MaxFileSize

// locate finds where the parser gives up with problem: the line that first
// makes a prefix of data fail the same way, searched from line from on,
// and the character of that line that does. yaml.v3 stops at the first
// token that does not fit, so the shortest failing prefix ends at it. If
// the search would cost too much or finds nothing, it keeps line from
// with no column.
func locate(data []byte, problem string, from int) pos {
	starts := lineStarts(data)
	lines := len(starts)
	from = min(max(from, 1), lines)
	budget := locateBudget
	fails := func(cut int) bool {
		budget -= cut
		if budget < 0 {
			return false
		}
		_, _, err := parseDocuments(data[:cut])
		if err == nil {
			return false
		}
		m := yamlError.FindStringSubmatch(err.Error())
		return m != nil && m[2] == problem
	}
	through := func(line int) int { // the end of a line, its break included
		if line < lines {
			return starts[line]
		}
		return len(data)
	}
	// Lines before from do not fail: yaml.v3 names a line at or before
	// the problem's. Gallop from there, then halve.
	lo, hi, step := from-1, from, 1
	for !fails(through(hi)) {
		if hi == lines || budget < 0 {
			return pos{from, 0}
		}
		lo, hi, step = hi, min(hi+step, lines), step*2
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if fails(through(mid)) {
			hi = mid
		} else {
			lo = mid
		}
	}
	if budget < 0 {
		return pos{from, 0}
	}
	// Within the line: the first character whose end makes it fail.
	var ends []int
	for i := starts[hi-1]; i < through(hi); {
		_, size := utf8.DecodeRune(data[i:])
		i += size
		ends = append(ends, i)
	}
	a, b := -1, len(ends)-1 // ends[b] fails; a is before the line
	for b-a > 1 {
		mid := (a + b) / 2
		if fails(ends[mid]) {
			b = mid
		} else {
			a = mid
		}
	}
	if budget < 0 {
		return pos{hi, 0}
	}
	return pos{hi, b + 1}
}
