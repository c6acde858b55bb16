package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// bench is one benchmark run: two clusters and the binaries of the copiers.
type bench struct {
	opts       options
	src, dst   *kafkatest.Cluster
	srcAdm     *kadm.Client
	dstAdm     *kadm.Client
	srcAddr    string // bootstrap the copiers use (a proxy in WAN runs)
	dstAddr    string
	partitions int
	work       string
	geomeshBin string
	selfBin    string
	java       string
	kafkaHome  string
	netns      string // copiers run in this network namespace when set
	// controlPlane is the agents' control plane: an address that refuses
	// connections, so they copy the file's flows at once and decide
	// nothing; releaseCP frees it.
	controlPlane string
	releaseCP    func() error
	// wanProxies carry the source's bytes to the copiers in WAN scenarios.
	wanProxies []*proxy
	res        *results
}

type options struct {
	quick          bool
	reps           int
	records        int
	wanRecords     int
	latencyRate    int
	latencySeconds int
	latencyReps    int
	wanDelay       time.Duration
	scenarios      []string
	out            string
	copiers        []string
	profile        bool
	merge          string
	noWarmup       bool
	scaleSizes     []int
}

func runMain(args []string) error {
	fs := flag.NewFlagSet("geomesh-bench", flag.ContinueOnError)
	var o options
	var scen, cops string
	fs.BoolVar(&o.quick, "quick", os.Getenv("BENCH_QUICK") != "", "smoke run: 200,000 records, 10 s latency runs, 1 repetition (env BENCH_QUICK)")
	fs.IntVar(&o.reps, "reps", 0, "repetitions of every scenario and copier (default 3; 1 with -quick)")
	fs.IntVar(&o.records, "records", 0, "backlog of the throughput scenario (default 2,000,000; 200,000 with -quick)")
	fs.IntVar(&o.wanRecords, "wan-records", 0, "backlog of the WAN scenario (default: -records)")
	fs.IntVar(&o.latencyRate, "latency-rate", 10_000, "records per second of the latency scenario")
	fs.IntVar(&o.latencyReps, "latency-reps", 0, "repetitions of the latency scenario, whose tails vary most (default 5; 1 with -quick)")
	fs.IntVar(&o.latencySeconds, "latency-seconds", 0, "length of each latency run (default 30; 10 with -quick)")
	fs.DurationVar(&o.wanDelay, "wan-delay", 50*time.Millisecond, "one-way delay between copier and source cluster in the WAN scenario")
	fs.StringVar(&scen, "scenarios", "throughput,latency,wan,json,json-wan,scale", "scenarios to run (throughput includes resources and the profile; json and json-wan copy JSON events on the LAN and over the WAN link)")
	fs.StringVar(&cops, "copiers", strings.Join(copierKinds, ","), "copiers to compare")
	fs.StringVar(&o.out, "out", "docs", "directory for benchmarks.md, benchmarks.json and the charts")
	fs.BoolVar(&o.profile, "profile", true, "CPU-profile one extra geomesh exactly-once throughput run")
	fs.StringVar(&o.merge, "merge", "", "add this run's results to those of an earlier benchmarks.json")
	var sizes string
	fs.StringVar(&sizes, "scale-partitions", "2000,10000", "sizes of the scale scenario in partitions (20 per topic); -quick runs the first only")
	fs.BoolVar(&o.noWarmup, "no-warmup", false, "skip the unrecorded warm-up round and the unrecorded latency run of every copier")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.reps == 0 {
		o.reps = 3
		if o.quick {
			o.reps = 1
		}
	}
	if o.latencyReps == 0 {
		o.latencyReps = max(o.reps, 5)
		if o.quick {
			o.latencyReps = 1
		}
	}
	if o.records == 0 {
		o.records = 2_000_000
		if o.quick {
			o.records = 200_000
		}
	}
	if o.wanRecords == 0 {
		o.wanRecords = o.records
	}
	if o.latencySeconds == 0 {
		o.latencySeconds = 30
		if o.quick {
			o.latencySeconds = 10
		}
	}
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 || n%scalePartitions != 0 {
			return fmt.Errorf("-scale-partitions %q: want multiples of %d", sizes, scalePartitions)
		}
		o.scaleSizes = append(o.scaleSizes, n)
	}
	o.scenarios = strings.Split(scen, ",")
	o.copiers = strings.Split(cops, ",")

	ctx := context.Background()
	b := &bench{opts: o, partitions: 12}
	if err := b.setup(ctx); err != nil {
		b.teardown()
		return err
	}
	defer b.teardown()

	// One small unrecorded round of every copier first: the clusters' first
	// transactions create __transaction_state, and each copier's first run
	// creates its internal topics; later runs find both, whatever order
	// the copiers come in.
	if !o.noWarmup {
		logf("warm-up round (not recorded)")
		if err := b.warmup(ctx); err != nil {
			return err
		}
	}
	var errs []error
	for _, s := range o.scenarios {
		var err error
		switch s {
		case "throughput":
			err = b.throughput(ctx, "throughput", o.records)
		case "latency":
			err = b.latency(ctx)
		case "wan", "json-wan":
			err = b.wan(ctx, s)
		case "json":
			err = b.throughput(ctx, s, o.records)
		case "scale":
			err = b.scale(ctx)
		default:
			err = fmt.Errorf("unknown scenario %q", s)
		}
		if err != nil {
			logf("scenario %s: %v", s, err)
			errs = append(errs, fmt.Errorf("scenario %s: %w", s, err))
			b.res.Notes = append(b.res.Notes, fmt.Sprintf("scenario %s failed: %v", s, err))
		}
		if err := b.write(); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// settle writes the dirty pages of earlier runs (gigabytes after a
// throughput run) to disk, so that their writeback stalls no later run.
func settle() {
	syscall.Sync()
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (b *bench) setup(ctx context.Context) error {
	var err error
	if b.work, err = os.MkdirTemp("", "geomesh-bench-"); err != nil {
		return err
	}
	logf("work dir %s", b.work)
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	b.geomeshBin = filepath.Join(b.work, "geomesh")
	if out, err := exec.Command("go", "build", "-C", root, "-o", b.geomeshBin, "./cmd/geomesh").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/geomesh: %w\n%s", err, out)
	}
	// The runner's own binary serves raw-copy and agent; build it rather
	// than trust os.Executable of a `go run`.
	b.selfBin = filepath.Join(b.work, "geomesh-bench")
	if out, err := exec.Command("go", "build", "-C", root, "-o", b.selfBin, "./test/bench/cmd/geomesh-bench").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./test/bench/cmd/geomesh-bench: %w\n%s", err, out)
	}
	if b.java, err = exec.LookPath("java"); err != nil {
		return err
	}
	if h := os.Getenv("JAVA_HOME"); h != "" {
		b.java = filepath.Join(h, "bin", "java")
	}
	opts := kafkatest.Options{
		Brokers: 1,
		// The C2 compiler, as kafkatest advises for benchmarks, and a
		// heap that does not make the broker collect constantly.
		JVMFlags: []string{"-Xmx1g", "-XX:TieredStopAtLevel=4"},
		// A deleted log keeps its descriptor for this long (default
		// 60 s): a scale run that follows one of 10,000 partitions would
		// otherwise hold twice as many and can pass the machine's
		// open-files limit (20,000 here, which the harness may not raise).
		ServerProperties: map[string]string{"file.delete.delay.ms": "1000"},
	}
	for _, c := range []**kafkatest.Cluster{&b.src, &b.dst} {
		if *c, err = kafkatest.New(opts); err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err = (*c).Start(sctx)
		cancel()
		if err != nil {
			return err
		}
	}
	b.kafkaHome = os.Getenv("GEOMESH_KAFKA_HOME")
	if b.kafkaHome == "" {
		h, _ := os.UserHomeDir()
		b.kafkaHome = filepath.Join(h, ".cache", "geomesh", "kafka-"+b.src.Version())
	}
	b.srcAddr, b.dstAddr = b.src.Bootstrap()[0], b.dst.Bootstrap()[0]
	if b.controlPlane, b.releaseCP, err = testkit.HoldRefusedAddr(); err != nil {
		return err
	}
	for _, a := range []struct {
		c   *kafkatest.Cluster
		adm **kadm.Client
	}{{b.src, &b.srcAdm}, {b.dst, &b.dstAdm}} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(a.c.Bootstrap()...), kgo.MetadataMinAge(100*time.Millisecond))
		if err != nil {
			return err
		}
		*a.adm = kadm.NewClient(cl)
	}
	b.res = newResults(b)
	if b.opts.merge != "" {
		bs, err := os.ReadFile(b.opts.merge)
		if err != nil {
			return err
		}
		old := &results{}
		if err := json.Unmarshal(bs, old); err != nil {
			return fmt.Errorf("%s: %w", b.opts.merge, err)
		}
		old.Command += " && " + b.res.Command
		old.mergeInto(b.res.Machine)
		b.res = old
	}
	logf("clusters: source %s, target %s (Kafka %s)", b.srcAddr, b.dstAddr, b.src.Version())
	return nil
}

