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
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
)

// runbookDir is docs/runbooks, relative to this package.
const runbookDir = "../../docs/runbooks"

// rbCommand is one shell command of a runbook page: a line of a fenced
// ```sh block, continuation lines joined. TestRunbooks runs every one of
// them.
type rbCommand struct {
	file  string // docs/runbooks/<page>.md
	line  int
	text  string
	block int    // index of its fenced block in the page
	step  string // step=NAME from the info string: the test's hooks
	exit  int    // exit=N from the info string: the status the page promises
	bg    bool   // bg in the info string: a service the step leaves running
}

func (c rbCommand) String() string { return fmt.Sprintf("%s:%d", c.file, c.line) }

// parseRunbook reads the shell commands of one page, and the geomesh
// commands its prose quotes in `inline code`.
func parseRunbook(path string) (cmds []rbCommand, inline []rbCommand, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	name := "docs/runbooks/" + filepath.Base(path)
	var (
		in      bool
		shell   bool
		cur     rbCommand
		block   = -1
		pending *rbCommand // a command continued on the next line
		para    strings.Builder
		paraAt  int
	)
	flush := func() {
		for _, m := range inlineCode.FindAllStringSubmatch(para.String(), -1) {
			if strings.HasPrefix(m[1], "geomesh ") {
				inline = append(inline, rbCommand{file: name, line: paraAt, text: m[1]})
			}
		}
		para.Reset()
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			flush()
			if in {
				if pending != nil {
					return nil, nil, fmt.Errorf("%s:%d: command continued past the end of its block", name, pending.line)
				}
				in = false
				continue
			}
			in, block = true, block+1
			info := strings.Fields(strings.TrimPrefix(trimmed, "```"))
			if len(info) == 0 || slices.Contains([]string{"bash", "shell", "console", "zsh"}, info[0]) {
				return nil, nil, fmt.Errorf("%s:%d: a block of commands must be ```sh, so that TestRunbooks runs it; other blocks name their language (yaml, json, text)", name, n)
			}
			shell = info[0] == "sh"
			cur = rbCommand{file: name, block: block}
			for _, field := range info[1:] {
				k, v, _ := strings.Cut(field, "=")
				switch {
				case !shell:
					return nil, nil, fmt.Errorf("%s:%d: attribute %q on a ```%s block: only ```sh blocks run", name, n, field, info[0])
				case k == "step":
					cur.step = v
				case k == "exit":
					if cur.exit, err = strconv.Atoi(v); err != nil {
						return nil, nil, fmt.Errorf("%s:%d: exit=%q: %w", name, n, v, err)
					}
				case field == "bg":
					cur.bg = true
				default:
					return nil, nil, fmt.Errorf("%s:%d: unknown fence attribute %q (want step=NAME, exit=N, bg)", name, n, field)
				}
			}
			continue
		}
		if !in {
			if trimmed == "" {
				flush()
			} else {
				if para.Len() == 0 {
					paraAt = n
				}
				para.WriteString(trimmed + " ")
			}
			continue
		}
		if !shell {
			continue
		}
		if pending != nil {
			pending.text += " " + strings.TrimSpace(strings.TrimSuffix(trimmed, `\`))
			if !strings.HasSuffix(trimmed, `\`) {
				cmds, pending = append(cmds, *pending), nil
			}
			continue
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		c := cur
		c.line, c.text = n, strings.TrimSpace(strings.TrimSuffix(trimmed, `\`))
		if strings.HasSuffix(trimmed, `\`) {
			pending = &c
			continue
		}
		cmds = append(cmds, c)
	}
	flush()
	if in {
		return nil, nil, fmt.Errorf("%s: a fenced block is not closed", name)
	}
	for _, c := range cmds {
		if c.bg && len(slices.DeleteFunc(slices.Clone(cmds), func(o rbCommand) bool { return o.block != c.block })) != 1 {
			return nil, nil, fmt.Errorf("%s: a bg block holds one command", c)
		}
	}
	return cmds, inline, sc.Err()
}

// inlineCode finds `code` spans in a paragraph.
var inlineCode = regexp.MustCompile("`([^`]+)`")

// rbStep is what the test does around a step of a page: before sets up
// what the page tells the operator to do by hand (edit a file, roll it
// out), check asserts on the outcome the page promises, given the
// combined output of the step's commands, and started adopts the process
// a bg command started. A step the page runs on some hosts (systemctl on
// every host of the mesh, or on each in turn) names them in hosts: its
// commands run once for each, in order, with the host in $GEOMESH_RUNBOOK_HOST,
// and each, if set, runs after the commands ran on one host, as the
// operator waits before going on to the next.
type rbStep struct {
	before  func(t *testing.T)
	check   func(t *testing.T, out string)
	started func(t *testing.T, p *rbProc)
	hosts   []rbHost
	each    func(t *testing.T, host string)
}

// runbooks holds every page, parsed once, and records which commands a
// scenario ran, so that a command nobody runs fails the test.
type runbooks struct {
	bin     string
	shims   string                 // directory of systemctl and kafka-console-consumer.sh
	systemd *rbSystemd             // what the systemctl shim calls
	pages   map[string][]rbCommand // by file name, e.g. planned-switchover.md
	inline  map[string][]rbCommand // geomesh commands quoted in the prose
	logs    string                 // directory of the logs of bg commands
	mu      sync.Mutex
	ran     map[string]bool // by rbCommand.String()
}

func loadRunbooks(t *testing.T) *runbooks {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(runbookDir, "*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no runbooks in %s: %v", runbookDir, err)
	}
	rb := &runbooks{bin: testkit.BuildGeomesh(t), pages: map[string][]rbCommand{}, inline: map[string][]rbCommand{}, logs: t.TempDir(), ran: map[string]bool{}}
	for _, f := range files {
		cmds, inline, err := parseRunbook(f)
		if err != nil {
			t.Fatal(err)
		}
		rb.pages[filepath.Base(f)], rb.inline[filepath.Base(f)] = cmds, inline
	}
	rb.shims = rb.startHosts(t, clusters[0].Libs())
	return rb
}

// placeholder finds the shell variables a command uses; a "-" after the
// name is a default (${TMPDIR:-/tmp}).
var placeholder = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)(:?-)?`)

// run runs the commands of page in order through sh -c, with the
// placeholders in env and, first on PATH, the shims of startHosts and the
// geomesh binary under test. A command that exits otherwise than its
// block promises fails the test with the page's file and line, and so
// does one that uses a placeholder env does not set. A bg command is
// started and handed to its step's started hook, which owns it from then
// on.
func (rb *runbooks) run(t *testing.T, page string, env map[string]string, steps map[string]rbStep) {
	t.Helper()
	cmds, ok := rb.pages[page]
	if !ok {
		t.Fatalf("docs/runbooks/%s does not exist", page)
	}
	found := map[string]bool{}
	path := strings.Join([]string{rb.shims, filepath.Dir(rb.bin), os.Getenv("PATH")}, string(os.PathListSeparator))
	environ := append(os.Environ(), "PATH="+path)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		environ = append(environ, k+"="+env[k])
	}
	for i := 0; i < len(cmds); {
		n := 1
		for i+n < len(cmds) && cmds[i+n].block == cmds[i].block {
			n++
		}
		found[cmds[i].step] = true
		rb.runBlock(t, cmds[i:i+n], steps[cmds[i].step], env, environ)
		i += n
	}
	for name := range steps {
		if name != "" && !found[name] {
			t.Errorf("docs/runbooks/%s has no block with step=%s", page, name)
		}
	}
}

// runBlock runs the commands of one fenced block, which make a step: on
// each of the step's hosts in turn, or once where it names none.
func (rb *runbooks) runBlock(t *testing.T, block []rbCommand, st rbStep, env map[string]string, environ []string) {
	t.Helper()
	if st.before != nil {
		st.before(t)
	}
	hosts := st.hosts
	if len(hosts) == 0 {
		hosts = []rbHost{{}}
	} else {
		release, err := rb.systemd.use(hosts)
		if err != nil {
			t.Fatalf("%s: %v", block[0], err)
		}
		defer release()
	}
	var out strings.Builder
	for _, h := range hosts {
		for _, c := range block {
			rb.mu.Lock()
			rb.ran[c.String()] = true
			rb.mu.Unlock()
			rb.checkPlaceholders(t, c, env)
			switch {
			case c.bg && h.name != "":
				t.Fatalf("%s: a bg command starts one service, on no host of the step's", c)
			case c.bg:
				if st.started == nil {
					t.Fatalf("%s: a bg command needs a step whose started hook owns the process", c)
				}
				st.started(t, rb.start(t, c, environ))
			default:
				out.Write(rb.exec(t, c, h.name, environ))
			}
		}
		if h.name != "" && st.each != nil {
			st.each(t, h.name)
		}
	}
	if st.check != nil {
		st.check(t, out.String())
	}
}

// checkPlaceholders fails the test for a variable of c that env does not
// set: the shell would expand it to nothing.
func (rb *runbooks) checkPlaceholders(t *testing.T, c rbCommand, env map[string]string) {
	t.Helper()
	for _, m := range placeholder.FindAllStringSubmatch(c.text, -1) {
		if _, ok := env[m[1]]; !ok && m[2] == "" {
			t.Fatalf("%s: %s uses $%s, which the scenario does not set", c, c.text, m[1])
		}
	}
}

// exec runs one command, on host if not empty, and returns its combined
// output.
func (rb *runbooks) exec(t *testing.T, c rbCommand, host string, environ []string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", c.text)
	cmd.Env = environ
	at := c.String()
	if host != "" {
		cmd.Env = append(slices.Clone(environ), hostEnv+"="+host)
		at += " on " + host
	}
	start := time.Now()
	b, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %s: %v", c, c.text, err)
		}
		code = ee.ExitCode()
	}
	t.Logf("%s: $ %s  (exit %d, %.1fs)\n%s", at, c.text, code, time.Since(start).Seconds(), b)
	if code != c.exit {
		t.Fatalf("%s: %s: exit status %d, the runbook promises %d\n%s", at, c.text, code, c.exit, b)
	}
	return b
}

// rbProc is a process a bg command of a page started: a service the page
// leaves running. Its output goes to a log file, printed if the test
// fails.
type rbProc struct {
	cmd     rbCommand
	proc    *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // set before done closes
}

func (rb *runbooks) start(t *testing.T, c rbCommand, environ []string) *rbProc {
	t.Helper()
	p := &rbProc{cmd: c, logPath: filepath.Join(rb.logs, fmt.Sprintf("%s-%d.log", filepath.Base(c.file), c.line)), done: make(chan struct{})}
	log, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	// exec: the signals the test sends reach the command, not a shell.
	p.proc = exec.Command("sh", "-c", "exec "+c.text)
	p.proc.Env, p.proc.Stdout, p.proc.Stderr = environ, log, log
	if err := p.proc.Start(); err != nil {
		log.Close()
		t.Fatalf("%s: %s: %v", c, c.text, err)
	}
	go func() {
		p.err = p.proc.Wait()
		log.Close()
		close(p.done)
	}()
	t.Logf("%s: $ %s  (started, pid %d, log %s)", c, c.text, p.proc.Process.Pid, p.logPath)
	return p
}

// stop sends SIGTERM and waits for the process to exit, with status 0,
// within grace; then it kills it. A process that exited before is an
// error too: the page's service was to keep running.
func (p *rbProc) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return fmt.Errorf("%s: %s exited before it was stopped: %v\n%s", p.cmd, p.cmd.text, p.err, tailFile(p.logPath, 16<<10))
	default:
	}
	_ = p.proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s: %s: %v after SIGTERM\n%s", p.cmd, p.cmd.text, p.err, tailFile(p.logPath, 16<<10))
		}
		return nil
	case <-time.After(grace):
		_ = p.proc.Process.Kill()
		<-p.done
		return fmt.Errorf("%s: %s still ran %s after SIGTERM; killed\n%s", p.cmd, p.cmd.text, grace, tailFile(p.logPath, 16<<10))
	}
}

var (
	// shellSplit cuts a command line into the simple commands of a
	// pipeline or list.
	shellSplit = regexp.MustCompile(`\|\||&&|[|;]`)
	helpMu     sync.Mutex
	helpCache  = map[string]string{}
)

// checkUsage fails the test for every geomesh command of the pages, in a
// block or quoted in the prose, that names a subcommand or a flag the CLI
// does not have, so a page cannot keep a command the CLI dropped.
func (rb *runbooks) checkUsage(t *testing.T) {
	for _, page := range slices.Sorted(maps.Keys(rb.pages)) {
		for _, c := range append(slices.Clone(rb.pages[page]), rb.inline[page]...) {
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

// checkPlaceholderTable fails the test for a placeholder a command of a
// page uses that the table of README.md does not explain, and for one the
// table explains that no command uses.
func (rb *runbooks) checkPlaceholderTable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(runbookDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	explained := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `$") {
			cell, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
			for _, m := range placeholder.FindAllStringSubmatch(cell, -1) {
				explained[m[1]] = true
			}
		}
	}
	used := map[string]bool{}
	for _, page := range slices.Sorted(maps.Keys(rb.pages)) {
		for _, c := range rb.pages[page] {
			for _, m := range placeholder.FindAllStringSubmatch(c.text, -1) {
				if !explained[m[1]] && m[2] == "" {
					t.Errorf("%s: placeholder $%s is not in the table of docs/runbooks/README.md", c, m[1])
				}
				used[m[1]] = true
			}
		}
	}
	for p := range explained {
		if used[p] {
			continue
		}
		// Prose may name it instead (`$REGION` in a role ...).
		inProse := false
		for page := range rb.pages {
			b, err := os.ReadFile(filepath.Join(runbookDir, page))
			inProse = inProse || (err == nil && page != "README.md" && strings.Contains(string(b), "$"+p))
		}
		if !inProse {
			t.Errorf("docs/runbooks/README.md explains $%s, which no page uses", p)
		}
	}
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
	rb.wantStateWithin(t, 15*time.Second, topology, epoch, roles, down...)
}

// wantStateWithin is wantState with another timeout, for agents that
// have just started.
func (rb *runbooks) wantStateWithin(t *testing.T, timeout time.Duration, topology string, epoch uint64, roles map[string]string, down ...string) {
	t.Helper()
	poll.Until(t, timeout, func() error {
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
	t.Run("placeholders", rb.checkPlaceholderTable)
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
	// command that no scenario runs.
	if t.Failed() || started < len(groups) {
		return
	}
	for _, page := range slices.Sorted(maps.Keys(rb.pages)) {
		n := 0
		for _, c := range rb.pages[page] {
			if !rb.ran[c.String()] {
				t.Errorf("%s: %s is run by no scenario of TestRunbooks", c, c.text)
				continue
			}
			n++
		}
		if len(rb.pages[page]) == 0 {
			t.Errorf("docs/runbooks/%s has no command", page)
		}
		t.Logf("docs/runbooks/%s: commands %d, run %d", page, len(rb.pages[page]), n)
	}
}

// TestRunbookParse: a command cannot hide from TestRunbooks in a block
// that is not ```sh, and the attributes are checked.
func TestRunbookParse(t *testing.T) {
	for _, c := range []struct {
		name, page, err string
		cmds            int
	}{
		{"sh blocks run, other languages do not hold commands", "```sh step=a exit=1\ngeomesh status \\\n  --topology \"$TOPOLOGY\"\n# a comment\n\ngeomesh plan x\n```\n\n```yaml\nmesh: a\n```\n", "", 2},
		{"a bare fence", "```\ngeomesh status\n```\n", "must be ```sh", 0},
		{"a bash fence", "```bash\ngeomesh status\n```\n", "must be ```sh", 0},
		{"the old marker", "```sh runbook\ngeomesh status\n```\n", `unknown fence attribute "runbook"`, 0},
		{"an attribute on yaml", "```yaml step=x\na: b\n```\n", "only ```sh blocks run", 0},
		{"two commands in a bg block", "```sh bg\ngeomesh agent\ngeomesh agent\n```\n", "a bg block holds one command", 0},
		{"an open block", "```sh\ngeomesh status\n", "not closed", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "page.md")
			if err := os.WriteFile(path, []byte("# Page\n\nSee `geomesh keys use --key x`.\n\n"+c.page), 0o600); err != nil {
				t.Fatal(err)
			}
			cmds, inline, err := parseRunbook(path)
			switch {
			case c.err != "":
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("want an error with %q, got %v", c.err, err)
				}
			case err != nil:
				t.Fatal(err)
			case len(cmds) != c.cmds || len(inline) != 1 || inline[0].text != "geomesh keys use --key x":
				t.Fatalf("commands %+v, inline %+v", cmds, inline)
			case cmds[0].text != `geomesh status --topology "$TOPOLOGY"` || cmds[0].step != "a" || cmds[0].exit != 1 || cmds[0].line != 6:
				t.Fatalf("first command %+v", cmds[0])
			}
		})
	}
}
