package testhygiene

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// stops are the methods of testing.TB that end the goroutine they are
// called from (runtime.Goexit).
var stops = map[string]bool{"Fatal": true, "Fatalf": true, "FailNow": true, "Skip": true, "Skipf": true, "SkipNow": true}

// srcFile is one parsed Go file of the module.
type srcFile struct {
	name string // slash path from the module root
	dir  string
	pkg  string
	ast  *ast.File
	// imports maps the name a package of the module is used by in this
	// file to its directory.
	imports map[string]string
}

// module is every Go file of a module, parsed, and its package-level
// functions by dir|package.name.
type module struct {
	fset  *token.FileSet
	files []*srcFile
	funcs map[string]funcDecl
	// stopsVia memoizes stopsThrough: 1 being computed, 2 yes, 3 no.
	stopsVia map[string]int
}

type funcDecl struct {
	file *srcFile
	decl *ast.FuncDecl
}

// loadModule parses every .go file under fsys outside testdata and
// hidden directories.
func loadModule(fsys fs.FS) (*module, error) {
	modPath, err := modulePath(fsys)
	if err != nil {
		return nil, err
	}
	m := &module{fset: token.NewFileSet(), funcs: map[string]funcDecl{}, stopsVia: map[string]int{}}
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(m.fset, p, src, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		m.files = append(m.files, &srcFile{name: p, dir: path.Dir(p), pkg: f.Name.Name, ast: f})
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The name of each directory's package, as an import of it is used.
	pkgOf := map[string]string{}
	for _, sf := range m.files {
		if !strings.HasSuffix(sf.name, "_test.go") {
			pkgOf[sf.dir] = sf.pkg
		}
	}
	for _, sf := range m.files {
		sf.imports = map[string]string{}
		for _, im := range sf.ast.Imports {
			ip, _ := strconv.Unquote(im.Path.Value)
			rel, ok := strings.CutPrefix(ip, modPath+"/")
			if !ok {
				continue
			}
			name := pkgOf[rel]
			if im.Name != nil {
				name = im.Name.Name
			}
			sf.imports[name] = rel
		}
		for _, d := range sf.ast.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				m.funcs[sf.dir+"|"+sf.pkg+"."+fd.Name.Name] = funcDecl{sf, fd}
			}
		}
	}
	return m, nil
}

func modulePath(fsys fs.FS) (string, error) {
	b, err := fs.ReadFile(fsys, "go.mod")
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if p, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.TrimSpace(p), nil
		}
	}
	return "", fmt.Errorf("go.mod names no module")
}

// isTestingTB reports whether a parameter type is one of the testing
// types that can stop a test.
func isTestingTB(e ast.Expr) bool {
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == "testing" && slices.Contains([]string{"T", "TB", "B", "F"}, sel.Sel.Name)
}

// testingParams are the names of a function's parameters of a testing type.
func testingParams(ft *ast.FuncType) []string {
	var out []string
	for _, f := range ft.Params.List {
		if isTestingTB(f.Type) {
			for _, n := range f.Names {
				out = append(out, n.Name)
			}
		}
	}
	return out
}

// callee is the key of the package-level function of the module that c
// calls from sf, or "".
func (m *module) callee(sf *srcFile, c *ast.CallExpr) string {
	switch fn := c.Fun.(type) {
	case *ast.Ident:
		return sf.dir + "|" + sf.pkg + "." + fn.Name
	case *ast.SelectorExpr:
		x, ok := fn.X.(*ast.Ident)
		if !ok {
			return ""
		}
		dir, ok := sf.imports[x.Name]
		if !ok {
			return ""
		}
		for _, f := range m.files {
			if f.dir == dir && !strings.HasSuffix(f.name, "_test.go") {
				return dir + "|" + f.pkg + "." + fn.Sel.Name
			}
		}
	}
	return ""
}

// stopsThrough reports whether the function key can stop the test
// through its argument i: it calls a stopping method on that parameter,
// or passes it on to a function that does.
func (m *module) stopsThrough(key string, i int) bool {
	memo := fmt.Sprint(key, "#", i)
	switch m.stopsVia[memo] {
	case 1, 3:
		return false
	case 2:
		return true
	}
	fd, ok := m.funcs[key]
	if !ok || fd.decl.Body == nil {
		return false
	}
	var param string
	n := 0
	for _, f := range fd.decl.Type.Params.List {
		for _, name := range f.Names {
			if n == i && isTestingTB(f.Type) {
				param = name.Name
			}
			n++
		}
	}
	if param == "" {
		return false
	}
	m.stopsVia[memo] = 1
	found := m.stopsIn(fd.file, fd.decl.Body, []string{param}, false)
	m.stopsVia[memo] = 3
	if found != "" {
		m.stopsVia[memo] = 2
	}
	return found != ""
}

