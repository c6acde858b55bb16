//go:build linux

package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The pages also run commands that are not geomesh's: systemctl, on the
// hosts of the agents, and Kafka's kafka-console-consumer.sh. TestRunbooks
// runs them as typed too, through executables of those names in a
// directory first on the commands' PATH: Kafka's console consumer itself,
// on the jars the test's brokers run, and a systemctl that asks the test
// to stop or start its agents, as the service manager of the host the
// command runs on would.

// hostEnv names, in a command's environment, the host the command runs on:
// one of its step's hosts (rbStep.hosts), a region of the scenario's mesh.
const hostEnv = "GEOMESH_RUNBOOK_HOST"

// rbHost is a host that a step's commands run on. systemctl does to the
// host's geomesh-agent unit what verb says (stop, start or restart) and
// returns once that is done, as systemctl does for a unit that notifies
// readiness. It is called from the goroutine of an HTTP handler, not the
// test's, so it reports instead of stopping the test.
type rbHost struct {
	name      string
	systemctl func(verb string) error
}

// systemdVerbs are the verbs the pages use, and the only ones the shim
// passes on.
var systemdVerbs = []string{"stop", "start", "restart"}

// rbSystemd stands in for the service managers of the hosts: the
// systemctl shim posts its arguments and the host it runs on, and the
// handler calls that host's systemctl. rb.run makes a step's hosts known
// for as long as the step's commands run.
type rbSystemd struct {
	mu    sync.Mutex
	hosts map[string]rbHost // by name
}

// use makes hosts known until release is called. Two groups of
// TestRunbooks run side by side, each with hosts of its own: a name taken
// twice is the scenarios' mistake.
func (s *rbSystemd) use(hosts []rbHost) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, h := range hosts {
		if _, taken := s.hosts[h.name]; taken {
			for _, u := range hosts[:i] {
				delete(s.hosts, u.name)
			}
			return nil, fmt.Errorf("host %s is in two steps at once", h.name)
		}
		s.hosts[h.name] = h
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, h := range hosts {
			delete(s.hosts, h.name)
		}
	}, nil
}

