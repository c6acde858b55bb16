//go:build linux

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// runbookDir is docs/runbooks, relative to this package.
const runbookDir = "../../docs/runbooks"

// rbCommand is one shell command of a runbook page: a line of a fenced
// ```sh block, continuation lines joined. Blocks whose info string
// carries the word runbook are run by TestRunbooks; the others are shown
// only, and their geomesh commands are still checked against the CLI.
type rbCommand struct {
	file  string // docs/runbooks/<page>.md
	line  int
	text  string
	run   bool
	block int    // index of its fenced block in the page
	step  string // step=NAME from the info string: the test's hooks
	exit  int    // exit=N from the info string: the status the page promises
}

func (c rbCommand) String() string { return fmt.Sprintf("%s:%d", c.file, c.line) }

// parseRunbook reads the shell commands of one page.
func parseRunbook(path string) ([]rbCommand, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	name := "docs/runbooks/" + filepath.Base(path)
	var (
		out     []rbCommand
		in      bool
		shell   bool
		cur     rbCommand
		block   = -1
		pending *rbCommand // a command continued on the next line
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			if in {
				if pending != nil {
					return nil, fmt.Errorf("%s:%d: command continued past the end of its block", name, pending.line)
				}
				in = false
				continue
			}
			in, block = true, block+1
			info := strings.Fields(strings.TrimPrefix(trimmed, "```"))
			shell = len(info) > 0 && info[0] == "sh"
			cur = rbCommand{file: name, block: block}
			for _, field := range info[min(1, len(info)):] {
				k, v, _ := strings.Cut(field, "=")
				switch k {
				case "runbook":
					cur.run = true
				case "step":
					cur.step = v
				case "exit":
					if cur.exit, err = strconv.Atoi(v); err != nil {
						return nil, fmt.Errorf("%s:%d: exit=%q: %w", name, n, v, err)
					}
				default:
					return nil, fmt.Errorf("%s:%d: unknown fence attribute %q (want runbook, step=NAME, exit=N)", name, n, field)
				}
			}
			if !shell && (cur.run || cur.step != "") {
				return nil, fmt.Errorf("%s:%d: a runbook block must be ```sh", name, n)
			}
			continue
		}
		if !in || !shell {
			continue
		}
		if pending != nil {
			pending.text += " " + strings.TrimSuffix(trimmed, `\`)
			if !strings.HasSuffix(trimmed, `\`) {
				out, pending = append(out, *pending), nil
			}
			continue
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		c := cur
		c.line, c.text = n, strings.TrimSuffix(trimmed, `\`)
		if strings.HasSuffix(trimmed, `\`) {
			pending = &c
			continue
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

// rbStep is what the test does around a step of a page: before sets up
// what the page tells the operator to do by hand (edit a file, restart a
// host), check asserts on the outcome the page promises, given the
// combined output of the step's commands.
type rbStep struct {
	before func(t *testing.T)
	check  func(t *testing.T, out string)
}

// runbooks holds every page, parsed once, and records which pages a
// scenario ran, so that a page nobody runs fails the test.
type runbooks struct {
	bin   string
	pages map[string][]rbCommand // by file name, e.g. planned-switchover.md
	mu    sync.Mutex
	ran   map[string]bool
}

func loadRunbooks(t *testing.T) *runbooks {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(runbookDir, "*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no runbooks in %s: %v", runbookDir, err)
	}
	rb := &runbooks{bin: geomeshBinary(t), pages: map[string][]rbCommand{}, ran: map[string]bool{}}
	for _, f := range files {
		cmds, err := parseRunbook(f)
		if err != nil {
			t.Fatal(err)
		}
		rb.pages[filepath.Base(f)] = cmds
	}
	return rb
}

// run runs the runbook commands of page in order through sh -c, with the
// placeholders in env and the geomesh binary under test first on PATH.
// A command that exits otherwise than its block promises fails the test
// with the page's file and line.
func (rb *runbooks) run(t *testing.T, page string, env map[string]string, steps map[string]rbStep) {
	t.Helper()
	cmds, ok := rb.pages[page]
	if !ok {
		t.Fatalf("docs/runbooks/%s does not exist", page)
	}
	rb.mu.Lock()
	rb.ran[page] = true
	rb.mu.Unlock()
	found := map[string]bool{}
	environ := append(os.Environ(), "PATH="+filepath.Dir(rb.bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		environ = append(environ, k+"="+env[k])
	}
	var out strings.Builder
	n := 0
	for i, c := range cmds {
		if !c.run {
			continue
		}
		n++
		first := i == 0 || cmds[i-1].block != c.block
		last := i == len(cmds)-1 || cmds[i+1].block != c.block
		st := steps[c.step]
		if first {
			out.Reset()
			found[c.step] = true
			if st.before != nil {
				st.before(t)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, "sh", "-c", c.text)
		cmd.Env = environ
		start := time.Now()
		b, err := cmd.CombinedOutput()
		cancel()
		code := 0
		if err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatalf("%s: %s: %v", c, c.text, err)
			}
			code = ee.ExitCode()
		}
		t.Logf("%s: $ %s  (exit %d, %.1fs)\n%s", c, c.text, code, time.Since(start).Seconds(), b)
		if code != c.exit {
			t.Fatalf("%s: %s: exit status %d, the runbook promises %d\n%s", c, c.text, code, c.exit, b)
		}
		out.Write(b)
		if last && st.check != nil {
			st.check(t, out.String())
		}
	}
	if n == 0 {
		t.Errorf("docs/runbooks/%s has no ```sh runbook block", page)
	}
	for name := range steps {
		if name != "" && !found[name] {
			t.Errorf("docs/runbooks/%s has no block with step=%s", page, name)
		}
	}
}

var (
	// shellSplit cuts a command line into the simple commands of a
	// pipeline or list.
	shellSplit = regexp.MustCompile(`\|\||&&|[|;]`)
	helpMu     sync.Mutex
	helpCache  = map[string]string{}
)

// checkUsage fails the test for every geomesh command in any shell block
// of the pages, run or shown, that names a subcommand or a flag the CLI
// does not have, so a page cannot keep a command the CLI dropped.
func (rb *runbooks) checkUsage(t *testing.T) {
	for _, page := range slices.Sorted(maps.Keys(rb.pages)) {
		for _, c := range rb.pages[page] {
			for _, part := range shellSplit.Split(c.text, -1) {
				words := strings.Fields(part)
				if len(words) < 2 || words[0] != "geomesh" {
					continue
				}
				sub := words[1]
				help := rb.help(t, sub)
				if !strings.Contains(help, "Usage:\n  geomesh "+sub+" ") {
					t.Errorf("%s: geomesh has no subcommand %q", c, sub)
					continue
				}
				for _, w := range words[2:] {
					if !strings.HasPrefix(w, "--") {
						continue
					}
					flag, _, _ := strings.Cut(w, "=")
					if !regexp.MustCompile(`\s` + regexp.QuoteMeta(flag) + `\s`).MatchString(help) {
						t.Errorf("%s: geomesh %s has no flag %s", c, sub, flag)
					}
				}
			}
		}
	}
}

func (rb *runbooks) help(t *testing.T, sub string) string {
	helpMu.Lock()
	defer helpMu.Unlock()
	if h, ok := helpCache[sub]; ok {
		return h
	}
	out, _ := exec.Command(rb.bin, sub, "--help").CombinedOutput()
	helpCache[sub] = string(out)
	return string(out)
}

// checkAlerts fails the test for a runbook annotation of an alert rule
// that points at no page.
func (rb *runbooks) checkAlerts(t *testing.T) {
	data, err := os.ReadFile("../../configs/prometheus/geomesh.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			url, ok := r.Annotations["runbook_url"]
			if !ok {
				continue
			}
			n++
			page, _, _ := strings.Cut(strings.TrimPrefix(url, "docs/runbooks/"), "#")
			if _, ok := rb.pages[page]; !ok || !strings.HasPrefix(url, "docs/runbooks/") {
				t.Errorf("alert %s: runbook_url %q is not a page of docs/runbooks", r.Alert, url)
			}
		}
	}
	if n == 0 {
		t.Error("no alert in configs/prometheus/geomesh.rules.yml has a runbook_url")
	}
}