// stopsIn returns what in body stops the test through one of names (a
// method call on it, or a function given it that stops through it), or
// "". A subtest (a literal passed to Run) is a test goroutine of its
// own, and a goroutine started in body is judged on its own. In a
// function, a literal that declares one of the names again has its own;
// in a goroutine, every test's t is the test's.
func (m *module) stopsIn(sf *srcFile, body ast.Node, names []string, goroutine bool) string {
	var found string
	ast.Inspect(body, func(n ast.Node) bool {
		if found != "" {
			return false
		}
		switch x := n.(type) {
		case *ast.GoStmt:
			return false
		case *ast.FuncLit:
			for _, p := range testingParams(x.Type) {
				if slices.Contains(names, p) && !goroutine {
					return false
				}
			}
		case *ast.CallExpr:
			if sel, ok := x.Fun.(*ast.SelectorExpr); ok {
				if sel.Sel.Name == "Run" || goroutineLit(x) != nil {
					for _, a := range x.Args {
						if _, ok := a.(*ast.FuncLit); ok {
							return false
						}
					}
				}
				if id, ok := sel.X.(*ast.Ident); ok && stops[sel.Sel.Name] && slices.Contains(names, id.Name) {
					found = id.Name + "." + sel.Sel.Name
					return false
				}
			}
			for j, a := range x.Args {
				if id, ok := a.(*ast.Ident); ok && slices.Contains(names, id.Name) {
					if key := m.callee(sf, x); key != "" && m.stopsThrough(key, j) {
						found = key[strings.Index(key, "|")+1:] + ", which can stop the test through " + id.Name
						return false
					}
				}
			}
		}
		return true
	})
	return found
}

// goroutineStops lists, as "file:line: ...", every goroutine other than
// a test's own that can stop the test: the body of a go statement, of a
// Go method (sync.WaitGroup, errgroup) or of time.AfterFunc, or a
// function a go statement calls with the test's t.
func (m *module) goroutineStops() []string {
	var out []string
	seen := map[token.Pos]bool{}
	report := func(at token.Pos, what string) {
		if !seen[at] {
			seen[at] = true
			out = append(out, fmt.Sprintf("%s: a goroutine other than the test's calls %s", m.fset.Position(at), what))
		}
	}
	for _, sf := range m.files {
		var stack []ast.Node
		ast.Inspect(sf.ast, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			stack = append(stack, n)
			var lit *ast.FuncLit
			var call *ast.CallExpr
			switch x := n.(type) {
			case *ast.GoStmt:
				if l, ok := x.Call.Fun.(*ast.FuncLit); ok {
					lit = l
				} else {
					call = x.Call
				}
			case *ast.CallExpr:
				lit = goroutineLit(x)
			}
			names := enclosingTestingNames(stack)
			switch {
			case lit != nil:
				names = append(names, testingParams(lit.Type)...)
				if what := m.stopsInGoroutine(sf, lit.Body, names); what != "" {
					report(lit.Pos(), what)
				}
			case call != nil:
				for j, a := range call.Args {
					if id, ok := a.(*ast.Ident); ok && slices.Contains(names, id.Name) {
						if key := m.callee(sf, call); key != "" && m.stopsThrough(key, j) {
							report(call.Pos(), key[strings.Index(key, "|")+1:]+", which can stop the test through "+id.Name)
						}
					}
				}
			}
			return true
		})
	}
	return out
}

// stopsInGoroutine is stopsIn for a goroutine's body, where every t in
// sight is a test's, also in nested literals other than subtests.
func (m *module) stopsInGoroutine(sf *srcFile, body *ast.BlockStmt, names []string) string {
	ast.Inspect(body, func(n ast.Node) bool {
		if l, ok := n.(*ast.FuncLit); ok {
			names = append(names, testingParams(l.Type)...)
		}
		return true
	})
	return m.stopsIn(sf, body, names, true)
}

// goroutineLit is the function literal that c runs in a goroutine of its
// own: the argument of a Go method (sync.WaitGroup, errgroup.Group) or
// the function of time.AfterFunc; nil for any other call.
func goroutineLit(c *ast.CallExpr) *ast.FuncLit {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok || len(c.Args) == 0 {
		return nil
	}
	lit, ok := c.Args[len(c.Args)-1].(*ast.FuncLit)
	if !ok {
		return nil
	}
	pkg, _ := sel.X.(*ast.Ident)
	if sel.Sel.Name == "Go" && len(c.Args) == 1 || sel.Sel.Name == "AfterFunc" && pkg != nil && pkg.Name == "time" {
		return lit
	}
	return nil
}

// enclosingTestingNames are the testing parameters of the functions
// around the innermost node of stack.
func enclosingTestingNames(stack []ast.Node) []string {
	var out []string
	for _, n := range stack[:len(stack)-1] {
		switch f := n.(type) {
		case *ast.FuncDecl:
			out = append(out, testingParams(f.Type)...)
		case *ast.FuncLit:
			out = append(out, testingParams(f.Type)...)
		}
	}
	return out
}
