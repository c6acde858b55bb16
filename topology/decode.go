package topology

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// pos is a 1-based line and column in the file.
type pos struct{ line, col int }

func nodePos(n *yaml.Node) pos { return pos{n.Line, n.Column} }

// place remembers where a key and its value sit, so checks that run after
// decoding can point at the node they complain about.
type place struct{ key, val pos }

// decoder turns a yaml.Node tree into the model strictly: every key must be
// known, every value of the expected type. It keeps going after a problem so
// that one run reports everything.
type decoder struct {
	file   string
	errs   Errors
	places map[string]place // by path: "regions[1].kafka.bootstrap[0]"
	broken map[string]bool  // paths whose value could not be decoded

	// What aliases and merge keys repeat is bounded, so that a small file
	// cannot expand to millions of values (an alias bomb).
	written  int                 // nodes the file writes, aliases not followed
	repeated int                 // values decoded again through an alias or merge key
	repeat   []*yaml.Node        // the aliases and merge keys being followed, outermost first
	merging  map[*yaml.Node]bool // mappings whose merge keys are being expanded
	stopped  bool                // past the bound: decoding gave up

	long map[string]bool // values of the file too long for a message
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, places: map[string]place{}, broken: map[string]bool{}, merging: map[*yaml.Node]bool{}}
}

// Aliases may repeat at most repeatFactor times the nodes the file writes,
// plus repeatBase: generous for anchors shared by many regions, and it
// keeps the cost of decoding within a small multiple of the file's size.
const (
	repeatFactor = 2
	repeatBase   = 10000
)

// decodeFile decodes the root node into doc; false if it gave up on an
// alias bomb, after which checking the rest would only add noise.
func (d *decoder) decodeFile(root *yaml.Node, doc *document) bool {
	d.survey(root)
	d.decode(root, reflect.ValueOf(doc).Elem(), "", "")
	return !d.stopped
}

// survey counts the nodes of a tree, without following aliases, and
// notes the values too long to quote whole.
func (d *decoder) survey(n *yaml.Node) {
	d.written++
	if n.Kind == yaml.ScalarNode && len(n.Value) > maxQuote+16 {
		if d.long == nil {
			d.long = map[string]bool{}
		}
		d.long[n.Value] = true
	}
	for _, child := range n.Content {
		d.survey(child)
	}
}

// enter follows an alias or merge key at n; leave undoes it.
func (d *decoder) enter(n *yaml.Node) { d.repeat = append(d.repeat, n) }
func (d *decoder) leave()             { d.repeat = d.repeat[:len(d.repeat)-1] }

// repeats counts nodes visited again, while an alias or merge key is
// being followed, and reports whether the bound still holds; past it, it
// reports the bomb at the outermost alias.
func (d *decoder) repeats(nodes int) bool {
	if d.stopped {
		return false
	}
	if len(d.repeat) == 0 {
		return true
	}
	d.repeated += nodes
	limit := repeatFactor*d.written + repeatBase
	if d.repeated <= limit {
		return true
	}
	d.stopped = true
	what := "merge key <<"
	if at := d.repeat[0]; at.Kind == yaml.AliasNode {
		what = "alias *" + at.Value
	}
	d.errorf(nodePos(d.repeat[0]), "%s: aliases repeat more than %d values (%d × the %d this file writes + %d); refused as an alias bomb",
		clipped(what), limit, repeatFactor, d.written, repeatBase)
	return false
}