// meshView is the part of one agent's answer in `geomesh status --json`
// that the checks read.
type meshView struct {
	Region   string `json:"region"`
	Agent    string `json:"agent"`
	Error    string `json:"error"`
	Failover *struct {
		Role   string `json:"role"`
		Epoch  uint64 `json:"epoch"`
		Fenced bool   `json:"fenced"`
		State  *struct {
			Epoch    uint64 `json:"epoch"`
			Decision string `json:"decision"`
			Regions  map[string]struct {
				Role      string `json:"role"`
				ClientsTo string `json:"clients_to"`
			} `json:"regions"`
		} `json:"state"`
	} `json:"failover"`
}

// meshStatus runs `geomesh status --json`, which exits 1 while some agent
// does not answer; the answers of the others are still printed.
func (rb *runbooks) meshStatus(t *testing.T, topology string) []meshView {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), rb.bin, "status", "--topology", topology, "--json").Output()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	var views []meshView
	if err := json.Unmarshal(out, &views); err != nil {
		t.Fatalf("geomesh status --json: %v\n%s", err, out)
	}
	return views
}

// wantState waits until every agent that answers `geomesh status --json`
// applied epoch with the given roles (region → role, or
// role(clients→region) for an evacuated region), none fenced, and the
// agents of the regions in down, and only those, do not answer. A
// command returns once the decision is made; the other agents apply it
// within a watch round trip.
func (rb *runbooks) wantState(t *testing.T, topology string, epoch uint64, roles map[string]string, down ...string) {
	t.Helper()
	eventually(t, 15*time.Second, func() error {
		var errs []string
		for _, v := range rb.meshStatus(t, topology) {
			if slices.Contains(down, v.Region) {
				if v.Error == "" {
					errs = append(errs, fmt.Sprintf("agent %s of region %s answers, want it down", v.Agent, v.Region))
				}
				continue
			}
			if v.Error != "" || v.Failover == nil || v.Failover.State == nil {
				errs = append(errs, fmt.Sprintf("agent %s: no state: %s", v.Agent, v.Error))
				continue
			}
			f := v.Failover
			if f.Epoch != epoch || f.State.Epoch != epoch || f.Fenced {
				errs = append(errs, fmt.Sprintf("agent %s: epoch %d (state %d), fenced %v; want epoch %d, not fenced", v.Agent, f.Epoch, f.State.Epoch, f.Fenced, epoch))
			}
			for r, want := range roles {
				rs := f.State.Regions[r]
				got := rs.Role
				if rs.ClientsTo != "" {
					got += "(clients→" + rs.ClientsTo + ")"
				}
				if got != want {
					errs = append(errs, fmt.Sprintf("agent %s: region %s is %q at epoch %d, want %q", v.Agent, r, got, f.State.Epoch, want))
				}
			}
		}
		if len(errs) > 0 {
			return errors.New(strings.Join(errs, "; "))
		}
		return nil
	})
}

