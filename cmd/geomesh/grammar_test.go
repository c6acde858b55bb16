package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geomesh/geomesh/internal/testkit"
)

// commandLines are the commands that read a topology file, each with the
// flags it needs besides the file.
var commandLines = [][]string{
	{"validate"},
	{"plan"},
	{"up"},
	{"agent", "--region", "us-east"},
	{"status"},
	{"failover", "--to", "eu-west"},
	{"failback"},
	{"translate", "--group", "g", "--from", "us-east", "--to", "eu-west"},
	{"keys", "list"},
	{"demo"},
}

// TestTopologyGrammar: every command takes the topology file from -t,
// --topology and $GEOMESH_TOPOLOGY; without any, every one but demo (which
// runs the built-in example then) is a usage error.
func TestTopologyGrammar(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	for _, line := range commandLines {
		t.Run(line[0], func(t *testing.T) {
			t.Setenv(envTopology, "")
			for _, c := range []struct {
				how  string
				args []string
				env  string
			}{
				{"-t", append([]string{line[0], "-t", missing}, line[1:]...), ""},
				{"--topology", append(append([]string{}, line...), "--topology", missing), ""},
				{"-t before the command", append([]string{"-t", missing}, line...), ""},
				{"$" + envTopology, line, missing},
			} {
				t.Setenv(envTopology, c.env)
				_, errOut, err := run(t, c.args...)
				if code := exitCode(err); code != exitFailure || !strings.Contains(errOut, missing+": cannot read") {
					t.Errorf("%s: %v: exit %d (%v), stderr %q; want 1 and the file named", c.how, c.args, code, err, errOut)
				}
			}
			if line[0] == "demo" {
				return
			}
			t.Setenv(envTopology, "")
			_, _, err := run(t, line...)
			if code := exitCode(err); code != exitUsage || !strings.Contains(fmt.Sprint(err), "no topology file: give -t FILE or set $GEOMESH_TOPOLOGY") {
				t.Errorf("no file: %v: exit %d (%v); want 2", line, code, err)
			}
		})
	}
}

// TestTopologyPositional: validate, plan and up still take the file as
// their argument, which beats $GEOMESH_TOPOLOGY; an argument and -t
// together are a usage error.
func TestTopologyPositional(t *testing.T) {
	example := "../../configs/examples/active-passive.yaml"
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	t.Setenv(envTopology, missing)
	out, _, err := run(t, "plan", example)
	if err != nil || !strings.HasPrefix(out, "mesh shop (active-passive), 1 flow") {
		t.Errorf("plan FILE with $%s set elsewhere: %v\n%s", envTopology, err, out)
	}
	out, _, err = run(t, "validate", example)
	if err != nil || !strings.Contains(out, example+": ok") {
		t.Errorf("validate FILE: %v\n%s", err, out)
	}
	for _, cmd := range []string{"validate", "plan", "up"} {
		_, errOut, err := run(t, cmd, missing)
		if exitCode(err) != exitFailure || !strings.Contains(errOut, missing+": cannot read") {
			t.Errorf("%s FILE: exit %d (%v), stderr %q", cmd, exitCode(err), err, errOut)
		}
		_, _, err = run(t, cmd, "-t", example, example)
		if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "given twice") {
			t.Errorf("%s -t FILE FILE: exit %d (%v), want a usage error", cmd, exitCode(err), err)
		}
	}
	if _, _, err := run(t, "plan", example, example); exitCode(err) != exitUsage {
		t.Errorf("plan with two files: exit %d (%v)", exitCode(err), err)
	}
}

