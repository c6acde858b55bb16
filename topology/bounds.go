package topology

import (
	"fmt"
	"reflect"
	"strconv"
	"time"
)

// Every number in a topology has bounds, written as min and max tags on
// its field and stated in its doc comment: a duration as a Go duration
// ("10ms"), a count as a decimal. The checker enforces them and the JSON
// Schema carries those of the counts; TestBounds keeps every numeric
// field tagged and its comment in step with its tags.

// bound is the range of one numeric field, in its own unit: nanoseconds
// for a duration.
type bound struct {
	min, max         int64
	minText, maxText string // as the tags write them
	duration         bool
}

// boundOf reads a field's min and max tags; ok is false for a field
// without them.
func boundOf(sf reflect.StructField) (b bound, ok bool) {
	lo, hi := sf.Tag.Get("min"), sf.Tag.Get("max")
	if lo == "" || hi == "" {
		return bound{}, false
	}
	b.duration = sf.Type == durationType
	parse := func(s string) int64 {
		if b.duration {
			d, err := time.ParseDuration(s)
			if err != nil {
				panic("topology: bad bound on " + sf.Name + ": " + err.Error())
			}
			return int64(d)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			panic("topology: bad bound on " + sf.Name + ": " + err.Error())
		}
		return n
	}
	return bound{parse(lo), parse(hi), lo, hi, b.duration}, true
}

func (b bound) format(n int64) string {
	if b.duration {
		return time.Duration(n).String()
	}
	return strconv.FormatInt(n, 10)
}

// bounds checks every tagged number in v, a value of the model at path.
// A number out of range is marked broken, so that checks combining it
// with others (detection) do not judge a value the file cannot have.
func (c *checker) bounds(v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			c.bounds(v.Elem(), path)
		}
	case reflect.Slice:
		for i := range v.Len() {
			c.bounds(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Struct:
		if v.Type() == selectionType || v.Type() == secretType {
			return
		}
		for _, f := range fieldsOf(v.Type()) {
			fv := v.FieldByIndex(f.index)
			p := join(path, f.key)
			b, ok := boundOf(f.owner.FieldByIndex(f.index[len(f.index)-1:]))
			if !ok {
				c.bounds(fv, p)
				continue
			}
			n := fv.Int()
			if n == 0 || c.isBroken(p) {
				continue // unset: a default stands in; broken: already reported
			}
			switch {
			case n < b.min:
				c.errorAt(p, "%s must be at least %s, got %s", f.key, b.minText, b.format(n))
			case n > b.max:
				c.errorAt(p, "%s must be at most %s, got %s", f.key, b.maxText, b.format(n))
			default:
				continue
			}
			c.broken[p] = true
		}
	}
}