// errorf reports a problem at p. A value of the file among args is cut
// to its start and length, and so is one that an error quotes; an error
// still long is cut in its middle, and so, at last, is any message.
func (d *decoder) errorf(p pos, format string, args ...any) {
	for i, a := range args {
		switch a := a.(type) {
		case clipped:
		case error:
			text := a.Error()
			if len(text) > 2*maxQuote && len(d.long) <= 16 {
				// A few long values at most: looking for each is cheap.
				// The longest first, as it may hold a shorter one.
				long := slices.Collect(maps.Keys(d.long))
				slices.SortFunc(long, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
				for _, v := range long {
					text = strings.ReplaceAll(text, v, fmt.Sprint(clipped(v)))
				}
			}
			args[i] = clipMiddle(text, 4*maxQuote)
		default:
			if v := reflect.ValueOf(a); v.Kind() == reflect.String && d.long[v.String()] {
				args[i] = clipped(v.String())
			}
		}
	}
	msg := clipMiddle(fmt.Sprintf(format, args...), maxMessage)
	d.errs = append(d.errs, Error{File: d.file, Line: p.line, Col: p.col, Msg: msg})
}

// fail reports a value that could not be decoded and marks its path so later
// checks do not pile a second complaint on the same mistake.
func (d *decoder) fail(path string, n *yaml.Node, format string, args ...any) {
	d.broken[path] = true
	d.errorf(nodePos(n), format, args...)
}

// enum is implemented by the string types whose values form a closed set.
type enum interface{ values() []string }

var (
	durationType  = reflect.TypeFor[time.Duration]()
	secretType    = reflect.TypeFor[Secret]()
	selectionType = reflect.TypeFor[Selection]()
	enumType      = reflect.TypeFor[enum]()
)

// coreTags are the tags of YAML's core schema, which yaml.v3 gives every
// node it resolves; any other is a tag the file wrote, which the format
// has no use for.
var coreTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!timestamp": true, "!!map": true, "!!seq": true,
}