// TestDemoGrammar: demo names a built-in example with --example and a
// file with -t, not both; -t with an example's name says what changed; a
// file on clusters the demo does not own is refused.
func TestDemoGrammar(t *testing.T) {
	t.Setenv(envTopology, "")
	example := "../../configs/examples/active-passive.yaml"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "-t", example, "--example", "hub-spoke"}, "either a file (-t) or a built-in example (--example), not both"},
		{[]string{"demo", "--topology", "active-active"}, "-t names a file; for the built-in example say --example active-active"},
		{[]string{"demo", "-t", ""}, "-t/--topology names no file"},
		{[]string{"demo", "--example", "ring"}, `unknown example topology "ring" (have active-active, active-passive, hub-spoke)`},
		{[]string{"demo", "-t", translateMesh(t, testkit.RefusedAddr(t), testkit.RefusedAddr(t))}, "demo runs on embedded clusters only"},
		{[]string{"demo", "--example", "active-passive", "--json", "--log-format", "xml"}, `--log-format "xml": want text or json`},
	} {
		_, _, err := run(t, c.args...)
		if exitCode(err) != exitUsage || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("%v: exit %d (%v); want 2 and %q", c.args, exitCode(err), err, c.want)
		}
	}
	_, _, err := run(t, "demo", "-t", example, "--fail-region", "nowhere")
	if exitCode(err) != exitNotFound || !strings.Contains(fmt.Sprint(err), `no region "nowhere" in mesh shop (regions: us-east, eu-west, witness)`) {
		t.Errorf("--fail-region nowhere: exit %d (%v)", exitCode(err), err)
	}
}

// TestGlobalFlags: --json, --log-level and --log-format are the root's,
// accepted before or after the command; commands without JSON refuse
// --json.
func TestGlobalFlags(t *testing.T) {
	example := "../../configs/examples/active-passive.yaml"
	for _, args := range [][]string{{"--json", "plan", example}, {"plan", example, "--json"}, {"--log-level", "debug", "plan", "--json", example}} {
		out, _, err := run(t, args...)
		if err != nil || !strings.HasPrefix(out, "{") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	for _, args := range [][]string{{"up", "--json", example}, {"agent", "-t", example, "--region", "us-east", "--json"}} {
		_, _, err := run(t, args...)
		if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "prints no JSON") {
			t.Errorf("%v: exit %d (%v)", args, exitCode(err), err)
		}
	}
	if _, _, err := run(t, "--log-level", "loud", "version"); exitCode(err) != exitUsage {
		t.Errorf("--log-level loud: exit %d (%v)", exitCode(err), err)
	}
}

// agentsMesh writes an active-passive topology us-east → eu-west whose
// agents' APIs are at the given addresses; the clusters refuse
// connections.
func agentsMesh(t *testing.T, eastAPI, westAPI string) string {
	t.Helper()
	return meshFile(t, "shop", meshRegion{name: "us-east", api: eastAPI}, meshRegion{name: "eu-west", api: westAPI})
}

// meshRegion is a region of meshFile's topology: the bootstrap address of
// its cluster and the API address of its one agent, "" for an address
// that refuses connections.
type meshRegion struct{ name, bootstrap, api string }

// meshFile writes a topology file of mesh in which primary copies orders
// to standby. The agents' gossip and control plane addresses refuse
// connections, as do the addresses that primary and standby leave "".
func meshFile(t *testing.T, mesh string, primary, standby meshRegion) string {
	t.Helper()
	given := func(addr string) string {
		if addr == "" {
			return testkit.RefusedAddr(t)
		}
		return addr
	}
	var b strings.Builder
	fmt.Fprintf(&b, "mesh: %s\ntopology: {kind: active-passive, primary: %s, standby: [%s]}\ntopics: {include: [orders]}\nregions:\n", mesh, primary.name, standby.name)
	for _, r := range []meshRegion{primary, standby} {
		fmt.Fprintf(&b, "  - name: %s\n    kafka: {bootstrap: [%q]}\n    agents: [{id: %s-1, gossip: %q, api: %q, control: %q}]\n",
			r.name, given(r.bootstrap), r.name, testkit.RefusedAddr(t), given(r.api), testkit.RefusedAddr(t))
	}
	return testkit.TempFile(t, mesh+".yaml", b.String())
}

// fakeAgent serves canned answers, by "METHOD /path", on a random
// loopback port and returns its address; other requests get a 404.
func fakeAgent(t *testing.T, answers map[string]fakeAnswer) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.Method+" "+r.URL.Path]
		if !ok {
			a = fakeAnswer{http.StatusNotFound, `{"error":"no such endpoint"}`}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.code)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

type fakeAnswer struct {
	code int
	body string
}

