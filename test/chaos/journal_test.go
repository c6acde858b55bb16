//go:build linux

package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/test/chaos/history"
)

// The agents' writer journal (agent/journal.go): every agent logs, with
// its own clock, one "role changed" line per change of its region's role,
// the epoch or its self-fence, and one "write fence" line per change of
// what a cluster does with the applications' writes as one of its passes
// confirmed it. The tests read roles and fences from these lines, not by
// polling the agents: a change between two polls, or in an agent killed
// a moment later, is in the log all the same.

// Messages of the journal's lines.
const (
	msgRole  = "role changed"
	msgFence = "write fence"
)

// agentEvent is one line of an agent's writer journal.
type agentEvent struct {
	msg    string
	agent  string // who logged it
	region string // the agent's region
	at     time.Time

	// "role changed"
	role       string
	epoch      uint64
	selfFenced bool

	// "write fence"
	cluster   string // the region whose cluster it is
	writes    string // accepted or refused
	requested time.Time
}

func (e agentEvent) String() string {
	if e.msg == msgRole {
		return fmt.Sprintf("%s %s %s@%d self-fenced %v", e.at.Format("15:04:05.000"), e.agent, e.role, e.epoch, e.selfFenced)
	}
	return fmt.Sprintf("%s %s: %s writes %s (requested %s)", e.at.Format("15:04:05.000"), e.agent, e.cluster, e.writes, e.requested.Format("15:04:05.000"))
}

// epochEvent is a role line as the history records roles: a self-fenced
// region acts in no role.
func (e agentEvent) epochEvent() history.Epoch {
	role := e.role
	if e.selfFenced {
		role = history.RoleFenced
	}
	return history.Epoch{Time: e.at, Epoch: e.epoch, Region: e.region, Role: role, Observer: e.agent}
}

// fenceEvent is a fence line as the history records fences.
func (e agentEvent) fenceEvent() history.WriteFence {
	return history.WriteFence{Time: e.at, Requested: e.requested, Region: e.cluster, Writes: e.writes, Observer: e.agent}
}

// record puts e into rec.
func (e agentEvent) record(rec *history.Recorder) {
	if e.msg == msgRole {
		rec.EpochSeen(e.epochEvent())
	} else {
		rec.FenceSeen(e.fenceEvent())
	}
}

// journal reads one agent log's writer events, across the agent's lives,
// as the file grows. Safe for concurrent use.
type journal struct {
	path string

	mu     sync.Mutex
	off    int64
	rest   []byte // a line not yet complete
	events []agentEvent
	errs   []error // lines that did not parse
}

// journals are shared by everyone reading one log.
var journals sync.Map // log path → *journal

func journalOf(a *agent) *journal {
	j, _ := journals.LoadOrStore(a.log.Name(), &journal{path: a.log.Name()})
	return j.(*journal)
}

// read returns every event logged so far, in the order logged, and the
// journal lines that did not parse.
func (j *journal) read() ([]agentEvent, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.Open(j.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(j.off, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	j.off += int64(len(b))
	b = append(j.rest, b...)
	last := bytes.LastIndexByte(b, '\n')
	j.rest = slices.Clone(b[last+1:])
	sc := bufio.NewScanner(bytes.NewReader(b[:last+1]))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		e, ok, err := parseJournalLine(sc.Bytes())
		switch {
		case err != nil:
			j.errs = append(j.errs, fmt.Errorf("%s: %w: %s", j.path, err, sc.Text()))
		case ok:
			j.events = append(j.events, e)
		}
	}
	return slices.Clone(j.events), errors.Join(j.errs...)
}

// parseJournalLine reads a log line of the agent, text (slog's
// key=value) or JSON; ok is false for a line that is no journal line.
func parseJournalLine(line []byte) (agentEvent, bool, error) {
	var kv map[string]string
	if bytes.HasPrefix(line, []byte("{")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			return agentEvent{}, false, nil
		}
		kv = map[string]string{}
		for k, v := range m {
			kv[k] = fmt.Sprint(v)
		}
	} else {
		kv = logfmt(line)
	}
	msg := kv["msg"]
	if msg != msgRole && msg != msgFence {
		return agentEvent{}, false, nil
	}
	e := agentEvent{msg: msg, agent: kv["agent"], region: kv["region"]}
	var errs []error
	parseTime := func(key string) time.Time {
		t, err := time.Parse(time.RFC3339Nano, kv[key])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
		return t
	}
	e.at = parseTime("at")
	if msg == msgRole {
		e.role = kv["role"]
		var err error
		if e.epoch, err = strconv.ParseUint(kv["epoch"], 10, 64); err != nil {
			errs = append(errs, fmt.Errorf("epoch: %w", err))
		}
		if e.selfFenced, err = strconv.ParseBool(kv["self_fenced"]); err != nil {
			errs = append(errs, fmt.Errorf("self_fenced: %w", err))
		}
	} else {
		e.cluster, e.writes = kv["cluster"], kv["writes"]
		e.requested = parseTime("requested")
		if e.writes != history.WritesAccepted && e.writes != history.WritesRefused {
			errs = append(errs, fmt.Errorf("writes %q", e.writes))
		}
	}
	if e.agent == "" || e.region == "" || (msg == msgFence && e.cluster == "") {
		errs = append(errs, errors.New("agent, region or cluster missing"))
	}
	return e, true, errors.Join(errs...)
}