// decode fills v from n. name is the key (or item noun) used in messages.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path, name string) {
	if n.Kind == yaml.AliasNode {
		d.enter(n)
		defer d.leave()
		n = n.Alias
	}
	if !d.repeats(1) {
		return
	}
	if !coreTags[n.Tag] {
		what := name
		if what == "" {
			what = "the file"
		}
		d.fail(path, n, "%s: the tag %s is not supported; remove it", what, clipped(n.Tag))
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value is the same as an absent key
	}
	switch t := v.Type(); {
	case t == durationType:
		s, ok := d.scalar(n, path, name, "a duration such as 500ms or 2s")
		if !ok {
			return
		}
		dur, err := time.ParseDuration(s)
		switch {
		case err != nil && durationSyntax.MatchString(s):
			d.fail(path, n, "%s: duration %q is out of range; the longest is %s, about 292 years", name, s, time.Duration(math.MaxInt64))
			return
		case err != nil:
			d.fail(path, n, "%s: invalid duration %q; write a number and a unit such as 500ms, 2s or 1m", name, s)
			return
		}
		if dur <= 0 {
			d.fail(path, n, "%s must be positive, got %s", name, s)
			return
		}
		v.SetInt(int64(dur))
		return
	case t == secretType:
		if n.Kind != yaml.ScalarNode {
			d.fail(path, n, "%s must be a string (env:VARIABLE or file:/path), got %s", name, kindOf(n))
			return
		}
		s := Secret{Ref: n.Value}
		if err := s.check(); err != nil {
			d.fail(path, n, "%s: %v", name, err)
			return
		}
		v.Set(reflect.ValueOf(s))
		return
	case t == selectionType:
		d.decodeStruct(n, v, path, name)
		d.compileSelection(v.Addr().Interface().(*Selection), path)
		return
	case t.Implements(enumType):
		s, ok := d.scalar(n, path, name, "a string")
		if !ok {
			return
		}
		allowed := v.Interface().(enum).values()
		if !contains(allowed, s) {
			what := name
			if name == "mode" || name == "kind" {
				// "mode" alone could be failover's or replication's.
				p := parent(path)
				what = p[strings.LastIndex(p, ".")+1:] + " " + name
			}
			d.fail(path, n, "unknown %s %q; want %s", what, s, oneOf(allowed))
			return
		}
		v.SetString(s)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path, name)
		v.Set(p)
	case reflect.Struct:
		d.decodeStruct(n, v, path, name)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, n, "%s must be a list, got %s", name, kindOf(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.places[p] = place{nodePos(item), nodePos(item)}
			d.decode(item, s.Index(i), p, itemNoun(name))
		}
		v.Set(s)
	case reflect.Map:
		// Only map[string]string: names to names.
		if n.Kind != yaml.MappingNode {
			d.fail(path, n, "%s must be a mapping, got %s", name, kindOf(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		for _, kv := range d.pairs(n) {
			k, val := kv.key, resolve(kv.val)
			if kv.merge != nil {
				d.enter(kv.merge)
			}
			ok := d.repeats(2)
			if kv.merge != nil {
				d.leave()
			}
			if !ok {
				return
			}
			p := fmt.Sprintf("%s[%q]", path, k.Value)
			key, ok := d.scalar(k, p, "keys "+where(name), "a string")
			if !ok {
				continue
			}
			if m.MapIndex(reflect.ValueOf(key)).IsValid() {
				d.errorf(nodePos(k), "duplicate key %q %s", key, where(name))
				continue
			}
			d.places[p] = place{nodePos(k), nodePos(val)}
			s, ok := d.scalar(val, p, key, "a string")
			if !ok {
				continue
			}
			m.SetMapIndex(reflect.ValueOf(key), reflect.ValueOf(s))
		}
		v.Set(m)
	case reflect.String:
		if s, ok := d.scalar(n, path, name, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		switch {
		case n.Kind == yaml.ScalarNode && n.Tag == "!!str" && contains([]string{"yes", "no", "on", "off", "y", "n"}, strings.ToLower(n.Value)):
			d.fail(path, n, "%s must be true or false, got %q: YAML 1.2 reads %s as a string", name, n.Value, n.Value)
			return
		case n.Kind == yaml.ScalarNode && n.Tag == "!!str":
			d.fail(path, n, "%s must be true or false, got %q", name, clipped(n.Value))
			return
		case n.Kind != yaml.ScalarNode || n.Tag != "!!bool":
			d.fail(path, n, "%s must be true or false, got %s", name, kindOf(n))
			return
		}
		v.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
	case reflect.Int:
		i, msg := integer(n, name)
		if msg != "" {
			d.fail(path, n, "%s", msg)
			return
		}
		// Every integer in a topology is a count or a multiplier, where zero
		// would silently fall back to the default.
		if i < 1 {
			d.fail(path, n, "%s must be at least 1, got %d", name, i)
			return
		}
		v.SetInt(int64(i))
	default:
		panic("topology: no decoding for " + v.Type().String())
	}
}

// compileSelection compiles the patterns of a decoded selection and
// reports each one that does not compile at the pattern itself. It is the
// one place a pattern written in the file is checked, and what it compiles
// is what Match uses.
func (d *decoder) compileSelection(s *Selection, path string) {
	s.compile(func(list string, i int, err error) {
		p := fmt.Sprintf("%s.%s[%d]", path, list, i)
		d.broken[p] = true
		d.errorf(d.places[p].val, "%v", err)
	})
}

// scalar accepts strings, and numbers and dates written where a string is
// expected (a topic called 2024 is still a name), as written, but not
// booleans: "on" or "yes" where a name belongs is a mistake.
func (d *decoder) scalar(n *yaml.Node, path, name, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float" && n.Tag != "!!timestamp") {
		d.fail(path, n, "%s must be %s, got %s", name, want, kindOf(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path, name string) {
	if n.Kind != yaml.MappingNode {
		if name == "" {
			name = "the file"
		}
		d.fail(path, n, "%s must be a mapping, got %s", name, kindOf(n))
		return
	}
	fields := fieldsOf(v.Type())
	byKey := map[string]field{}
	for _, f := range fields {
		byKey[f.key] = f
	}
	seen := map[string]pair{}
	var misspelt []string // keys that unknown keys look like
	decodeField := func(kv pair) {
		k, val := kv.key, kv.val
		if !d.repeats(1) { // the key; decode counts the value
			return
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(nodePos(k), "keys %s must be strings, got %s", where(name), kindOf(k))
			return
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(nodePos(k), "duplicate key %q %s (first at line %d)", k.Value, where(name), first.key.Line)
			return
		}
		seen[k.Value] = kv
		f, ok := byKey[k.Value]
		if !ok {
			hint, near := suggest(k.Value, fields)
			if near != "" {
				misspelt = append(misspelt, near)
			}
			d.errorf(nodePos(k), "unknown key %q %s%s", k.Value, where(name), hint)
			return
		}
		p := join(path, k.Value)
		d.places[p] = place{nodePos(k), nodePos(resolve(val))}
		d.decode(val, v.FieldByIndex(f.index), p, k.Value)
	}
	for _, kv := range d.pairs(n) {
		if kv.merge != nil {
			d.enter(kv.merge)
		}
		decodeField(kv)
		if kv.merge != nil {
			d.leave()
		}
		if d.stopped {
			return
		}
	}
	for _, key := range misspelt {
		if _, set := seen[key]; !set {
			// The value meant for the misspelt key is missing from its real
			// one; saying so again would only repeat the error. A real one
			// that is set is checked all the same.
			d.broken[join(path, key)] = true
		}
	}
	for _, f := range fields {
		if !f.required {
			continue
		}
		kv, ok := seen[f.key]
		if !ok {
			d.errorf(d.keyPos(path, n), "missing key %q %s", f.key, where(name))
			continue
		}
		if val := resolve(kv.val); val.Kind == yaml.ScalarNode && val.Tag == "!!null" {
			d.broken[join(path, f.key)] = true
			d.errorf(nodePos(kv.key), "key %q %s has no value", f.key, where(name))
		}
	}
}

// pair is a key of a mapping and its value; merge is the merge key it
// came through, nil for the mapping's own keys.
type pair struct{ key, val, merge *yaml.Node }

// pairs lists the keys of a mapping, its own first, then those its merge
// keys (<<: *defaults, or a list of them) bring in: a key the mapping
// sets itself wins over a merged one, and an earlier merged mapping over
// a later one, as YAML defines merge keys.
func (d *decoder) pairs(n *yaml.Node) []pair {
	if d.stopped {
		return nil
	}
	var out, merges []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merges = append(merges, pair{key: k, val: val})
			continue
		}
		out = append(out, pair{key: k, val: val})
	}
	if len(merges) == 0 {
		return out
	}
	d.merging[n] = true
	defer delete(d.merging, n)
	set := map[string]bool{}
	for _, kv := range out {
		set[kv.key.Value] = true
	}
	for _, m := range merges {
		for _, src := range d.mergeSources(m) {
			for _, kv := range d.pairs(src) {
				if d.stopped {
					return out
				}
				d.enter(m.key)
				ok := d.repeats(1)
				d.leave()
				if !ok {
					return out
				}
				if set[kv.key.Value] {
					continue
				}
				set[kv.key.Value] = true
				if kv.merge == nil {
					kv.merge = m.key
				}
				out = append(out, kv)
			}
		}
	}
	return out
}

// mergeSources returns the mappings a merge key brings in, and reports a
// value that is not a mapping or a list of them.
func (d *decoder) mergeSources(m pair) []*yaml.Node {
	var items []*yaml.Node
	if v := resolve(m.val); v.Kind == yaml.SequenceNode {
		items = v.Content
	} else {
		items = []*yaml.Node{m.val}
	}
	var out []*yaml.Node
	for _, item := range items {
		src := resolve(item)
		switch {
		case src.Kind != yaml.MappingNode:
			d.errorf(nodePos(item), "a merge key (<<) takes a mapping or a list of mappings, got %s", kindOf(src))
		case d.merging[src]:
			d.errorf(nodePos(item), "a merge key (<<) cannot bring in the mapping it is in")
		default:
			out = append(out, src)
		}
	}
	return out
}

// resolve follows an alias to the node it repeats.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		return n.Alias
	}
	return n
}

