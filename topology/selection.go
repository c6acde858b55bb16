package topology

import (
	"errors"
	"fmt"
	"regexp"
)

// Selection picks topics or consumer groups by name. Patterns are Go regular
// expressions that must match the whole name, as in MirrorMaker 2's topics
// and groups lists: "orders" selects only "orders", "orders.*" selects
// "orders" and "orders-eu". A name is selected when an include pattern
// matches it and no exclude pattern does.
//
// An empty include selects nothing, at every level of the file: topics,
// groups, topology.broadcast and a flow's topics. A file tells an empty
// include ("include: []") from an absent one (no include key, or
// "include:" with no value): an absent include is every name (".*") for
// topics and groups, nothing for broadcast, and the mesh's topics include
// for a flow override, whose absent exclude is likewise the mesh's.
//
// Parse compiles the patterns of every selection in the file once, and
// reports one that does not compile at its line and column. In Go code,
// build a selection with [NewSelection] or [MustSelection], which compile
// too. A Selection written as a literal still matches correctly, but
// compiles its patterns on every call to Match and panics on an invalid one.
type Selection struct {
	// Patterns of names to select.
	Include []string `yaml:"include"`
	// Patterns of names to leave out even when an include pattern matches.
	Exclude []string `yaml:"exclude"`

	// include and exclude are Include and Exclude compiled, one for one;
	// nil for a list that was never compiled.
	include, exclude []pattern
}

// pattern is one pattern of a selection as written and compiled.
type pattern struct {
	src string
	re  *regexp.Regexp // src anchored to the whole name
}

// NewSelection compiles the include and exclude patterns. The error names
// every pattern that does not compile.
func NewSelection(include, exclude []string) (Selection, error) {
	s := Selection{Include: include, Exclude: exclude}
	var errs []error
	s.compile(func(list string, i int, err error) {
		errs = append(errs, err)
	})
	return s, errors.Join(errs...)
}

// MustSelection is NewSelection for patterns known to be valid; it panics
// on one that is not.
func MustSelection(include, exclude []string) Selection {
	s, err := NewSelection(include, exclude)
	if err != nil {
		panic("topology: " + err.Error())
	}
	return s
}

// plannedSelection is a selection Plan puts together from the mesh's
// patterns. It compiles what compiles and leaves a list with an invalid
// pattern uncompiled, for Match to panic on: Plan also runs while Parse
// validates a file, where the decoder has already reported the pattern at
// its line and column, and a mesh Parse returns has no invalid pattern.
func plannedSelection(include, exclude []string) Selection {
	s := Selection{Include: include, Exclude: exclude}
	s.compile(func(string, int, error) {})
	return s
}

// compile fills the compiled lists from Include and Exclude, and calls bad
// for each pattern that does not compile, with its list ("include" or
// "exclude") and index. A list with a bad pattern stays uncompiled.
func (s *Selection) compile(bad func(list string, i int, err error)) {
	s.include = compileList("include", s.Include, bad)
	s.exclude = compileList("exclude", s.Exclude, bad)
}

func compileList(list string, srcs []string, bad func(list string, i int, err error)) []pattern {
	var out []pattern
	ok := true
	for i, src := range srcs {
		re, err := compilePattern(list, src)
		if err != nil {
			bad(list, i, err)
			ok = false
			continue
		}
		out = append(out, pattern{src, re})
	}
	if !ok {
		return nil
	}
	return out
}

// compilePattern anchors src to the whole name. It compiles src alone
// first, so that a pattern such as "a)|(b" cannot escape the anchoring
// group and pass as valid.
func compilePattern(list, src string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(src); err != nil {
		return nil, fmt.Errorf("invalid %s pattern %q: %w", list, src, err)
	}
	re, err := regexp.Compile(`^(?:` + src + `)$`)
	if err != nil {
		return nil, fmt.Errorf("invalid %s pattern %q: %w", list, src, err)
	}
	return re, nil
}

// inherit fills the lists s leaves out (nil, as the decoder leaves an
// absent list) with those of from, compiled as they are there.
func (s *Selection) inherit(from Selection) {
	if s.Include == nil {
		s.Include, s.include = from.Include, from.include
	}
	if s.Exclude == nil {
		s.Exclude, s.exclude = from.Exclude, from.exclude
	}
}

// setInclude replaces the include patterns, compiled. It is for patterns
// known to be valid, such as defaults, and panics on one that is not.
func (s *Selection) setInclude(srcs ...string) {
	s.Include = srcs
	s.include = compileList("include", srcs, func(_ string, _ int, err error) {
		panic("topology: " + err.Error())
	})
}

// Match reports whether the selection picks name. It uses the compiled
// form of each pattern when the selection holds one for exactly that
// pattern, and otherwise compiles the pattern now, panicking if it is
// invalid: only a Selection built in Go code can get there, since Parse
// rejects a file with an invalid pattern.
func (s Selection) Match(name string) bool {
	return matchAny("include", s.Include, s.include, name) && !matchAny("exclude", s.Exclude, s.exclude, name)
}

func matchAny(list string, srcs []string, compiled []pattern, name string) bool {
	for i, src := range srcs {
		var re *regexp.Regexp
		if i < len(compiled) && compiled[i].src == src {
			re = compiled[i].re
		} else {
			var err error
			if re, err = compilePattern(list, src); err != nil {
				panic("topology: " + err.Error())
			}
		}
		if re.MatchString(name) {
			return true
		}
	}
	return false
}
