//go:build linux

package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/test/chaos/history"
	"github.com/geomesh/geomesh/topology"
)

// TestConformance is the conformance scenario of the client libraries:
// for Go (package client), Java (clients/java) and Python
// (clients/python), an application produces and consumes through the
// library with its Follower while the mesh switches over as planned and
// fails back, then loses its primary region (agent and broker killed,
// an automatic failover) and fails back again (followScenario). Each
// language gets a mesh of its own in network namespaces, 40ms each way,
// and the same judge: the history checker against both regions' logs
// read to their ends (nothing acknowledged lost, nothing read twice,
// nothing copied twice) and the producer's pause reported by its
// follower. GEOMESH_CONFORMANCE (a comma-separated list, default
// go,java,python) picks the languages.
func TestConformance(t *testing.T) {
	langs := []string{"go", "java", "python"}
	if v := os.Getenv("GEOMESH_CONFORMANCE"); v != "" {
		langs = strings.Split(v, ",")
	}
	runs := map[string]followRun{}
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			m := startFailoverMesh(t, meshOptions{delay: wideDelay, detection: fastDetection, app: true})
			var start appStarter
			switch lang {
			case "go":
				mesh, err := topology.Load(m.appPath)
				if err != nil {
					t.Fatal(err)
				}
				start = m.goApp(mesh, lang)
			case "java", "python":
				start = m.driverApp(driverCommand(t, lang), lang)
			default:
				t.Fatalf("GEOMESH_CONFORMANCE: no language %q (go, java, python)", lang)
			}
			runs[lang] = m.followScenario(t, start, true, 1)
		})
	}
	var b strings.Builder
	b.WriteString("language | switchover: producer pause, consumer switch | failback: producer pause, consumer switch | region kill: detection, RTO, consumer switch | findings\n")
	for _, lang := range langs {
		r, ok := runs[lang]
		if !ok || len(r.rto) == 0 {
			fmt.Fprintf(&b, "%s | did not finish\n", lang)
			continue
		}
		ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
		fmt.Fprintf(&b, "%s | %s, %s | %s, %s | %s, %s, %s | %d\n", lang,
			ms(r.switchover.pause), ms(r.switchover.consumer), ms(r.failback.pause), ms(r.failback.consumer),
			ms(r.detection[0]), ms(r.rto[0]), ms(r.consumerMoves[0]), r.findings)
	}
	t.Logf("conformance:\n%s", b.String())
}

// driverCommand is the command line of lang's driver: it prepares the
// language's build (clients/java/classpath.sh, clients/python/venv.sh)
// first.
func driverCommand(t *testing.T, lang string) []string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	prepare := func(script string) string {
		var stderr bytes.Buffer
		cmd := exec.CommandContext(t.Context(), "bash", filepath.Join(root, script))
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, stderr.String())
		}
		return strings.TrimSpace(string(out))
	}
	switch lang {
	case "java":
		return []string{"java", "-cp", prepare("clients/java/classpath.sh"), "io.geomesh.client.conformance.Driver"}
	default:
		return []string{prepare("clients/python/venv.sh"), filepath.Join(root, "clients/python/conformance/driver.py")}
	}
}

// driver is an application in another language: a process in the
// application's namespace that speaks the driver protocol.
//
// A driver runs as ARGV --topology FILE --topic T --group G --name N. It
// produces records whose ids (key and value) are N/<batch>-<i>, in
// batches of 5, each batch given 3s, and reads T in consumer group G,
// both through its language's library and one Follower of both. It
// writes JSON lines on stdout, each with "e", the kind, and "t", when,
// in microseconds since the Unix epoch:
//
//   - ready: the clients and the follower have started.
//   - batch: a batch was answered. "before" and "after" are the
//     producer's region before it sent and after the answers; "records"
//     are {id, partition, offset, acked}.
//   - poll: what one poll returned. "before" and "after" are the
//     consumer's region; "records" are {topic, partition, offset, id}.
//   - follow: a follower event: kind (epoch, paused, switched, resumed,
//     failed), client, epoch, decision, from, to, took_ms, error.
//   - error: an error the application saw: what, error.
//   - producer-stopped: after stop-producer, the last batch was written.
//   - stopped: all closed; the process exits 0.
//
// It reads commands on stdin, one a line: stop-producer, then stop (or
// the end of its input).
type driver struct {
	*appLog
	t                   *testing.T
	cmd                 *exec.Cmd
	stdin               io.WriteCloser
	stderr              *os.File
	ready               chan struct{}
	prodDone            chan struct{} // producer-stopped
	done                chan struct{} // stdout ended
	once                sync.Once
	readyOnce, prodOnce sync.Once
}

// driverLine is one line of the driver protocol.
type driverLine struct {
	E        string         `json:"e"`
	T        int64          `json:"t"`
	Before   string         `json:"before"`
	After    string         `json:"after"`
	Records  []driverRecord `json:"records"`
	Kind     string         `json:"kind"`
	Client   string         `json:"client"`
	Epoch    uint64         `json:"epoch"`
	Decision string         `json:"decision"`
	From     string         `json:"from"`
	To       string         `json:"to"`
	TookMS   float64        `json:"took_ms"`
	Error    string         `json:"error"`
	What     string         `json:"what"`
}