// keyPos is where to report something missing from the mapping at path: its
// key, so the message points at "kafka:" rather than at the first key below it.
func (d *decoder) keyPos(path string, n *yaml.Node) pos {
	if pl, ok := d.places[path]; ok {
		return pl.key
	}
	return nodePos(n)
}

// field is a YAML key of a model struct.
type field struct {
	key      string
	index    []int
	required bool
	owner    reflect.Type // struct that declares the field, for its doc comment
	goName   string
}

// fieldsOf lists the keys of a struct in declaration order, flattening
// `yaml:",inline"` fields. The JSON Schema is generated from the same list,
// so the decoder and the schema cannot disagree on keys.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("yaml")
		if tag == ",inline" {
			for _, f := range fieldsOf(sf.Type) {
				f.index = append([]int{i}, f.index...)
				out = append(out, f)
			}
			continue
		}
		if tag == "" || tag == "-" {
			continue
		}
		out = append(out, field{key: tag, index: []int{i}, required: sf.Tag.Get("required") == "true", owner: t, goName: sf.Name})
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// parent strips the last step of a path: "a.b[2]" → "a.b", "a.b" → "a".
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// where says which mapping a key sits in.
func where(name string) string {
	if name == "" {
		return "at the top level"
	}
	return "in " + name
}