// TestRunbooks runs the commands of every page of docs/runbooks against
// real agents on real Kafka clusters, in the situation each page is for,
// and checks the outcome each promises. The three topology kinds run side
// by side, each on clusters of its own where a region dies.
func TestRunbooks(t *testing.T) {
	rb := loadRunbooks(t)
	t.Run("usage", rb.checkUsage)
	t.Run("alerts", rb.checkAlerts)
	// Side by side whatever -parallel says: most of each group's time is
	// spent waiting for detection and drains, not on the CPU.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		started int
	)
	groups := map[string]func(*testing.T, *runbooks){
		"active-passive": runbooksActivePassive,
		"active-active":  runbooksActiveActive,
		"hub-spoke":      runbooksHubSpoke,
	}
	for name, group := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(name, func(t *testing.T) {
				mu.Lock()
				started++
				mu.Unlock()
				group(t, rb)
			})
		}()
	}
	wg.Wait()
	// Only a full run (no -run filter leaving a group out) can tell a
	// page that no scenario runs.
	if t.Failed() || started < len(groups) {
		return
	}
	for page := range rb.pages {
		if page != "README.md" && !rb.ran[page] {
			t.Errorf("docs/runbooks/%s is run by no scenario of TestRunbooks", page)
		}
	}
}
