//go:build mm2compare

// This comparison starts a MirrorMaker 2 JVM and takes two to four
// minutes, so `make test` leaves it out: `make offsets-compare` builds it
// with the mm2compare tag.

package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/mirror/offsets"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestOffsetsVsMirrorMaker2 runs MirrorMaker 2 (dedicated mode) and geomesh
// side by side on the same two clusters and the same data, 20,000
// committed records over 6 partitions (plain batches, committed
// transactions, and aborted ones that neither may deliver). A consumer
// group reads 9,000 of them on the source and commits; both tools sync
// the group's offsets to the target; the source region fails (both tools
// stop); and the group resumes on the target from each tool's synced
// offsets. It counts the records skipped and read twice with each, in two
// scenarios:
//
//   - backlog: the group has consumed before replication starts (a new
//     mirror, or one that fell behind), so the tools copy a backlog;
//   - live: replication runs from the start, while the records are
//     produced and the group consumes.
//
// docs/offsets.md records the result.
//
// MirrorMaker 2 runs with its defaults (DefaultReplicationPolicy, so the
// copy is "<source>.<topic>"; offset.lag.max 100) except: group offset
// sync on, checkpoints and group sync every second (as geomesh's), its
// groups list narrowed to the scenario's group, and a read_committed
// source consumer, without which it copies aborted transactions as plain
// records. geomesh runs an active-passive mesh with identity names and its
// defaults. The tools write different target topics, so they run at once.
func TestOffsetsVsMirrorMaker2(t *testing.T) {
	for _, sc := range []struct {
		name     string
		live     bool
		src, dst *kafkatest.Cluster
	}{
		{"backlog", false, clusters[0], clusters[1]},
		{"live", true, clusters[2], clusters[3]},
	} {
		t.Run(sc.name, func(t *testing.T) {
			compareSwitch(t, "cmp"+sc.name[:1], sc.live, sc.src, sc.dst)
		})
	}
}

