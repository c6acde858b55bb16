package topology

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const schemaPath = "../configs/topology.schema.json"

// TestSchema keeps configs/topology.schema.json equal to what the model
// gives: keys come from the same field list the decoder uses, descriptions
// from the field comments. `go test ./topology -update` rewrites it.
func TestSchema(t *testing.T) {
	got, err := generateSchema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(schemaPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatalf("%v (run go test ./topology -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the model; run go test ./topology -update and commit it", schemaPath)
	}
}

type schemaGen struct {
	docs map[string]string // "Type" or "Type.Field" → doc comment
	defs map[string]any
}

func generateSchema() ([]byte, error) {
	docs, err := fieldDocs()
	if err != nil {
		return nil, err
	}
	g := &schemaGen{docs: docs, defs: map[string]any{}}
	root := g.object(reflect.TypeFor[document]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://raw.githubusercontent.com/geomesh/geomesh/main/configs/topology.schema.json"
	root["title"] = "geomesh topology"
	root["description"] = "One mesh of Kafka clusters replicated between regions. Generated from github.com/geomesh/geomesh/topology; do not edit."
	root["$defs"] = g.defs
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// object describes a struct's keys; additionalProperties false mirrors the
// decoder's unknown-key error.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range fieldsOf(t) {
		sf := f.owner.FieldByIndex(f.index[len(f.index)-1:])
		s := g.typeSchema(sf.Type, f.owner.Name()+"."+f.goName)
		if b, ok := boundOf(sf); ok && !b.duration {
			s["minimum"], s["maximum"] = b.min, b.max
		}
		if doc := g.docs[f.owner.Name()+"."+f.goName]; doc != "" {
			s["description"] = doc
		}
		props[f.key] = s
		if f.required {
			required = append(required, f.key)
		}
	}
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// typeSchema maps a Go type to a schema; named structs go to $defs.
func (g *schemaGen) typeSchema(t reflect.Type, field string) map[string]any {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`}
	case t == reflect.TypeFor[Secret]():
		return map[string]any{"type": "string", "pattern": `^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$`}
	case t.Implements(reflect.TypeFor[enum]()):
		return map[string]any{"type": "string", "enum": reflect.Zero(t).Interface().(enum).values()}
	case field == "SASL.Mechanism":
		return map[string]any{"type": "string", "enum": saslMechanisms}
	case field == "document.Mesh" || field == "Region.Name":
		return map[string]any{"type": "string", "pattern": nameRE.String()}
	case field == "Agent.ID":
		return map[string]any{"type": "string", "pattern": agentIDRE.String()}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.typeSchema(t.Elem(), field)
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.typeSchema(t.Elem(), "")}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.typeSchema(t.Elem(), "")}
	case reflect.Struct:
		if _, ok := g.defs[t.Name()]; !ok {
			g.defs[t.Name()] = nil // guards against recursion
			def := g.object(t)
			if doc := g.docs[t.Name()]; doc != "" {
				def["description"] = doc
			}
			g.defs[t.Name()] = def
		}
		return map[string]any{"$ref": "#/$defs/" + t.Name()}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int:
		return map[string]any{"type": "integer", "minimum": 1}
	}
	panic("no schema for " + t.String())
}

// fieldDocs reads the doc comments of the package's types and fields.
func fieldDocs() (map[string]string, error) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		return nil, err
	}
	docs := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				ts, ok := spec.(*ast.TypeSpec)
				if !ok {
					continue
				}
				doc := ts.Doc
				if doc == nil {
					doc = gd.Doc
				}
				docs[ts.Name.Name] = firstParagraph(doc.Text())
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				for _, fl := range st.Fields.List {
					for _, n := range fl.Names {
						docs[ts.Name.Name+"."+n.Name] = oneLine(fl.Doc.Text())
					}
				}
			}
		}
	}
	return docs, nil
}

// firstParagraph keeps type docs short; the formulas below it read badly in
// an editor tooltip.
func firstParagraph(s string) string {
	s, _, _ = strings.Cut(s, "\n\n")
	return oneLine(s)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
