package terraform_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/terraform-config-inspect/tfconfig"
)

// moduleDirs are every module and example the static checks cover.
func moduleDirs(t *testing.T) []string {
	t.Helper()
	dirs := []string{filepath.Join("modules", "mesh-config"), filepath.Join("modules", "aws-region")}
	for _, ex := range examples(t) {
		dirs = append(dirs, filepath.Join("examples", ex))
	}
	return dirs
}

// parsedModule is a directory's .tf files parsed with hclsyntax.
type parsedModule struct {
	dir   string
	files map[string]*hcl.File
}

func parseModule(dir string) (*parsedModule, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no .tf files", dir)
	}
	m := &parsedModule{dir: dir, files: map[string]*hcl.File{}}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		f, diags := hclsyntax.ParseConfig(b, n, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, diags
		}
		m.files[n] = f
	}
	return m, nil
}

// sortedFiles returns the file names in order, so messages come out stable.
func (m *parsedModule) sortedFiles() []string {
	var out []string
	for n := range m.files {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// blocks returns the top-level blocks of a type across all files.
func (m *parsedModule) blocks(typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, n := range m.sortedFiles() {
		for _, b := range m.files[n].Body.(*hclsyntax.Body).Blocks {
			if b.Type == typ {
				out = append(out, b)
			}
		}
	}
	return out
}

// traversals returns every reference (var.x, local.y, module.z.w, ...) in
// the module, with where it is.
func (m *parsedModule) traversals() []hcl.Traversal {
	var out []hcl.Traversal
	for _, n := range m.sortedFiles() {
		_ = hclsyntax.VisitAll(m.files[n].Body.(*hclsyntax.Body), func(node hclsyntax.Node) hcl.Diagnostics {
			if e, ok := node.(*hclsyntax.ScopeTraversalExpr); ok {
				out = append(out, e.Traversal)
			}
			return nil
		})
	}
	return out
}

func attrName(tr hcl.Traversal, i int) string {
	if len(tr) <= i {
		return ""
	}
	switch s := tr[i].(type) {
	case hcl.TraverseAttr:
		return s.Name
	case hcl.TraverseIndex:
		if s.Key.Type().FriendlyName() == "string" {
			return s.Key.AsString()
		}
	}
	return ""
}

// checkModule lists what is wrong with a module's declarations: variables
// untyped, undescribed, unused or undeclared; outputs undescribed; locals
// or module outputs referenced but not defined.
func checkModule(dir string) []string {
	var problems []string
	add := func(rng hcl.Range, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s:%d: %s", rng.Filename, rng.Start.Line, fmt.Sprintf(format, args...)))
	}
	mod, diags := tfconfig.LoadModule(dir)
	if diags.HasErrors() {
		return []string{diags.Error()}
	}
	pm, err := parseModule(dir)
	if err != nil {
		return []string{err.Error()}
	}
	used := map[string]bool{}
	locals := map[string]bool{}
	for _, b := range pm.blocks("locals") {
		for name := range b.Body.Attributes {
			locals[name] = true
		}
	}
	calls := map[string]*tfconfig.Module{}
	for name, c := range mod.ModuleCalls {
		child, d := tfconfig.LoadModule(filepath.Join(dir, c.Source))
		if d.HasErrors() {
			problems = append(problems, fmt.Sprintf("%s: module %q: source %s: %v", dir, name, c.Source, d.Err()))
			continue
		}
		calls[name] = child
	}
	for _, tr := range pm.traversals() {
		rng := tr.SourceRange()
		switch tr.RootName() {
		case "var":
			name := attrName(tr, 1)
			used[name] = true
			if _, ok := mod.Variables[name]; !ok {
				add(rng, "var.%s is not declared", name)
			}
		case "local":
			if name := attrName(tr, 1); !locals[name] {
				add(rng, "local.%s is not defined", name)
			}
		case "module":
			name, out := attrName(tr, 1), attrName(tr, 2)
			child, ok := calls[name]
			switch {
			case !ok && mod.ModuleCalls[name] == nil:
				add(rng, "module.%s is not called", name)
			case ok && out != "" && child.Outputs[out] == nil:
				add(rng, "module.%s has no output %q", name, out)
			}
		}
	}
	for _, v := range sortedVariables(mod) {
		pos := hcl.Range{Filename: v.Pos.Filename, Start: hcl.Pos{Line: v.Pos.Line}}
		if v.Type == "" {
			add(pos, "variable %q has no type", v.Name)
		}
		if strings.TrimSpace(v.Description) == "" {
			add(pos, "variable %q has no description", v.Name)
		}
		if !used[v.Name] {
			add(pos, "variable %q is declared but never used", v.Name)
		}
	}
	for _, o := range mod.Outputs {
		if strings.TrimSpace(o.Description) == "" {
			add(hcl.Range{Filename: o.Pos.Filename, Start: hcl.Pos{Line: o.Pos.Line}}, "output %q has no description", o.Name)
		}
	}
	sort.Strings(problems)
	return problems
}

func sortedVariables(mod *tfconfig.Module) []*tfconfig.Variable {
	var out []*tfconfig.Variable
	for _, v := range mod.Variables {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func TestModulesDeclareTypeDescribeAndUseEveryVariable(t *testing.T) {
	for _, dir := range moduleDirs(t) {
		t.Run(dir, func(t *testing.T) {
			for _, p := range checkModule(dir) {
				t.Error(p)
			}
		})
	}
}

// moduleCall is one module block with its arguments.
type moduleCall struct {
	Name, Source string
	Args         map[string]*hclsyntax.Attribute
	Providers    *hclsyntax.Attribute
	Range        hcl.Range
	fileBytes    []byte
}

// metaArgs are module block arguments that are not inputs of the module.
var metaArgs = map[string]bool{"source": true, "version": true, "providers": true, "count": true, "for_each": true, "depends_on": true}

func moduleCalls(t *testing.T, dir string) []moduleCall {
	t.Helper()
	calls, err := loadModuleCalls(dir)
	if err != nil {
		t.Fatal(err)
	}
	return calls
}

func loadModuleCalls(dir string) ([]moduleCall, error) {
	pm, err := parseModule(dir)
	if err != nil {
		return nil, err
	}
	var out []moduleCall
	for _, b := range pm.blocks("module") {
		c := moduleCall{Name: b.Labels[0], Args: map[string]*hclsyntax.Attribute{}, Range: b.DefRange(), fileBytes: pm.files[b.Range().Filename].Bytes}
		for name, a := range b.Body.Attributes {
			if name == "source" {
				v, d := a.Expr.Value(nil)
				if d.HasErrors() {
					return nil, d
				}
				c.Source = v.AsString()
			}
			if name == "providers" {
				c.Providers = a
			}
			if !metaArgs[name] {
				c.Args[name] = a
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// checkModuleCalls lists the inputs a root module passes that its modules do
// not declare, and the required inputs it leaves out.
func checkModuleCalls(dir string) []string {
	calls, err := loadModuleCalls(dir)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for _, c := range calls {
		child, d := tfconfig.LoadModule(filepath.Join(dir, c.Source))
		if d.HasErrors() {
			problems = append(problems, fmt.Sprintf("%s: module %q: %v", c.Range, c.Name, d.Err()))
			continue
		}
		if len(child.Variables) == 0 {
			problems = append(problems, fmt.Sprintf("%s: module %q: source %s declares no variables", c.Range, c.Name, c.Source))
		}
		for name, a := range c.Args {
			if child.Variables[name] == nil {
				problems = append(problems, fmt.Sprintf("%s:%d: module %q passes %s, which %s does not declare", a.SrcRange.Filename, a.SrcRange.Start.Line, c.Name, name, c.Source))
			}
		}
		for _, v := range sortedVariables(child) {
			if v.Required && c.Args[v.Name] == nil {
				problems = append(problems, fmt.Sprintf("%s: module %q leaves out %s, which %s requires", c.Range, c.Name, v.Name, c.Source))
			}
		}
	}
	sort.Strings(problems)
	return problems
}

func TestExamplesPassOnlyDeclaredAndAllRequiredInputs(t *testing.T) {
	for _, ex := range examples(t) {
		dir := filepath.Join("examples", ex)
		t.Run(ex, func(t *testing.T) {
			calls := moduleCalls(t, dir)
			if len(calls) < 3 {
				t.Errorf("%d module calls; want mesh-config and one aws-region per region", len(calls))
			}
			for _, p := range checkModuleCalls(dir) {
				t.Error(p)
			}
			for _, p := range checkProviderAliases(dir) {
				t.Error(p)
			}
		})
	}
}

// TestChecksCatchBrokenModules runs the static checks on testdata modules
// that are broken on purpose, one reason each, and pins what they report.
func TestChecksCatchBrokenModules(t *testing.T) {
	tests := []struct {
		dir   string
		check func(string) []string
		want  []string
	}{
		{"testdata/broken-undeclared-input", checkModuleCalls, []string{
			`module "mesh" passes mesh_nmae, which ../../modules/mesh-config does not declare`,
			`module "mesh" leaves out mesh_name, which ../../modules/mesh-config requires`,
		}},
		{"testdata/broken-variables", checkModule, []string{
			`variable "no_type" has no type`,
			`variable "no_description" has no description`,
			`variable "unused" is declared but never used`,
			`var.undeclared is not declared`,
			`output "no_description" has no description`,
			`local.missing is not defined`,
		}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.dir), func(t *testing.T) {
			got := strings.Join(tt.check(tt.dir), "\n")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("problems do not include %q; got:\n%s", w, got)
				}
			}
			if n := len(strings.Split(got, "\n")); got == "" || n != len(tt.want) {
				t.Errorf("%d problems, want %d:\n%s", n, len(tt.want), got)
			}
		})
	}
}

// checkProviderAliases lists aws-region calls that do not get their own AWS
// provider alias (one per region), or name an alias no provider block declares.
func checkProviderAliases(dir string) []string {
	pm, err := parseModule(dir)
	if err != nil {
		return []string{err.Error()}
	}
	declared := map[string]bool{}
	for _, b := range pm.blocks("provider") {
		if a := b.Body.Attributes["alias"]; a != nil && b.Labels[0] == "aws" {
			v, d := a.Expr.Value(nil)
			if !d.HasErrors() {
				declared[v.AsString()] = true
			}
		}
	}
	calls, err := loadModuleCalls(dir)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	usedBy := map[string]string{}
	for _, c := range calls {
		if filepath.Base(c.Source) != "aws-region" {
			continue
		}
		alias := ""
		if c.Providers != nil {
			if obj, ok := c.Providers.Expr.(*hclsyntax.ObjectConsExpr); ok {
				for _, item := range obj.Items {
					k, _ := item.KeyExpr.Value(nil)
					if tr, ok := item.ValueExpr.(*hclsyntax.ScopeTraversalExpr); ok && k.Type().FriendlyName() == "string" && k.AsString() == "aws" && tr.Traversal.RootName() == "aws" {
						alias = attrName(tr.Traversal, 1)
					}
				}
			}
		}
		switch {
		case alias == "":
			problems = append(problems, fmt.Sprintf("%s: module %q has no providers = { aws = aws.<alias> }", c.Range, c.Name))
		case !declared[alias]:
			problems = append(problems, fmt.Sprintf("%s: module %q uses aws.%s, which no provider block declares", c.Range, c.Name, alias))
		case usedBy[alias] != "":
			problems = append(problems, fmt.Sprintf("%s: module %q shares aws.%s with module %q; each region needs its own", c.Range, c.Name, alias, usedBy[alias]))
		default:
			usedBy[alias] = c.Name
		}
	}
	return problems
}
