package terraform_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-config-inspect/tfconfig"
)

var update = flag.Bool("update", false, "rewrite the generated tables in docs/deploy.md")

const deployDoc = "../../docs/deploy.md"

var spaces = regexp.MustCompile(`\s+`)

func cell(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(spaces.ReplaceAllString(s, " ")), "|", `\|`)
}

// moduleTables renders a module's inputs and outputs as Markdown tables, in
// declaration order.
func moduleTables(t *testing.T, dir string) string {
	t.Helper()
	mod, diags := tfconfig.LoadModule(dir)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	vars := sortedVariables(mod)
	sort.SliceStable(vars, func(i, j int) bool {
		a, b := vars[i].Pos, vars[j].Pos
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Line < b.Line
	})
	var b strings.Builder
	b.WriteString("| Input | Type | Default | Description |\n|---|---|---|---|\n")
	for _, v := range vars {
		def := "required"
		if !v.Required {
			j, _ := json.Marshal(v.Default)
			def = "`" + string(j) + "`"
		}
		typ := cell(v.Type)
		if len(typ) > 40 {
			typ = typ[:strings.IndexAny(typ, "({")] + "(…)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", v.Name, typ, def, cell(v.Description))
	}
	var outs []*tfconfig.Output
	for _, o := range mod.Outputs {
		outs = append(outs, o)
	}
	sort.Slice(outs, func(i, j int) bool { return outs[i].Pos.Line < outs[j].Pos.Line })
	b.WriteString("\n| Output | Description |\n|---|---|\n")
	for _, o := range outs {
		fmt.Fprintf(&b, "| `%s` | %s |\n", o.Name, cell(o.Description))
	}
	return b.String()
}

// TestDeployDocTables keeps the module tables in docs/deploy.md equal to the
// HCL; `go test ./deploy/terraform -run DeployDoc -update` rewrites them.
func TestDeployDocTables(t *testing.T) {
	doc, err := os.ReadFile(deployDoc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	for _, m := range []string{"mesh-config", "aws-region"} {
		begin := fmt.Sprintf("<!-- BEGIN GENERATED %s: go test ./deploy/terraform -run DeployDoc -update -->\n", m)
		end := fmt.Sprintf("<!-- END GENERATED %s -->", m)
		i, j := strings.Index(text, begin), strings.Index(text, end)
		if i < 0 || j < i {
			t.Fatalf("docs/deploy.md lacks the markers %q ... %q", strings.TrimSpace(begin), end)
		}
		want := moduleTables(t, filepath.Join("modules", m))
		if got := text[i+len(begin) : j]; got != want {
			if !*update {
				t.Errorf("docs/deploy.md: the %s tables are out of date; run go test ./deploy/terraform -run DeployDoc -update", m)
				continue
			}
			text = text[:i+len(begin)] + want + text[j:]
		}
	}
	if *update {
		if err := os.WriteFile(deployDoc, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
