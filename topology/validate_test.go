package topology

import (
	"errors"
	"strings"
	"testing"
)

// base is a valid active-passive mesh on loopback addresses; tests replace
// parts of it with strings.Replace.
const base = `mesh: shop
topology:
  kind: active-passive
  primary: us-east
  standby: [eu-west]
regions:
  - name: us-east
    kafka: {bootstrap: [127.0.0.1:19092], embedded: true}
    agents: [{id: us-east-1, gossip: 127.0.0.1:17946, api: 127.0.0.1:18080, control: 127.0.0.1:16222}]
  - name: eu-west
    kafka: {bootstrap: [127.0.0.1:19093], embedded: true}
    agents: [{id: eu-west-1, gossip: 127.0.0.1:17947, api: 127.0.0.1:18081, control: 127.0.0.1:16223}]
`

// edit returns base with each old string replaced by the new one that
// follows it; each old string must occur in base.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := base
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%q is not in the base file", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// problems parses text and returns its messages without positions, or
// nil for a valid file.
func problems(t *testing.T, text string, opts ...Option) []string {
	t.Helper()
	_, err := Parse("mesh.yaml", []byte(text), opts...)
	if err == nil {
		return nil
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse: %v (%T), want Errors", err, err)
	}
	var out []string
	for _, e := range errs {
		out = append(out, e.Msg)
	}
	return out
}

// wantProblem fails unless text is refused with a message containing want.
func wantProblem(t *testing.T, text, want string, opts ...Option) {
	t.Helper()
	got := problems(t, text, opts...)
	for _, m := range got {
		if strings.Contains(m, want) {
			return
		}
	}
	t.Errorf("want a problem containing %q, got %q\n%s", want, got, text)
}

func wantValid(t *testing.T, text string, opts ...Option) {
	t.Helper()
	if got := problems(t, text, opts...); got != nil {
		t.Errorf("want a valid file, got %q\n%s", got, text)
	}
}

func TestBaseValid(t *testing.T) { wantValid(t, base) }

func TestAgentIDs(t *testing.T) {
	for _, id := range []string{"us-east-1", "a", "0", "a.b_c-d", "node.eu-west.1", strings.Repeat("a", 63)} {
		wantValid(t, edit(t, "{id: us-east-1,", "{id: \""+id+"\","))
	}
	for _, id := range []string{"..", ".hidden", "../x", "a/b", "-x", "_x", "Us-East-1", "a b", "a\\nb", "a\\tb",
		"<script>", "a&b", "ü", strings.Repeat("a", 64)} {
		wantProblem(t, edit(t, "{id: us-east-1,", "{id: \""+id+"\","), "must be lowercase letters, digits, '.', '_' and '-'")
	}
}

func TestRegionAndMeshNames(t *testing.T) {
	for _, name := range []string{"x", "eu-west-2", "a1", strings.Repeat("a", 63)} {
		wantValid(t, edit(t, "mesh: shop", "mesh: "+name))
		wantValid(t, edit(t, "name: eu-west", "name: "+name, "standby: [eu-west]", "standby: ["+name+"]"))
	}
	for _, name := range []string{"../x", "eu.west", "eu_west", "EU", "-eu", "eu-", "a b", "a\\nb", "<b>", strings.Repeat("a", 64)} {
		wantProblem(t, edit(t, "mesh: shop", "mesh: \""+name+"\""), "mesh name")
		wantProblem(t, edit(t, "name: eu-west", "name: \""+name+"\""), "region name")
	}
}