func compareSwitch(t *testing.T, prefix string, live bool, srcC, dstC *kafkatest.Cluster) {
	src, dst, topic, group := prefix+"-east", prefix+"-west", prefix+"-orders", prefix+"-app"
	const total, consumed = 20000, 9000
	mm2Topic := src + "." + topic
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	createTopic(t, srcC, topic, 6, nil)
	path := meshFile(t, "e2e-"+prefix, []region{{src, srcC, 1}, {dst, dstC, 1}}, fmt.Sprintf(`
topology: {kind: active-passive, primary: %s, standby: [%s]}
topics: {include: [%q]}
groups: {include: [%q]}
`, src, dst, topic, group))

	var want map[string]bool
	var before []string
	if !live {
		want = produceCompared(t, srcC, topic, 0, total, 0)
		before = consumeSome(t, srcC, group, topic, consumed)
	} else {
		// The group must exist when MirrorMaker 2 starts: it lists groups
		// at start and then every refresh.groups.interval.seconds (600 s).
		zero := kadm.Offsets{}
		for p := range int32(6) {
			zero.Add(kadm.Offset{Topic: topic, Partition: p, At: 0, LeaderEpoch: -1})
		}
		if resp, err := kadm.NewClient(client(t, srcC)).CommitOffsets(ctx, group, zero); err != nil || resp.Error() != nil {
			t.Fatalf("create group %s: %v %v", group, err, resp.Error())
		}
	}
	started := time.Now()
	agents := startAgents(t, path, dst)
	mm2 := startMirrorMaker2(t, srcC, dstC, src, dst, topic, group)
	if live {
		// Records flow once MirrorMaker 2 copies; then the rest is
		// produced in paced batches while the group consumes.
		want = produceCompared(t, srcC, topic, 0, 500, 0)
		poll.Until(t, 3*time.Minute, func() error {
			n, err := endSum(ctx, dstC, mm2Topic)
			if err == nil && n == 0 {
				err = fmt.Errorf("MirrorMaker 2 has not copied yet")
			}
			return err
		})
		w := newComparedWriter(t, srcC, topic)
		var more map[string]bool
		var moreErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			more, moreErr = w.write(ctx, 500, total-500, 100*time.Millisecond)
		}()
		// On a failure too, the writes stop before the test returns.
		defer func() { cancel(); <-done }()
		before = consumeSome(t, srcC, group, topic, consumed)
		<-done
		if moreErr != nil {
			t.Fatal(moreErr)
		}
		maps.Copy(want, more)
	}

	// Both copies complete.
	readTopic(t, dstC, topic, total, 3*time.Minute)
	poll.Until(t, 3*time.Minute, func() error {
		n, err := endSum(ctx, dstC, mm2Topic)
		if err == nil && n < total {
			err = fmt.Errorf("MirrorMaker 2 copied %d of %d records", n, total)
		}
		return err
	})
	t.Logf("both copies complete after %s", time.Since(started).Round(time.Second))

	// geomesh: synced when the target group holds what /v1/translate says.
	api := "http://" + agents[0].APIAddr()
	dstAdm := kadm.NewClient(client(t, dstC))
	poll.Until(t, time.Minute, func() error {
		var res struct {
			Partitions []offsets.Translation `json:"partitions"`
		}
		if code, err := apiGet(api+"/v1/translate?group="+group+"&from="+src, &res); err != nil || code != 200 {
			return fmt.Errorf("GET /v1/translate: %d %v", code, err)
		}
		have, err := dstAdm.FetchOffsets(ctx, group)
		if err != nil {
			return err
		}
		for _, tr := range res.Partitions {
			if o, ok := have.Lookup(tr.TargetTopic, tr.Partition); !ok || o.At != tr.TargetOffset {
				return fmt.Errorf("geomesh: %s/%d synced at %d, translation %d (%s)", tr.TargetTopic, tr.Partition, o.At, tr.TargetOffset, tr.State)
			}
		}
		return nil
	})
	gmSynced := time.Since(started)

	// MirrorMaker 2: synced when its offsets for the group stop moving
	// for 10 s (ten checkpoint and sync intervals), or after 2 minutes.
	var last string
	stableSince := time.Now()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		have, err := dstAdm.FetchOffsets(ctx, group)
		if err != nil {
			t.Logf("fetch offsets: %v", err)
			continue
		}
		var parts []string
		for p := range int32(6) {
			if o, ok := have.Lookup(mm2Topic, p); ok {
				parts = append(parts, fmt.Sprintf("%d:%d", p, o.At))
			}
		}
		if s := strings.Join(parts, " "); s != last {
			last, stableSince = s, time.Now()
		} else if len(parts) > 0 && time.Since(stableSince) > 10*time.Second {
			break
		}
	}
	t.Logf("geomesh synced after %s; MirrorMaker 2 offsets [%s] stable since %s",
		gmSynced.Round(time.Second), last, stableSince.Sub(started).Round(time.Second))

	// The source region fails: replication stops.
	mm2.stop()
	if err := agents[0].Close(); err != nil {
		t.Error(err)
	}

	results := map[string][2]int{}
	for _, c := range []struct{ tool, topic string }{{"MirrorMaker 2", mm2Topic}, {"geomesh", topic}} {
		have, err := dstAdm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		synced := 0
		for p := range int32(6) {
			if _, ok := have.Lookup(c.topic, p); ok {
				synced++
			}
		}
		after := consumeAll(t, dstC, group, c.topic)
		skipped, twice, foreign := countSwitch(want, before, after)
		if foreign > 0 {
			t.Errorf("%s: %d records read after the switch were never committed on the source", c.tool, foreign)
		}
		results[c.tool] = [2]int{skipped, twice}
		t.Logf("| %s | %s | `%s` | %d of 6 | %d | %d | %d | %d |", t.Name(), c.tool, c.topic, synced, len(before), len(after), skipped, twice)
	}
	if r := results["geomesh"]; r != [2]int{0, 0} {
		t.Fatalf("geomesh: %d skipped, %d read twice; want 0 and 0", r[0], r[1])
	}
}

