package topology

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// firstError parses src and returns its first error without the file name.
func firstError(t *testing.T, src string) string {
	t.Helper()
	_, err := Parse("f.yaml", []byte(src))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		t.Fatalf("Parse(%q) = %v, want Errors", src, err)
	}
	return strings.TrimPrefix(errs[0].Error(), "f.yaml:")
}

// TestSyntaxErrorPositions: a syntax error is placed where the parser gave
// up, which yaml.v3 does not say: it names the line where the enclosing
// mapping, list or string began, and for its parser's errors one line
// too few.
func TestSyntaxErrorPositions(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"dedent in a nested mapping", "mesh: x\nregions:\n  - name: a\n    kafka:\n      x: 1\n      y: 2\n     w: 4\n",
			"7:6: invalid yaml: did not find expected key"},
		{"list item out of line", "mesh: x\nregions:\n  - name: a\n    kafka: 1\n  - name: b\n   - name: c\n",
			"6:4: invalid yaml: did not find expected '-' indicator"},
		{"flow mapping not closed", "mesh: x\nregions:\n  - name: a\n  - {name: b\n    kafka: 2\n",
			"4:6: invalid yaml: did not find expected ',' or '}'"},
		{"flow list not closed", "a: 1\nb: [x\nc: 2\n", "2:5: invalid yaml: did not find expected ',' or ']'"},
		{"string not closed", "mesh: x\nregions:\n  - name: \"b\n    kafka: 2\n", "3:11: invalid yaml: found unexpected end of stream"},
		{"two mapping values", "mesh: x\nregions:\n  - name: b: c\n", "3:12: invalid yaml: mapping values are not allowed in this context"},
		{"empty list item", "mesh: x\nregions: [a, ,]\n", "2:10: invalid yaml: did not find expected node content"},
		{"missing colon", "mesh: x\nregions\nnaming: prefix\n", "2:1: invalid yaml: could not find expected ':'"},
		{"bad escape", "mesh: x\nnaming: \"a\\qb\"\n", "2:11: invalid yaml: found unknown escape character"},
		{"list in a value", "mesh: x\nnaming: - x\n", "2:9: invalid yaml: block sequence entries are not allowed in this context"},
		{"undefined tag handle", "mesh: x\nnaming: !a!b x\n", "2:12: invalid yaml: found undefined tag handle"},
		{"tab indenting a key", "mesh: x\ntopology:\n\tkind: active-active\n", "3:1: tabs are not allowed for indentation; indent with spaces"},
		{"tab after spaces", "mesh: x\ntopology:\n  kind: active-active\n  \tprimary: a\n", "4:3: tabs are not allowed for indentation; indent with spaces"},
		{"tab in a block string", "mesh: |\n  x\n\ty\n", "3:1: tabs are not allowed for indentation; indent with spaces"},
		{"reserved @", "mesh: x\nnaming: @prefix\n", "2:9: '@' cannot start a value; put the value in quotes"},
		{"reserved backquote", "mesh: x\nnaming: `prefix`\n", "2:9: '`' cannot start a value; put the value in quotes"},
		{"unknown anchor", "mesh: x\nnaming: *nam\n", "2:9: alias *nam refers to no anchor: an anchor (&nam) must come before its aliases"},
		{"error in a second document", "mesh: x\n---\na: [\n", "3:4: invalid yaml: did not find expected node content"},
		{"CRLF line ends", "mesh: x\r\nregions:\r\n  - name: a\r\n   - name: c\r\n", "4:4: invalid yaml: did not find expected '-' indicator"},
		{"nesting too deep", "mesh: " + strings.Repeat("[", 10001) + "\n", "1:10007: invalid yaml: exceeded max depth of 10000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := firstError(t, c.src); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

// TestBadText: bytes that are not YAML text are reported at their own
// line and column, before the parser, which gives neither, sees them.
func TestBadText(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"NUL", "mesh: x\nnaming: pre\x00fix\n", "2:12: NUL byte: a topology file is UTF-8 text, and this looks like a binary file"},
		{"Latin-1", "mesh: x\n# caf\xe9\nnaming: prefix\n", "2:6: invalid UTF-8 (byte 0xe9): a topology file is UTF-8 text; save it as UTF-8"},
		{"bell", "mesh: x\nnaming: \a\n", "2:9: control character U+0007 is not allowed in YAML"},
		{"DEL", "mesh: x\x7f\n", "1:8: control character U+007F is not allowed in YAML"},
		{"after CR line ends", "mesh: x\rnaming: \x01\r", "2:9: control character U+0001 is not allowed in YAML"},
		{"after a multi-byte character", "mesh: héé\x00", "1:10: NUL byte: a topology file is UTF-8 text, and this looks like a binary file"},
		{"UTF-32", "\xff\xfe\x00\x00m\x00\x00\x00", "1:1: the file is UTF-32; save it as UTF-8"},
		{"odd UTF-16", "\xff\xfem\x00e", "1:1: the file starts as UTF-16 but has an odd number of bytes; save it as UTF-8"},
		{"YAML 1.3", "# a comment\n%YAML 1.3\n---\nmesh: x\n", "2:7: YAML version 1.3 is not supported; write %YAML 1.2, or leave the directive out"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := firstError(t, c.src); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

// TestYAMLForms: a %YAML 1.2 or 1.1 directive, a byte order mark and
// UTF-16 read as the plain UTF-8 file does, and positions stay right.
func TestYAMLForms(t *testing.T) {
	plain, err := os.ReadFile("testdata/valid/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Parse("minimal.yaml", plain)
	if err != nil {
		t.Fatal(err)
	}
	utf16le := func(b []byte) []byte {
		out := []byte{0xFF, 0xFE}
		for _, u := range utf16.Encode([]rune(string(b))) {
			out = append(out, byte(u), byte(u>>8))
		}
		return out
	}
	utf16be := func(b []byte) []byte {
		out := []byte{0xFE, 0xFF}
		for _, u := range utf16.Encode([]rune(string(b))) {
			out = append(out, byte(u>>8), byte(u))
		}
		return out
	}
	for name, src := range map[string][]byte{
		"%YAML 1.2":            append([]byte("%YAML 1.2\n---\n"), plain...),
		"%YAML 1.1":            append([]byte("%YAML 1.1 # a comment\n---\n"), plain...),
		"UTF-8 BOM":            append([]byte("\uFEFF"), plain...),
		"UTF-16LE":             utf16le(plain),
		"UTF-16BE":             utf16be(plain),
		"CRLF":                 bytes.ReplaceAll(plain, []byte("\n"), []byte("\r\n")),
		"CR":                   bytes.ReplaceAll(plain, []byte("\n"), []byte("\r")),
		"not 1.2 in a comment": append([]byte("# %YAML 2.0\n"), plain...),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Parse("minimal.yaml", src)
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != want.Name || len(got.Regions) != len(want.Regions) || got.Regions[1].Agents[0].ID != want.Regions[1].Agents[0].ID {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
	// The directive and the byte order mark keep the lines and columns
	// of what follows them.
	bad := bytes.Replace(plain, []byte("kind: active-passive"), []byte("kind: ring"), 1)
	const ring = "unknown topology kind \"ring\"; want active-passive, active-active or hub-spoke"
	// The line of the kind in the file as it is; the directive adds two.
	line := bytes.Count(bad[:bytes.Index(bad, []byte("kind: ring"))], []byte("\n")) + 1
	for name, c := range map[string]struct {
		src  []byte
		want string
	}{
		"%YAML 1.2": {append([]byte("%YAML 1.2\n---\n"), bad...), fmt.Sprintf("%d:9: %s", line+2, ring)},
		"UTF-8 BOM": {append([]byte("\uFEFF"), bad...), fmt.Sprintf("%d:9: %s", line, ring)},
		"UTF-16LE":  {utf16le(bytes.Replace(bad, []byte("# The"), []byte("# Thé"), 1)), fmt.Sprintf("%d:9: %s", line, ring)},
	} {
		if got := firstError(t, string(c.src)); got != c.want {
			t.Errorf("%s: got  %s\nwant %s", name, got, c.want)
		}
	}
}

// TestLocateBudget: on a file near the cap, placing a syntax error costs
// a bounded number of parses, about a second of work; the limit is
// generous for a shared machine.
func TestLocateBudget(t *testing.T) {
	start := time.Now()
	var b strings.Builder
	b.WriteString("mesh: x\nregions:\n")
	for b.Len() < MaxFileSize-100 {
		b.WriteString("  - {name: a, kafka: {bootstrap: [\"k:9092\"]}}\n")
	}
	b.WriteString("   - name: c\n")
	_, err := Parse("big.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "did not find expected '-' indicator") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}