type driverRecord struct {
	ID        string `json:"id"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Acked     bool   `json:"acked"`
}

// driverApp starts the driver argv as application name.
func (m *failoverMesh) driverApp(argv []string, name string) appStarter {
	return func(t *testing.T, ctx context.Context, owner *sync.WaitGroup, rec *history.Recorder) application {
		t.Helper()
		args := append(argv[:len(argv):len(argv)], "--topology", m.appPath, "--topic", "orders", "--group", "app-"+name, "--name", name)
		return m.startDriver(t, ctx, owner, rec, name, args)
	}
}

// startDriver starts argv in the application's namespace as a driver
// named name, recording into rec, owned by owner until ctx ends, and
// waits until it is ready.
func (m *failoverMesh) startDriver(t *testing.T, ctx context.Context, owner *sync.WaitGroup, rec *history.Recorder, name string, argv []string) *driver {
	t.Helper()
	// Not ctx: stop ends the process, and must be able to after ctx.
	cmd := m.app.Command(context.WithoutCancel(ctx), argv[0], argv[1:]...)
	// Kept past the test when it fails, with the saved history.
	stderr, err := os.CreateTemp("", "geomesh-conformance-"+name+"-*.stderr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("driver %s's stderr: %s", name, stderr.Name())
		} else {
			_ = os.Remove(stderr.Name())
		}
	})
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("driver %s: %v", name, err)
	}
	d := &driver{appLog: newAppLog(name, rec), t: t, cmd: cmd, stdin: stdin, stderr: stderr,
		ready: make(chan struct{}), prodDone: make(chan struct{}), done: make(chan struct{})}
	owner.Go(func() {
		defer close(d.done)
		d.read(stdout)
	})
	owner.Go(func() {
		<-ctx.Done()
		d.stop()
	})
	select {
	case <-d.ready:
	case <-d.done:
		d.stop()
		t.Fatalf("driver %s ended before it was ready: %s", name, d.stderrTail())
	case <-time.After(90 * time.Second):
		d.stop()
		t.Fatalf("driver %s not ready after 90s: %s", name, d.stderrTail())
	}
	return d
}

func (d *driver) log() *appLog { return d.appLog }

// read turns the driver's lines into the history until its stdout ends.
func (d *driver) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var l driverLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			d.t.Errorf("driver %s: a line out of protocol: %v: %q", d.name, err, sc.Text())
			continue
		}
		at := time.UnixMicro(l.T)
		switch l.E {
		case "ready":
			d.readyOnce.Do(func() { close(d.ready) })
		case "batch":
			region := d.region(l.Before, l.After)
			ok := false
			for _, r := range l.Records {
				d.rec.Produced(history.Produce{Time: at, Region: region, Topic: "orders", Partition: r.Partition,
					Offset: r.Offset, ID: r.ID, Acked: r.Acked})
				ok = ok || r.Acked
			}
			if ok {
				d.acked(region, at)
			}
		case "poll":
			region := d.region(l.Before, l.After)
			for _, r := range l.Records {
				d.rec.Consumed(history.Consume{Time: at, Region: region, Topic: r.Topic, Partition: r.Partition,
					Offset: r.Offset, ID: r.ID, ReadCommitted: true})
			}
		case "follow":
			d.t.Logf("%s follower: %s %s epoch %d %s %s→%s %.0fms %s", d.name, l.Kind, l.Client, l.Epoch, l.Decision, l.From, l.To, l.TookMS, l.Error)
			d.followed(follow{at: at, kind: l.Kind, client: l.Client, epoch: l.Epoch, from: l.From, to: l.To,
				took: time.Duration(l.TookMS * float64(time.Millisecond)), err: l.Error})
		case "error":
			d.t.Logf("%s: %s: %s", d.name, l.What, l.Error)
		case "producer-stopped":
			d.prodOnce.Do(func() { close(d.prodDone) })
		case "stopped":
		default:
			d.t.Errorf("driver %s: unknown line kind %q", d.name, l.E)
		}
	}
	if err := sc.Err(); err != nil {
		d.t.Errorf("driver %s: reading its output: %v", d.name, err)
	}
}

func (d *driver) stopProducer() {
	if _, err := io.WriteString(d.stdin, "stop-producer\n"); err != nil {
		d.t.Errorf("driver %s: stop-producer: %v", d.name, err)
		return
	}
	select {
	case <-d.prodDone:
	case <-d.done:
		d.t.Errorf("driver %s ended before its producer stopped: %s", d.name, d.stderrTail())
	case <-time.After(60 * time.Second):
		d.t.Errorf("driver %s: producer not stopped after 60s", d.name)
	}
}

func (d *driver) stop() {
	d.once.Do(func() {
		_, _ = io.WriteString(d.stdin, "stop\n")
		_ = d.stdin.Close()
		select {
		case <-d.done:
		case <-time.After(60 * time.Second):
			d.t.Errorf("driver %s did not stop within 60s; killed", d.name)
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if err := d.cmd.Wait(); err != nil {
			d.t.Errorf("driver %s: %v: %s", d.name, err, d.stderrTail())
		}
		_ = d.stderr.Close()
	})
}

// stderrTail is the end of the driver's stderr, for a failure message.
func (d *driver) stderrTail() string {
	b, err := os.ReadFile(d.stderr.Name())
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