// itemNoun names one element of a list in messages.
func itemNoun(list string) string {
	switch list {
	case "regions":
		return "region"
	case "agents":
		return "agent"
	case "flows":
		return "flow"
	case "bootstrap":
		return "bootstrap address"
	case "spokes":
		return "spoke"
	case "voters":
		return "voter"
	case "urls":
		return "url"
	case "keys":
		return "gossip key"
	case "accept_passwords":
		return "password"
	case "include", "exclude":
		return list + " pattern"
	}
	return list + " entry"
}

// durationSyntax is what time.ParseDuration reads; a duration that has
// its syntax and still fails to parse is too long for it.
var durationSyntax = regexp.MustCompile(`^[-+]?((\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$`)

// leadingZero is a decimal integer written with a leading zero, which
// YAML 1.1 reads as octal and YAML 1.2 as decimal.
var leadingZero = regexp.MustCompile(`^[-+]?0[0-9_]+$`)

// decimal and radix are integers that yaml.v3 tags as a float (decimal)
// or a string (radix) when they are too large for 64 bits.
var (
	decimal = regexp.MustCompile(`^[-+]?[0-9_]+$`)
	radix   = regexp.MustCompile(`^[-+]?0([xX][0-9a-fA-F_]+|o[0-7_]+|b[01_]+)$`)
)

// integer reads an integer as YAML 1.2 writes it: decimal, hexadecimal
// (0x1f), octal (0o17) or binary (0b101), as yaml.v3 tags them, or says
// what is wrong with the value of the key name.
func integer(n *yaml.Node, name string) (int, string) {
	tooLong := n.Kind == yaml.ScalarNode && n.Style == 0 && n.Tag == "!!str" && radix.MatchString(n.Value)
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float" && !tooLong) {
		return 0, fmt.Sprintf("%s must be an integer, got %s", name, kindOf(n))
	}
	s := n.Value
	switch {
	case leadingZero.MatchString(s):
		return 0, fmt.Sprintf("%s: %s has a leading zero, which YAML 1.1 reads as octal and YAML 1.2 as decimal; write it without the zero, or as 0o%s for octal",
			name, clipped(s), clipped(strings.TrimLeft(strings.TrimLeft(s, "+-"), "0_")))
	case n.Tag == "!!float" && !decimal.MatchString(s):
		return 0, fmt.Sprintf("%s must be an integer, got %s", name, clipped(s))
	}
	i, err := strconv.ParseInt(s, 0, strconv.IntSize)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, fmt.Sprintf("%s: %s is out of range; an integer here is at most %d", name, clipped(s), math.MaxInt)
	case err != nil:
		return 0, fmt.Sprintf("%s must be an integer, got %s", name, clipped(s))
	}
	return int(i), ""
}

func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!bool":
		return "a boolean"
	case "!!int", "!!float":
		return "a number"
	case "!!null":
		return "nothing"
	case "!!timestamp":
		return "a date"
	}
	return "a string"
}

// suggest offers the nearest known key for a misspelt one.
func suggest(key string, fields []field) (hint, near string) {
	best, bestDist := "", 3
	for _, f := range fields {
		if d := distance(key, f.key); d < bestDist {
			best, bestDist = f.key, d
		}
	}
	if best == "" {
		return "", ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best), best
}

// distance is the Levenshtein distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// oneOf renders "a, b or c".
func oneOf(values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}
