package topology

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Change is one difference between two versions of a mesh's topology, as
// an operator reviews it before a running mesh takes the new version.
type Change struct {
	// Path names the setting as the file does, with regions and agents
	// by name: regions[eu-west].kafka.bootstrap, failover.detection.down_after,
	// and "planned flow us-east→eu-west" for a flow the topology plans.
	Path string
	// Old and New render the two values; Old is empty for what the new
	// version adds, New for what it removes.
	Old, New string
	// Refused says why a running mesh cannot take this change; empty
	// when it can.
	Refused string
}

// Refused reports whether any change is refused.
func Refused(cs []Change) bool {
	return slices.ContainsFunc(cs, func(c Change) bool { return c.Refused != "" })
}

// Diff lists what changes from old to new, setting by setting, in the
// order of the file, followed by the planned flows that start or stop.
// writers are the regions that take writes now (the primary or hub of
// the mesh state, every active region of an active-active mesh): removing
// one is refused, as are changes a running mesh cannot follow (its name,
// its kind, a region's name or witness flag, the naming of a flow that
// keeps running). Secrets are compared and shown by reference only.
func Diff(old, new *Mesh, writers []string) []Change {
	var cs []Change
	walk("", reflect.ValueOf(*old), reflect.ValueOf(*new), &cs)
	for i := range cs {
		cs[i].Refused = refusal(cs[i], writers)
	}
	cs = append(cs, renamedRegions(old, new)...)
	return append(cs, flowChanges(old, new)...)
}

// walk compares a and b, values of one type, and appends a Change for
// each leaf that differs. Slices of structs with a name or id are
// compared element by element, by that key.
func walk(path string, a, b reflect.Value, out *[]Change) {
	switch {
	case a.Type() == reflect.TypeOf(Secret{}) || a.Type() == reflect.TypeOf(time.Duration(0)):
		leaf(path, a, b, out)
	case a.Kind() == reflect.Pointer:
		switch {
		case a.IsNil() && b.IsNil():
		case a.IsNil() || b.IsNil():
			leaf(path, a, b, out)
		default:
			walk(path, a.Elem(), b.Elem(), out)
		}
	case a.Kind() == reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			walk(join(path, fieldName(f)), a.Field(i), b.Field(i), out)
		}
	case a.Kind() == reflect.Slice && keyField(a.Type().Elem()) >= 0:
		keyed(path, a, b, out)
	default:
		leaf(path, a, b, out)
	}
}

// keyed compares two slices of structs by their key field: changed
// elements field by field, then added and removed ones.
func keyed(path string, a, b reflect.Value, out *[]Change) {
	k := keyField(a.Type().Elem())
	index := func(v reflect.Value) map[string]reflect.Value {
		m := make(map[string]reflect.Value, v.Len())
		for i := range v.Len() {
			m[v.Index(i).Field(k).String()] = v.Index(i)
		}
		return m
	}
	ai, bi := index(a), index(b)
	for i := range a.Len() {
		name := a.Index(i).Field(k).String()
		p := fmt.Sprintf("%s[%s]", path, name)
		if nb, ok := bi[name]; ok {
			walk(p, a.Index(i), nb, out)
		} else {
			*out = append(*out, Change{Path: p, Old: render(a.Index(i))})
		}
	}
	for i := range b.Len() {
		name := b.Index(i).Field(k).String()
		if _, ok := ai[name]; !ok {
			*out = append(*out, Change{Path: fmt.Sprintf("%s[%s]", path, name), New: render(b.Index(i))})
		}
	}
}

// keyField is the index of the field tagged name or id of struct type t,
// or -1.
func keyField(t reflect.Type) int {
	if t.Kind() != reflect.Struct {
		return -1
	}
	for i := range t.NumField() {
		if tag := yamlName(t.Field(i)); tag == "name" || tag == "id" {
			return i
		}
	}
	return -1
}

func leaf(path string, a, b reflect.Value, out *[]Change) {
	if reflect.DeepEqual(a.Interface(), b.Interface()) {
		return
	}
	*out = append(*out, Change{Path: path, Old: render(a), New: render(b)})
}