// produceCompared writes n committed records with unique values, numbers
// from to from+n-1, over the topic's partitions in batches of 500 with a
// pause between them: plain batches, and every fifth batch in a committed
// transaction followed by an aborted transaction of 50 records. It returns
// the committed values.
func produceCompared(t *testing.T, c *kafkatest.Cluster, topic string, from, n int, pause time.Duration) map[string]bool {
	t.Helper()
	want, err := newComparedWriter(t, c, topic).write(t.Context(), from, n, pause)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// comparedWriter holds produceCompared's producers to one topic.
type comparedWriter struct {
	topic      string
	plain, txn *kgo.Client
}

func newComparedWriter(t *testing.T, c *kafkatest.Cluster, topic string) comparedWriter {
	t.Helper()
	return comparedWriter{topic: topic,
		plain: client(t, c, kgo.DefaultProduceTopic(topic)),
		txn:   client(t, c, kgo.DefaultProduceTopic(topic), kgo.TransactionalID("e2e-cmp-"+topic))}
}

// write is produceCompared's work. It reports instead of stopping the
// test, so a goroutine other than the test's may call it.
func (w comparedWriter) write(ctx context.Context, from, n int, pause time.Duration) (map[string]bool, error) {
	want := map[string]bool{}
	const batch = 500
	for b := from / batch; b*batch < from+n; b++ {
		var rs []*kgo.Record
		for i := b * batch; i < min((b+1)*batch, from+n); i++ {
			v := fmt.Sprintf("cmp-%d", i)
			want[v] = true
			rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%97), Value: []byte(v)})
		}
		// The pause is the pace of a live stream, not a wait for a state.
		time.Sleep(pause)
		if b%5 != 4 {
			if err := w.plain.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				return nil, fmt.Errorf("produce batch %d to %s: %w", b, w.topic, err)
			}
			continue
		}
		for _, commit := range []bool{true, false} {
			if !commit {
				rs = rs[:0]
				for i := range 50 {
					rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "aborted-%d-%d", b, i)})
				}
			}
			if err := w.txn.BeginTransaction(); err != nil {
				return nil, fmt.Errorf("transaction of batch %d to %s: begin: %w", b, w.topic, err)
			}
			if err := w.txn.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				return nil, fmt.Errorf("transaction of batch %d to %s: produce: %w", b, w.topic, err)
			}
			if err := w.txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
				return nil, fmt.Errorf("transaction of batch %d to %s: end (commit %v): %w", b, w.topic, commit, err)
			}
		}
	}
	return want, nil
}

// consumeSome reads exactly n records as a member of group, commits their
// offsets and leaves: the group's position is where a consumer stopped,
// mid-batch.
func consumeSome(t *testing.T, c *kafkatest.Cluster, group, topic string, n int) []string {
	t.Helper()
	cl := client(t, c, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxPartitionBytes(4<<10))
	var taken []*kgo.Record
	for len(taken) < n {
		fs := cl.PollFetches(t.Context())
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		for _, r := range fs.Records() {
			if len(taken) < n {
				taken = append(taken, r)
			}
		}
	}
	if err := cl.CommitRecords(t.Context(), taken...); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range taken {
		out = append(out, string(r.Value))
	}
	return out
}

// consumeAll joins group on the target and reads topic from the group's
// committed offsets (from the start where it has none, so nothing is
// lost) until nothing new arrives for 3 s.
func consumeAll(t *testing.T, c *kafkatest.Cluster, group, topic string) []string {
	t.Helper()
	cl := client(t, c, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []string
	idle := time.Now()
	for time.Since(idle) < 3*time.Second {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, string(r.Value))
			idle = time.Now()
		})
	}
	return out
}

