package topology

import (
	"regexp/syntax"
	"unicode"
)

// onlyPrefixed reports which of prefixes every name a pattern matches
// starts with: it returns one such prefix, or "" when the pattern can
// match a name that starts with none of them, or when it cannot tell. A
// '.' in the pattern counts as the dot it usually stands for, so that
// "geomesh.progress" is judged as the topic it names rather than also as
// "geomeshXprogress".
func onlyPrefixed(pattern string, prefixes []string) string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return ""
	}
	re = re.Simplify()
	left := make([]prefixLeft, 0, len(prefixes))
	for _, p := range prefixes {
		if p != "" {
			left = append(left, prefixLeft{p, p})
		}
	}
	return startsWith([]*syntax.Regexp{re}, left)
}

// prefixLeft is a prefix and the part of it still to be matched.
type prefixLeft struct{ prefix, rest string }

// startsWith returns a prefix whose whole rest every match of the
// concatenation seq starts with, or "".
func startsWith(seq []*syntax.Regexp, left []prefixLeft) string {
	for _, l := range left {
		if l.rest == "" {
			return l.prefix
		}
	}
	if len(seq) == 0 || len(left) == 0 {
		return ""
	}
	first, rest := seq[0], seq[1:]
	then := func(subs ...*syntax.Regexp) []*syntax.Regexp {
		return append(append([]*syntax.Regexp(nil), subs...), rest...)
	}
	switch first.Op {
	case syntax.OpLiteral:
		lit := first.Rune
		if first.Flags&syntax.FoldCase != 0 {
			for _, r := range lit {
				if unicode.SimpleFold(r) != r {
					return "" // several spellings
				}
			}
		}
		return startsWith(rest, consume(left, string(lit)))
	case syntax.OpCharClass:
		if len(first.Rune) == 2 && first.Rune[0] == first.Rune[1] {
			return startsWith(rest, consume(left, string(first.Rune[0])))
		}
		return ""
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return startsWith(rest, consume(left, "."))
	case syntax.OpConcat:
		return startsWith(then(first.Sub...), left)
	case syntax.OpCapture:
		return startsWith(then(first.Sub[0]), left)
	case syntax.OpAlternate:
		var found string
		for _, sub := range first.Sub {
			if found = startsWith(then(sub), left); found == "" {
				return ""
			}
		}
		return found
	case syntax.OpQuest:
		// Either nothing or one match of the operand, then the rest.
		if startsWith(rest, left) == "" {
			return ""
		}
		return startsWith(then(first.Sub[0]), left)
	case syntax.OpStar:
		if startsWith(rest, left) == "" {
			return ""
		}
		// With the operand at least once, its first match must carry the
		// prefix whole: the operand matches what its repetitions may not.
		return startsWith(first.Sub[:1], left)
	case syntax.OpPlus:
		return startsWith(first.Sub[:1], left)
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpBeginText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return startsWith(rest, left)
	}
	return ""
}

// consume matches s against what is left of each prefix: a prefix whose
// rest s starts with is done (rest ""), one whose rest starts with s goes
// on, the others drop out.
func consume(left []prefixLeft, s string) []prefixLeft {
	var out []prefixLeft
	for _, l := range left {
		switch {
		case len(s) >= len(l.rest) && s[:len(l.rest)] == l.rest:
			return []prefixLeft{{l.prefix, ""}}
		case len(s) < len(l.rest) && l.rest[:len(s)] == s:
			out = append(out, prefixLeft{l.prefix, l.rest[len(s):]})
		}
	}
	return out
}
