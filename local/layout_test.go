package local

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestLayoutTable: README's layout table names every package of the
// module (a command under test/ or deploy/ counts as its folder's), and
// every folder its first column names exists.
func TestLayoutTable(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	table, ok := layoutTable(string(readme))
	if !ok {
		t.Fatal("README.md has no table under ## Layout")
	}
	for _, f := range layoutFindings(table, listPackages(t), func(dir string) bool {
		st, err := os.Stat("../" + dir)
		return err == nil && st.IsDir()
	}) {
		t.Error(f)
	}
}

// TestLayoutTablePlanted: a package the table omits and a row for a
// folder that does not exist are both found.
func TestLayoutTablePlanted(t *testing.T) {
	table := "| `agent` | x |\n| `gone` | y, and `local/demo` |\n| `test/bench` | z |\n"
	pkgs := []listedPackage{{ImportPath: module + "/agent"}, {ImportPath: module + "/local/demo"},
		{ImportPath: module + "/mirror/stranded"}, {ImportPath: module + "/test/bench/cmd/geomesh-bench"}}
	got := layoutFindings(table, pkgs, func(dir string) bool { return dir != "gone" })
	want := []string{"README's layout table names gone, which is not a folder", "README's layout table does not name mirror/stranded"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings %q, want %q", got, want)
	}
}

// layoutTable is the rows of the table under README's ## Layout.
func layoutTable(readme string) (string, bool) {
	_, after, ok := strings.Cut(readme, "\n## Layout\n")
	if !ok {
		return "", false
	}
	var rows []string
	for _, line := range strings.Split(after, "\n") {
		if strings.HasPrefix(line, "## ") {
			break
		}
		if strings.HasPrefix(line, "| `") {
			rows = append(rows, line)
		}
	}
	return strings.Join(rows, "\n"), len(rows) > 0
}

var backticked = regexp.MustCompile("`([a-z0-9/_.-]+)`")

// layoutFindings compares the table's rows with the packages: each
// package must be named in a row (commands under test/ and deploy/ by
// their folder), and each folder a row starts with must exist.
func layoutFindings(table string, pkgs []listedPackage, isDir func(string) bool) []string {
	named := map[string]bool{}
	var out []string
	for _, row := range strings.Split(table, "\n") {
		cols := strings.SplitN(row, "|", 3)
		if len(cols) < 3 {
			continue
		}
		for i, m := range backticked.FindAllStringSubmatch(row, -1) {
			named[m[1]] = true
			if i == 0 && !isDir(m[1]) {
				out = append(out, "README's layout table names "+m[1]+", which is not a folder")
			}
		}
	}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		if i := strings.Index(rel, "/cmd/"); i > 0 && (strings.HasPrefix(rel, "test/") || strings.HasPrefix(rel, "deploy/")) {
			rel = rel[:i]
		}
		if strings.HasPrefix(rel, "deploy/") {
			rel = "deploy"
		}
		if !named[rel] {
			out = append(out, "README's layout table does not name "+rel)
		}
	}
	return out
}