// countSwitch compares what the group read before and after the switch
// with the committed source records.
func countSwitch(want map[string]bool, before, after []string) (skipped, twice, foreign int) {
	n := map[string]int{}
	for _, v := range slices.Concat(before, after) {
		n[v]++
	}
	for v := range maps.Keys(n) {
		if !want[v] {
			foreign++
		}
	}
	for v := range want {
		switch k := n[v]; {
		case k == 0:
			skipped++
		case k > 1:
			twice += k - 1
		}
	}
	return skipped, twice, foreign
}

func endSum(ctx context.Context, c *kafkatest.Cluster, topic string) (int64, error) {
	cl, err := kgo.NewClient(c.ClientOptions()...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n, nil
}

// mirrorMaker2 is a dedicated-mode MirrorMaker 2 JVM.
type mirrorMaker2 struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startMirrorMaker2 runs MirrorMaker 2 from the harness's jars, copying
// topic and syncing group from cluster alias src to dst; it is stopped
// when the test ends.
func startMirrorMaker2(t *testing.T, srcC, dstC *kafkatest.Cluster, src, dst, topic, group string) *mirrorMaker2 {
	t.Helper()
	home := os.Getenv("GEOMESH_KAFKA_HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		home = filepath.Join(h, ".cache", "geomesh", "kafka-"+srcC.Version())
	}
	dir := t.TempDir()
	props := strings.Join([]string{
		"clusters = " + src + ", " + dst,
		src + ".bootstrap.servers = " + srcC.Bootstrap()[0],
		dst + ".bootstrap.servers = " + dstC.Bootstrap()[0],
		src + "->" + dst + ".enabled = true",
		dst + "->" + src + ".enabled = false",
		src + "->" + dst + ".topics = " + topic,
		src + "->" + dst + ".groups = " + group,
		"sync.group.offsets.enabled = true",
		"sync.group.offsets.interval.seconds = 1",
		"emit.checkpoints.interval.seconds = 1",
		src + ".consumer.isolation.level = read_committed",
		// One broker per test cluster.
		"replication.factor = 1",
		"checkpoints.topic.replication.factor = 1",
		"heartbeats.topic.replication.factor = 1",
		"offset-syncs.topic.replication.factor = 1",
		"offset.storage.replication.factor = 1",
		"status.storage.replication.factor = 1",
		"config.storage.replication.factor = 1",
	}, "\n") + "\n"
	log4j := "status = warn\nappender.stdout.type = Console\nappender.stdout.name = STDOUT\n" +
		"appender.stdout.layout.type = PatternLayout\nappender.stdout.layout.pattern = [%d] %p %m (%c)%n\n" +
		"rootLogger.level = WARN\nrootLogger.appenderRef.stdout.ref = STDOUT\n" +
		"logger.mirror.name = org.apache.kafka.connect.mirror\nlogger.mirror.level = INFO\n"
	for name, body := range map[string]string{"mm2.properties": props, "log4j2.properties": log4j} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	java := "java"
	if h := os.Getenv("JAVA_HOME"); h != "" {
		java = filepath.Join(h, "bin", "java")
	}
	logFile, err := os.Create(filepath.Join(dir, "mm2.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(java, "-Xms128m", "-Xmx512m", "-Dlog4j2.configurationFile="+filepath.Join(dir, "log4j2.properties"),
		"-cp", filepath.Join(home, "libs", "*"), "org.apache.kafka.connect.mirror.MirrorMaker",
		filepath.Join(dir, "mm2.properties"), "--clusters", dst)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, killed with the JVM's children if any.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start MirrorMaker 2: %v", err)
	}
	mm := &mirrorMaker2{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(mm.done)
	}()
	t.Cleanup(func() {
		mm.stop()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "mm2.log"))
			lines := strings.Split(string(b), "\n")
			t.Logf("MirrorMaker 2 log, last lines:\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
	return mm
}

// stop ends MirrorMaker 2 as a region failure would: at once. Idempotent.
func (m *mirrorMaker2) stop() {
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	<-m.done
}