// ServeHTTP answers the systemctl shim: 200 with no body once the unit
// did what was asked (systemctl prints nothing then), otherwise an error
// status with the message the shim prints before it exits 1.
func (s *rbSystemd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, verb, unit := r.PostFormValue("host"), r.PostFormValue("verb"), r.PostFormValue("unit")
	if r.Method != http.MethodPost || unit != "geomesh-agent" || !slices.Contains(systemdVerbs, verb) {
		http.Error(w, fmt.Sprintf("systemctl: %q %q: the runbook test runs only stop, start or restart of geomesh-agent", verb, unit), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	h, ok := s.hosts[host]
	s.mu.Unlock()
	if !ok {
		http.Error(w, fmt.Sprintf("systemctl: host %q is not a host of the step running (rbStep.hosts)", host), http.StatusNotFound)
		return
	}
	if err := h.systemctl(verb); err != nil {
		http.Error(w, fmt.Sprintf("systemctl %s geomesh-agent on %s: %v", verb, host, err), http.StatusInternalServerError)
	}
}

// systemctlShim is the systemctl of the runbook commands. It checks its
// arguments itself, so a page cannot use another verb or unit unnoticed,
// and posts them with its host to the test's rbSystemd (the first %s,
// curl's path; the second, the URL). --noproxy: the URL is on loopback,
// whatever proxy the environment names.
const systemctlShim = `#!/bin/sh
# systemctl for TestRunbooks (test/e2e/runbook_hosts_test.go): the pages
# manage one unit, geomesh-agent, on the host $` + hostEnv + ` names; the
# test stops and starts its agents there as the host's service manager would.
case "$#:${1:-}:${2:-}" in
2:stop:geomesh-agent | 2:start:geomesh-agent | 2:restart:geomesh-agent) ;;
*)
	echo "systemctl: the runbook test runs only 'systemctl stop|start|restart geomesh-agent', not: systemctl $*" >&2
	exit 1
	;;
esac
if [ -z "${` + hostEnv + `:-}" ]; then
	echo "systemctl: no host to run on: the step of this command names none (rbStep.hosts)" >&2
	exit 1
fi
%s --silent --show-error --fail-with-body --noproxy '*' \
	--data-urlencode "host=$` + hostEnv + `" --data-urlencode "verb=$1" --data-urlencode "unit=$2" \
	%s || exit 1
`

// consoleConsumerShim is kafka-console-consumer.sh as Kafka's bin/ has it
// (through kafka-run-class.sh): the ConsoleConsumer of kafka-tools with a
// 512 MB heap and the tools' logging, on the jars the test's brokers run
// (the %s are the log configuration and the class path).
const consoleConsumerShim = `#!/bin/sh
# kafka-console-consumer.sh for TestRunbooks (test/e2e/runbook_hosts_test.go):
# what Kafka's bin/kafka-console-consumer.sh runs.
exec "${JAVA_HOME:+$JAVA_HOME/bin/}java" -Xmx512M -Dlog4j2.configurationFile=%s -cp %s org.apache.kafka.tools.consumer.ConsoleConsumer "$@"
`

// toolsLog4j is Kafka's config/tools-log4j2.yaml as properties: a tool
// logs warnings and errors to stderr, and its stdout holds what it prints.
const toolsLog4j = `status = warn
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
`

// startHosts starts rb's stand-in for the hosts' service managers on a
// loopback port of its own, closed when t ends, and writes the shims into
// a directory for the front of the commands' PATH, which it returns. libs
// is the directory of the Kafka jars.
func (rb *runbooks) startHosts(t *testing.T, libs string) string {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("the systemctl shim posts with curl: %v", err)
	}
	if libs == "" {
		t.Fatal("no Kafka jar directory for kafka-console-consumer.sh")
	}
	rb.systemd = &rbSystemd{hosts: map[string]rbHost{}}
	srv := httptest.NewServer(rb.systemd)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	logConf := filepath.Join(dir, "tools-log4j2.properties")
	files := map[string]string{
		"systemctl":                 fmt.Sprintf(systemctlShim, shellQuote(curl), shellQuote(srv.URL+"/systemctl")),
		"kafka-console-consumer.sh": fmt.Sprintf(consoleConsumerShim, shellQuote(logConf), shellQuote(filepath.Join(libs, "*"))),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(logConf, []byte(toolsLog4j), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shellQuote quotes s for sh: a path with a space or a quote stays one
// word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// TestRunbooksSystemctl: the systemctl of the runbook commands does what
// it is asked on the host it runs on, fails with the host's error, and
// refuses, exiting 1 without calling the test, any command but stop,
// start or restart of geomesh-agent.
func TestRunbooksSystemctl(t *testing.T) {
	rb := &runbooks{}
	dir := rb.startHosts(t, t.TempDir())
	var (
		mu    sync.Mutex
		calls []string
	)
	host := func(name string, err error) rbHost {
		return rbHost{name: name, systemctl: func(verb string) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, verb+" on "+name)
			return err
		}}
	}
	release, err := rb.systemd.use([]rbHost{host("east", nil), host("west", errors.New("agent of west did not stop"))})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := rb.systemd.use([]rbHost{host("east", nil)}); err == nil {
		t.Error("a host known already was taken a second time")
	}
	for _, c := range []struct {
		host, cmd string
		exit      int
		out       string
		call      string
	}{
		{"east", "systemctl stop geomesh-agent", 0, "", "stop on east"},
		{"east", "systemctl start geomesh-agent", 0, "", "start on east"},
		{"east", "systemctl restart geomesh-agent", 0, "", "restart on east"},
		{"west", "systemctl stop geomesh-agent", 1, "systemctl stop geomesh-agent on west: agent of west did not stop", "stop on west"},
		{"south", "systemctl stop geomesh-agent", 1, `host "south" is not a host of the step running`, ""},
		{"", "systemctl stop geomesh-agent", 1, "no host to run on", ""},
		{"east", "systemctl reload geomesh-agent", 1, "runs only", ""},
		{"east", "systemctl stop nats", 1, "runs only", ""},
		{"east", "systemctl stop geomesh-agent nats", 1, "runs only", ""},
		{"east", "systemctl", 1, "runs only", ""},
	} {
		mu.Lock()
		calls = nil
		mu.Unlock()
		cmd := exec.CommandContext(t.Context(), "sh", "-c", c.cmd)
		cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), hostEnv+"="+c.host)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := strings.Join(calls, ", ")
		mu.Unlock()
		if code != c.exit || !strings.Contains(string(out), c.out) || got != c.call {
			t.Errorf("on %q: %s: exit %d, output %q, called %q; want exit %d, output with %q, called %q", c.host, c.cmd, code, out, got, c.exit, c.out, c.call)
		}
	}
}