// render shows a value as the file would, compactly; a Secret by its
// reference.
func render(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "(none)"
		}
		v = v.Elem()
	}
	switch x := v.Interface().(type) {
	case Secret:
		return x.String()
	case time.Duration:
		return x.String()
	case string:
		if x == "" {
			return `""`
		}
		return x
	}
	switch v.Kind() {
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range v.Len() {
			parts[i] = render(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Struct:
		if k := keyField(v.Type()); k >= 0 {
			return v.Field(k).String()
		}
		var parts []string
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.IsExported() && !v.Field(i).IsZero() {
				parts = append(parts, fieldName(f)+": "+render(v.Field(i)))
			}
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v.Interface())
}

// fieldName is a field's key in the file: its yaml tag, else its Go name
// in snake case (Mesh itself has no tags).
func fieldName(f reflect.StructField) string {
	if n := yamlName(f); n != "" {
		return n
	}
	var b strings.Builder
	for i, r := range f.Name {
		if unicode.IsUpper(r) && i > 0 {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

func yamlName(f reflect.StructField) string {
	n, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if n == "-" {
		return ""
	}
	return n
}

// refusal says why a running mesh cannot take the change c, or "".
func refusal(c Change, writers []string) string {
	switch {
	case c.Path == "name":
		return "the mesh's name names its control-plane state, subjects and topics: a renamed mesh is a new mesh"
	case c.Path == "kind":
		return "roles and flows mean other things in another topology kind: build the new kind as a new mesh"
	case strings.HasPrefix(c.Path, "regions[") && strings.HasSuffix(c.Path, "].witness"):
		return "a region turns from data to witness or back only by leaving the mesh and joining it again"
	}
	name, rest, ok := strings.Cut(strings.TrimPrefix(c.Path, "regions["), "]")
	if !ok || rest != "" || !strings.HasPrefix(c.Path, "regions[") || c.New != "" {
		return ""
	}
	if slices.Contains(writers, name) {
		return fmt.Sprintf("region %s takes writes now: move them first (geomesh failover --to another region), then remove it", name)
	}
	return ""
}

// renamedRegions refuses a region that leaves while another joins with
// its Kafka cluster: that is a rename, which would lose the region's
// state, epochs and flows' progress under the old name.
func renamedRegions(old, new *Mesh) []Change {
	var cs []Change
	for _, o := range old.Regions {
		if _, still := new.Region(o.Name); still || o.Kafka == nil {
			continue
		}
		for _, n := range new.Regions {
			if _, before := old.Region(n.Name); before || n.Kafka == nil {
				continue
			}
			if slices.ContainsFunc(n.Kafka.Bootstrap, func(b string) bool { return slices.Contains(o.Kafka.Bootstrap, b) }) {
				cs = append(cs, Change{Path: "regions[" + o.Name + "].name", Old: o.Name, New: n.Name,
					Refused: fmt.Sprintf("renaming region %s to %s (same cluster): the name keys its state, its flows' progress and its copies' names; keep the name", o.Name, n.Name)})
			}
		}
	}
	return cs
}

// flowChanges lists the planned flows that start, stop, or keep running
// with other topic naming (refused: the copies already written under the
// old names would be orphaned and the new ones copied again).
func flowChanges(old, new *Mesh) []Change {
	of, nf := Plan(old), Plan(new)
	find := func(fs []Flow, f Flow) (Flow, bool) {
		i := slices.IndexFunc(fs, func(g Flow) bool { return g.Source == f.Source && g.Target == f.Target })
		if i < 0 {
			return Flow{}, false
		}
		return fs[i], true
	}
	name := func(f Flow) string { return "planned flow " + f.Source + "→" + f.Target }
	var cs []Change
	for _, f := range of {
		g, ok := find(nf, f)
		switch {
		case !ok:
			cs = append(cs, Change{Path: name(f), Old: f.Kind + " flow"})
		case g.Naming != f.Naming:
			cs = append(cs, Change{Path: name(f) + ".naming", Old: string(f.Naming), New: string(g.Naming),
				Refused: "the flow's copies are named " + string(f.Naming) + " in " + f.Target + ": other names would copy every topic again beside the old copies"})
		}
	}
	for _, f := range nf {
		if _, ok := find(of, f); !ok {
			cs = append(cs, Change{Path: name(f), New: f.Kind + " flow"})
		}
	}
	return cs
}

// restartPrefixes name the settings an agent builds its listeners,
// gossip pool, control-plane node and Kafka clients from when it starts,
// and the timings every agent of the pool must share: a running agent
// keeps the old values until it restarts, as a Kafka broker does with
// its read-only configs.
var restartPrefixes = []string{
	"gossip", "control_plane", "api",
	"failover.detection.probe_interval", "failover.detection.probe_timeout",
	"failover.detection.suspicion_mult", "failover.detection.kafka_probe_interval",
}

// Restart reports whether agents take c only when they restart.
func Restart(c Change) bool {
	if strings.HasPrefix(c.Path, "regions[") && (strings.Contains(c.Path, "].agents") || strings.Contains(c.Path, "].kafka")) {
		return true
	}
	return slices.ContainsFunc(restartPrefixes, func(p string) bool {
		return c.Path == p || strings.HasPrefix(c.Path, p+".") || strings.HasPrefix(c.Path, p+"[")
	})
}

// Membership says why a running mesh cannot take c yet when c adds or
// removes a region or changes the quorum's voters, else "": the gossip
// pool, the control plane's nodes and the voters change together, by the
// runbooks.
func Membership(c Change) string {
	name, rest, ok := strings.Cut(strings.TrimPrefix(c.Path, "regions["), "]")
	switch {
	case ok && rest == "" && strings.HasPrefix(c.Path, "regions[") && c.New == "":
		return fmt.Sprintf("removing region %s from a running mesh: follow docs/runbooks/remove-region.md", name)
	case ok && rest == "" && strings.HasPrefix(c.Path, "regions[") && c.Old == "":
		return fmt.Sprintf("adding region %s to a running mesh: follow docs/runbooks/add-region.md", name)
	case c.Path == "failover.quorum.voters":
		return "changing the voters of a running mesh: follow the region runbooks (docs/runbooks)"
	}
	return ""
}