// logfmt splits a line of slog's text handler into its keys and values;
// a quoted value is unquoted. A later key wins.
func logfmt(line []byte) map[string]string {
	kv := map[string]string{}
	s := string(line)
	for len(s) > 0 {
		if s[0] == ' ' {
			s = s[1:]
			continue
		}
		eq := 0
		for eq < len(s) && s[eq] != '=' && s[eq] != ' ' {
			eq++
		}
		if eq == len(s) || s[eq] == ' ' {
			s = s[eq:] // a word without a value
			continue
		}
		key := s[:eq]
		s = s[eq+1:]
		if strings.HasPrefix(s, `"`) {
			if q, err := strconv.QuotedPrefix(s); err == nil {
				v, _ := strconv.Unquote(q)
				kv[key] = v
				s = s[len(q):]
				continue
			}
		}
		end := 0
		for end < len(s) && s[end] != ' ' {
			end++
		}
		kv[key] = s[:end]
		s = s[end:]
	}
	return kv
}

// watchEpochs records the agent's writer journal into rec until ctx ends:
// its role changes (a self-fenced agent as fenced) and the write-fence
// changes it confirmed, each at the agent's own time (watchJournal).
func watchEpochs(ctx context.Context, a *agent, rec *history.Recorder) {
	watchJournal(ctx, a, rec, true)
}

// watchJournal records the agent's role changes into rec until ctx ends,
// and the write-fence changes it confirmed if fences. It starts with the
// last role and the last fence of each cluster the agent logged before
// the call, so the history knows where things stood, and reads the log
// every 100ms and once more when ctx ends. Callers record when they kill
// or stop the agent: it acts as nothing then, while its cluster keeps its
// fence.
func watchJournal(ctx context.Context, a *agent, rec *history.Recorder, fences bool) {
	j := journalOf(a)
	start := time.Now()
	evs, _ := j.read()
	record := func(e agentEvent) {
		if e.msg == msgRole || fences {
			e.record(rec)
		}
	}
	var lastRole *agentEvent
	lastFence := map[string]agentEvent{}
	for _, e := range evs {
		switch {
		case !e.at.Before(start):
			record(e)
		case e.msg == msgRole:
			lastRole = &e
		default:
			lastFence[e.cluster] = e
		}
	}
	if lastRole != nil {
		record(*lastRole)
	}
	for _, e := range lastFence {
		record(e)
	}
	n := len(evs)
	for {
		done := !sleep(ctx, 100*time.Millisecond)
		evs, _ := j.read()
		for _, e := range evs[n:] {
			record(e)
		}
		n = len(evs)
		if done {
			return
		}
	}
}

// TestJournalLines reads journal lines as slog writes them, text and
// JSON, among other lines and across a line written in two parts.
func TestJournalLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	ts := func(d time.Duration) string { return at.Add(d).Format(time.RFC3339Nano) }
	text := slog.New(slog.NewTextHandler(f, nil)).With("region", "eu-west", "agent", "eu-west-1")
	text.Info("agent started", "api", "10.0.0.2:8080", "msg2", `a "quoted" msg="role changed"`)
	text.Info(msgRole, "role", "primary", "epoch", 3, "self_fenced", false, "decision", "failover", "at", ts(0))
	text.With("cluster", "us-east").Info(msgFence, "writes", "refused", "denies", 1, "requested", ts(time.Millisecond), "at", ts(2*time.Millisecond))
	fmt.Fprintln(f, "=== life 2 at", ts(3*time.Millisecond), "===")
	j := &journal{path: path}
	got, err := j.read()
	if err != nil || len(got) != 2 {
		t.Fatalf("text lines: %v, %v", got, err)
	}
	want := []agentEvent{
		{msg: msgRole, agent: "eu-west-1", region: "eu-west", at: at, role: "primary", epoch: 3},
		{msg: msgFence, agent: "eu-west-1", region: "eu-west", at: at.Add(2 * time.Millisecond), cluster: "us-east", writes: "refused", requested: at.Add(time.Millisecond)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("text lines:\n%v\nwant\n%v", got, want)
	}

	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).With("region", "us-east", "agent", "us-east-1").
		Info(msgRole, "role", "fenced", "epoch", 4, "self_fenced", true, "decision", "failover", "at", ts(time.Second))
	line := b.Bytes()
	if _, err := f.Write(line[:10]); err != nil {
		t.Fatal(err)
	}
	if got, _ := j.read(); len(got) != 2 {
		t.Fatalf("half a line read: %v", got)
	}
	if _, err := f.Write(line[10:]); err != nil {
		t.Fatal(err)
	}
	got, err = j.read()
	if err != nil || len(got) != 3 {
		t.Fatalf("JSON line: %v, %v", got, err)
	}
	if w := (agentEvent{msg: msgRole, agent: "us-east-1", region: "us-east", at: at.Add(time.Second), role: "fenced", epoch: 4, selfFenced: true}); !reflect.DeepEqual(got[2], w) {
		t.Errorf("JSON line: %v, want %v", got[2], w)
	}

	text.Info(msgFence, "cluster", "us-east", "writes", "maybe", "at", "yesterday")
	if _, err := j.read(); err == nil {
		t.Error("a journal line with a bad time and writes parsed")
	}
}