// TestExitCodes pins one case of every exit status of docs/cli.md; the
// translate tests pin 5 and translate's 1, 3 and 4.
func TestExitCodes(t *testing.T) {
	t.Setenv(envTopology, "")
	example := "../../configs/examples/active-passive.yaml"
	refusing := fakeAgent(t, map[string]fakeAnswer{
		"POST /v1/failover": {http.StatusConflict, `{"error":"another decision came first"}`},
		"POST /v1/failback": {http.StatusConflict, `{"error":"us-east has not rejoined as a standby"}`},
	})
	mesh := agentsMesh(t, refusing, testkit.RefusedAddr(t))
	for _, c := range []struct {
		name string
		args []string
		code int
		want string // in the error
	}{
		{"ok", []string{"plan", "-t", example}, 0, ""},
		{"failure: invalid file", []string{"validate", "../../topology/testdata/invalid/three-errors.yaml"}, exitFailure, ""},
		{"failure: no agent answers", []string{"status", "-t", agentsMesh(t, testkit.RefusedAddr(t), testkit.RefusedAddr(t))}, exitFailure, ""},
		{"usage: unknown flag", []string{"plan", "--bogus"}, exitUsage, "unknown flag: --bogus"},
		{"usage: unknown command", []string{"plant"}, exitUsage, `unknown command "plant"`},
		{"usage: required flag", []string{"failover", "-t", mesh}, exitUsage, `required flag(s) "to" not set`},
		{"usage: arguments", []string{"status", "-t", mesh, "extra"}, exitUsage, `unknown command "extra"`},
		{"usage: keys operation", []string{"keys", "rotate", "-t", mesh}, exitUsage, `unknown keys operation "rotate"`},
		{"usage: keys without a key", []string{"keys", "install", "-t", mesh}, exitUsage, "keys install needs --key"},
		{"refused: failover", []string{"failover", "-t", mesh, "--to", "eu-west"}, exitRefused, "another decision came first (HTTP 409)"},
		{"refused: failback", []string{"failback", "-t", mesh}, exitRefused, "has not rejoined as a standby (HTTP 409)"},
		{"not found: failover region", []string{"failover", "-t", mesh, "--to", "ap-south"}, exitNotFound, `no region "ap-south" in mesh shop (regions: us-east, eu-west)`},
		{"not found: agent region", []string{"agent", "-t", mesh, "--region", "ap-south"}, exitNotFound, `no region "ap-south" in mesh shop`},
		{"not found: agent id", []string{"agent", "-t", mesh, "--region", "us-east", "--id", "us-east-9"}, exitNotFound, `no agent "us-east-9" in region us-east of mesh shop (agents: us-east-1)`},
		{"not found: translate to", []string{"translate", "-t", mesh, "--group", "g", "--from", "us-east", "--to", "nowhere"}, exitNotFound, `no region "nowhere" in mesh shop (regions: us-east, eu-west)`},
		{"not found: translate from", []string{"translate", "-t", mesh, "--group", "g", "--from", "nowhere", "--to", "eu-west"}, exitNotFound, `no region "nowhere" in mesh shop`},
		{"not found: no flow", []string{"translate", "-t", mesh, "--group", "g", "--from", "eu-west", "--to", "us-east"}, exitNotFound, "copies nothing from eu-west to us-east"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr strings.Builder
			root := rootCmd()
			root.SetOut(io.Discard)
			root.SetErr(io.Discard)
			code := execute(root, c.args, &stderr)
			if code != c.code || !strings.Contains(stderr.String(), c.want) {
				t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr.String(), c.code, c.want)
			}
			if (code == exitUsage) != strings.Contains(stderr.String(), "--help' for usage.") {
				t.Errorf("%v: exit %d, stderr %q: the usage hint goes with exit 2 only", c.args, code, stderr.String())
			}
		})
	}
}

// TestNoLocalCopies: the global flags are the root's alone; no command
// defines a flag of the same name that would shadow them.
func TestNoLocalCopies(t *testing.T) {
	root := rootCmd()
	for _, cmd := range root.Commands() {
		for _, name := range []string{"topology", "json", "log-level", "log-format"} {
			if cmd.LocalNonPersistentFlags().Lookup(name) != nil || cmd.PersistentFlags().Lookup(name) != nil {
				t.Errorf("geomesh %s defines its own --%s", cmd.Name(), name)
			}
		}
		if cmd.LocalNonPersistentFlags().ShorthandLookup("t") != nil {
			t.Errorf("geomesh %s defines its own -t", cmd.Name())
		}
	}
}