func (b *bench) teardown() {
	if b.releaseCP != nil {
		_ = b.releaseCP()
	}
	for _, c := range []*kafkatest.Cluster{b.src, b.dst} {
		if c != nil {
			_ = c.Close()
		}
	}
	if b.work != "" && os.Getenv("BENCH_KEEP") == "" {
		_ = os.RemoveAll(b.work)
	}
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run geomesh-bench inside the geomesh module")
	}
	return filepath.Dir(mod), nil
}

// rotate returns the copiers in the order of repetition rep, so that no
// copier always runs first (right after the backlog) or last.
func rotate(kinds []string, rep int) []string {
	k := slices.Clone(kinds)
	n := rep % len(k)
	return append(k[n:], k[:n]...)
}

// throughput runs the backlog scenario: per repetition one fresh source
// topic of n records, copied by every copier in turn to its own fresh
// target topic, each timed from its start until caught up.
func (b *bench) throughput(ctx context.Context, scenario string, n int) error {
	timeout := max(10*time.Minute, time.Duration(n/2000)*time.Second)
	for rep := range b.opts.reps {
		topic := fmt.Sprintf("bench-%s-%d-%d", scenario, rep, time.Now().Unix()%100000)
		logf("%s rep %d: producing %d records to %s", scenario, rep+1, n, topic)
		t0 := time.Now()
		bl, err := b.produceBacklog(ctx, topic, n, payloadOf(scenario))
		if err != nil {
			return err
		}
		logf("%s rep %d: backlog written in %s", scenario, rep+1, time.Since(t0).Round(time.Millisecond))
		kinds := rotate(b.opts.copiers, rep)
		if b.opts.profile && scenario == "throughput" && rep == b.opts.reps-1 {
			kinds = append(kinds, geomeshProfile)
		}
		for _, kind := range kinds {
			r, err := b.copyOnce(ctx, scenario, rep, kind, bl, timeout)
			if err != nil {
				logf("%s rep %d %s: %v", scenario, rep+1, kind, err)
				if kind != geomeshProfile {
					b.res.addThroughput(scenario, tpRun{Copier: kind, Rep: rep + 1}, err)
				}
				continue
			}
			logf("%s rep %d %s: %.0f records/s, %.1f MB/s, start %.1fs, copy %.1fs, cpu %.1fs, rss %.0f MiB",
				scenario, rep+1, kind, r.RecordsPerSec, r.MBPerSec, r.StartupSec, r.CopySec, r.CPUSec, r.PeakRSSMiB)
			if kind == geomeshProfile {
				b.res.profile(b)
				continue
			}
			b.res.addThroughput(scenario, r, nil)
		}
		deleteTopics(ctx, b.srcAdm, topic)
		if err := b.write(); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) warmup(ctx context.Context) error {
	topic := fmt.Sprintf("bench-warmup-%d", time.Now().Unix()%100000)
	bl, err := b.produceBacklog(ctx, topic, 20_000, payloadRandom)
	if err != nil {
		return err
	}
	defer deleteTopics(ctx, b.srcAdm, topic)
	for _, kind := range b.opts.copiers {
		if _, err := b.copyOnce(ctx, "warmup", 0, kind, bl, 3*time.Minute); err != nil {
			return fmt.Errorf("warm-up of %s: %w", kind, err)
		}
	}
	return nil
}

// copyOnce runs one copier over a backlog and measures it.
func (b *bench) copyOnce(ctx context.Context, scenario string, rep int, kind string, bl *backlog, timeout time.Duration) (tpRun, error) {
	target := targetTopic(kind, bl.topic)
	settle()
	wan0 := b.wanBytes()
	p, err := b.startCopier(ctx, kind, bl.topic, fmt.Sprintf("%s-%d", scenario, rep), bl.codec)
	if err != nil {
		return tpRun{}, err
	}
	pr, err := b.waitCopied(ctx, target, bl, timeout, func() bool { return !p.exited() })
	if err != nil {
		p.stop()
		deleteTopics(ctx, b.dstAdm, target)
		return tpRun{}, fmt.Errorf("%w; copier log:\n%s", err, p.tail(30))
	}
	// Let the sampler take a reading at the finish line before stopping.
	time.Sleep(300 * time.Millisecond)
	wan1 := b.wanBytes()
	p.stop()
	targetBytes, sizeErr := topicBytes(ctx, b.dstAdm, target)
	deleteTopics(ctx, b.dstAdm, target)
	if sizeErr != nil {
		return tpRun{}, sizeErr
	}

	s0, s1 := p.samp.at(pr.first), p.samp.at(pr.done.Add(300*time.Millisecond))
	r := tpRun{
		Copier: kind, Rep: rep + 1, Records: bl.records, Bytes: bl.bytes,
		StartupSec:     pr.first.Sub(p.started).Seconds(),
		CopySec:        pr.done.Sub(pr.first).Seconds(),
		TotalSec:       pr.done.Sub(p.started).Seconds(),
		TargetEndSum:   pr.endOffset,
		CPUSec:         s1.cpu - s0.cpu,
		CPUSecTotal:    s1.cpu,
		PeakRSSMiB:     float64(p.samp.peakRSS(pr.done.Add(time.Second))) / (1 << 20),
		CopierLogBytes: fileSize(p.log),
	}
	r.RecordsPerSec = float64(bl.records) / r.CopySec
	r.MBPerSec = float64(bl.bytes) / 1e6 / r.CopySec
	r.CPUSecPerMillion = r.CPUSec / (float64(bl.records) / 1e6)
	r.account(bl.logBytes, targetBytes, wan1-wan0, b.netns != "")
	return r, nil
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
