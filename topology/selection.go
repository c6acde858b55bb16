package topology

import (
	"regexp"
	"sync"
)

// Selection picks topics or consumer groups by name. Patterns are Go regular
// expressions that must match the whole name, as in MirrorMaker 2's topics
// and groups lists: "orders" selects only "orders", "orders.*" selects
// "orders" and "orders-eu". A name is selected when an include pattern
// matches it and no exclude pattern does; an empty include selects nothing.
type Selection struct {
	// Patterns of names to select.
	Include []string `yaml:"include"`
	// Patterns of names to leave out even when an include pattern matches.
	Exclude []string `yaml:"exclude"`
}

// Match reports whether the selection picks name.
func (s Selection) Match(name string) bool {
	return matchAny(s.Include, name) && !matchAny(s.Exclude, name)
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if re, err := compile(p); err == nil && re.MatchString(name) {
			return true
		}
	}
	return false
}

// compiled caches patterns because Match runs for every topic of every
// metadata refresh of every flow, while a mesh has only a handful of patterns.
var compiled sync.Map // pattern → *regexp.Regexp

func compile(pattern string) (*regexp.Regexp, error) {
	if re, ok := compiled.Load(pattern); ok {
		return re.(*regexp.Regexp), nil
	}
	if _, err := regexp.Compile(pattern); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return nil, err
	}
	compiled.Store(pattern, re)
	return re, nil
}
