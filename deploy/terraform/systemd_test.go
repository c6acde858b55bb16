package terraform_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/geomesh/geomesh/internal/statedir"
	"github.com/geomesh/geomesh/internal/testkit"
)

const unitPath = "../systemd/geomesh-agent.service"

// unitSettings returns the unit's Key=value lines by section; a key may repeat.
func unitSettings(t *testing.T, unit string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	for _, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("unit line %q is not Key=value in a section", line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	s := unitSettings(t, string(b))
	want := map[string]string{
		"Restart":               "on-failure",
		"KillSignal":            "SIGTERM",
		"TimeoutStopSec":        "15", // the agent stops within 10 s
		"ProtectSystem":         "strict",
		"ProtectHome":           "yes",
		"NoNewPrivileges":       "yes",
		"PrivateTmp":            "yes",
		"User":                  "geomesh",
		"StateDirectory":        "geomesh",
		"LimitNOFILE":           "65536",
		"CapabilityBoundingSet": "",
	}
	for k, v := range want {
		if got := s["Service"][k]; len(got) != 1 || got[0] != v {
			t.Errorf("[Service] %s = %q, want %q", k, got, v)
		}
	}
	if got := s["Install"]["WantedBy"]; len(got) != 1 || got[0] != "multi-user.target" {
		t.Errorf("[Install] WantedBy = %q", got)
	}
	for _, k := range []string{"StartLimitIntervalSec", "StartLimitBurst"} {
		if len(s["Unit"][k]) != 1 {
			t.Errorf("[Unit] %s missing: without it Restart=on-failure loops on a broken topology", k)
		}
	}
}

// TestSystemdUnitCopiesAgree: the aws-region module ships its own copy of
// the unit (a module must not reach outside its directory).
func TestSystemdUnitCopiesAgree(t *testing.T) {
	a, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("modules", "aws-region", "files", "geomesh-agent.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("modules/aws-region/files/geomesh-agent.service differs from deploy/systemd/geomesh-agent.service; copy it over")
	}
}

var envRef = regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)\}`)

// TestSystemdUnitRunsTheAgent builds geomesh and checks that the unit's
// command lines use only flags the binary has and variables every agent's
// rendered environment file sets, and (where systemd is installed) that
// systemd-analyze verify accepts the unit.
func TestSystemdUnitRunsTheAgent(t *testing.T) {
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	s := unitSettings(t, string(b))
	bin := filepath.Join(t.TempDir(), "geomesh")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/geomesh")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	for _, key := range []string{"ExecStartPre", "ExecStart"} {
		for _, line := range s["Service"][key] {
			args := strings.Fields(line)
			if args[0] != "/usr/local/bin/geomesh" || len(args) < 2 {
				t.Errorf("%s=%s: want /usr/local/bin/geomesh SUBCOMMAND ...", key, line)
				continue
			}
			help, err := exec.Command(bin, args[1], "--help").CombinedOutput()
			if err != nil {
				t.Errorf("geomesh %s --help: %v\n%s", args[1], err, help)
				continue
			}
			for _, a := range args[2:] {
				if strings.HasPrefix(a, "--") && !strings.Contains(string(help), a+" ") {
					t.Errorf("%s uses %s, which `geomesh %s` does not take", key, a, args[1])
				}
			}
		}
	}

	var refs []string
	for _, key := range []string{"ExecStartPre", "ExecStart"} {
		for _, line := range s["Service"][key] {
			for _, m := range envRef.FindAllStringSubmatch(line, -1) {
				refs = append(refs, m[1])
			}
		}
	}
	sort.Strings(refs)
	if len(refs) == 0 {
		t.Fatal("ExecStart takes no ${VARIABLE}s; the environment file would be pointless")
	}
	example, err := os.ReadFile("../systemd/geomesh.env.example")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"deploy/systemd/geomesh.env.example": string(example)}
	for id, env := range renderExample(t, "active-passive").EnvFiles {
		files["mesh-config environment file of "+id] = env
	}
	for name, env := range files {
		for _, ref := range refs {
			if !regexp.MustCompile(`(?m)^` + ref + `=\S`).MatchString(env) {
				t.Errorf("%s does not set %s, which the unit's command line uses", name, ref)
			}
		}
	}

	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze not installed; unit syntax checked by the tests above only")
		return
	}
	unit := filepath.Join(t.TempDir(), "geomesh-agent.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(b, []byte("/usr/local/bin/geomesh"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSystemdUnitKeepsTheState: the agent's default state directory,
// /var/lib/geomesh/<mesh> as `geomesh agent --help` states it, lies in
// the directory the unit has systemd create and keep (StateDirectory),
// the one place ProtectSystem=strict lets the agent write; the unit's
// command line does not move it, and no example's rendered topology sets
// a control_plane.state_dir outside it.
func TestSystemdUnitKeepsTheState(t *testing.T) {
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	s := unitSettings(t, string(b))["Service"]
	if got := s["StateDirectory"]; len(got) != 1 || "/var/lib/"+got[0] != statedir.ServiceRoot {
		t.Fatalf("StateDirectory=%q: the agent keeps its state under %s", got, statedir.ServiceRoot)
	}
	if got := s["WorkingDirectory"]; len(got) != 1 || got[0] != statedir.ServiceRoot {
		t.Errorf("WorkingDirectory=%q, want %s", got, statedir.ServiceRoot)
	}
	if got := s["ReadWritePaths"]; len(got) > 0 {
		t.Errorf("ReadWritePaths=%q: the state directory needs none", got)
	}
	for _, line := range s["ExecStart"] {
		if strings.Contains(line, "--state-dir") || strings.Contains(line, "TMPDIR") {
			t.Errorf("ExecStart=%s moves the state directory away from the unit's", line)
		}
	}
	if !strings.Contains(string(b), statedir.ServiceRoot+"/<mesh>/<id>") {
		t.Errorf("the unit's comment does not say where the agent keeps its state (%s/<mesh>/<id>)", statedir.ServiceRoot)
	}

	help, err := exec.Command(testkit.BuildGeomesh(t), "agent", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("geomesh agent --help: %v\n%s", err, help)
	}
	if want := "else " + statedir.ServiceRoot + "/<mesh>)"; !strings.Contains(string(help), want) {
		t.Errorf("geomesh agent --help does not give the default state directory as %q:\n%s", want, help)
	}

	for _, ex := range examples(t) {
		r := renderExample(t, ex)
		if d := r.Mesh.ControlPlane.StateDir; d != "" && !strings.HasPrefix(d, statedir.ServiceRoot+"/") {
			t.Errorf("example %s renders control_plane.state_dir %s, outside the unit's %s", ex, d, statedir.ServiceRoot)
		}
	}
}
