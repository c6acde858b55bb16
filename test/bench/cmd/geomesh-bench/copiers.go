package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/geomesh/geomesh/internal/loopback"
)

// Copier kinds, in the order the report lists them.
const (
	geomeshEOS = "geomesh-eos"
	mm2EOS     = "mm2-eos"
	geomeshALO = "geomesh-alo"
	mm2ALO     = "mm2-alo"
	// The tuned MirrorMaker 2 rows: the same copier with the throughput
	// settings its documentation recommends (mm2Tuning).
	mm2EOSTuned = "mm2-eos-tuned"
	mm2ALOTuned = "mm2-alo-tuned"
	raw         = "raw"
	// geomeshProfile is geomesh-eos run in the runner's own binary with a
	// CPU profile; it is not part of the medians.
	geomeshProfile = "geomesh-eos-pprof"
	// geomeshIdleProfile is the same agent in a scale run, profiled over
	// the idle window only; it is not part of the medians either.
	geomeshIdleProfile = "geomesh-eos-idle-pprof"
)

// Profiles the runner writes into its work directory.
const (
	copyProfile = "agent.cpu.pprof"
	idleProfile = "agent.idle.cpu.pprof"
)

var copierKinds = []string{geomeshEOS, mm2EOS, mm2EOSTuned, geomeshALO, mm2ALO, mm2ALOTuned, raw}

// alias is the source region (geomesh, prefix naming) or source cluster
// alias (MirrorMaker 2, DefaultReplicationPolicy) of a copier: both name the
// copy "<alias>.<topic>", so every copier of a run can read one backlog and
// write its own target topic.
func alias(kind string) string {
	switch kind {
	case geomeshEOS:
		return "gmeos"
	case geomeshALO:
		return "gmalo"
	case geomeshProfile:
		return "gmprof"
	case geomeshIdleProfile:
		return "gmidle"
	case mm2EOS:
		return "mmeos"
	case mm2ALO:
		return "mmalo"
	case mm2EOSTuned:
		return "mmeost"
	case mm2ALOTuned:
		return "mmalot"
	default:
		return "raw"
	}
}

func targetTopic(kind, topic string) string { return alias(kind) + "." + topic }

// startCopier starts a copier of topic from the source to the target cluster
// as a separate process (inside b.netns when set) and returns it. codec is
// the codec of the source's batches, which geomesh's copies take by
// themselves and the tuned MirrorMaker 2 and the raw loop are told.
func (b *bench) startCopier(ctx context.Context, kind, topic, tag, codec string) (*proc, error) {
	dir := filepath.Join(b.work, tag+"-"+kind)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "copier.log")
	switch kind {
	case geomeshEOS, geomeshALO, geomeshProfile, geomeshIdleProfile:
		mode := "exactly-once"
		if kind == geomeshALO {
			mode = "at-least-once"
		}
		path, err := b.topologyFile(dir, alias(kind), topic, mode)
		if err != nil {
			return nil, err
		}
		region := alias(kind) + "dst"
		switch kind {
		case geomeshProfile:
			return startProc(kind, b.netns, logPath, b.selfBin, "agent", "-topology", path, "-region", region,
				"-cpuprofile", filepath.Join(b.work, copyProfile))
		case geomeshIdleProfile:
			return startProc(kind, b.netns, logPath, b.selfBin, "agent", "-topology", path, "-region", region,
				"-cpuprofile", filepath.Join(b.work, idleProfile), "-window")
		}
		return startProc(kind, b.netns, logPath, b.geomeshBin, "agent", "--topology", path, "--region", region, "--log-level", "info")
	case mm2EOS, mm2ALO, mm2EOSTuned, mm2ALOTuned:
		props, err := b.mm2Properties(dir, alias(kind), topic, codec, kind == mm2EOS || kind == mm2EOSTuned, kind == mm2EOSTuned || kind == mm2ALOTuned)
		if err != nil {
			return nil, err
		}
		log4j := filepath.Join(dir, "log4j2.properties")
		if err := os.WriteFile(log4j, []byte(mm2Log4j), 0o644); err != nil {
			return nil, err
		}
		// The heap and collector of bin/connect-mirror-maker.sh (via
		// kafka-run-class.sh): what an operator runs by default.
		return startProc(kind, b.netns, logPath, b.java, "-Xms256m", "-Xmx2g", "-XX:+UseG1GC",
			"-Djava.awt.headless=true", "-Dlog4j2.configurationFile="+log4j,
			"-cp", filepath.Join(b.kafkaHome, "libs", "*"),
			"org.apache.kafka.connect.mirror.MirrorMaker", props, "--clusters", alias(kind)+"dst")
	case raw:
		if err := b.createTopic(ctx, b.dstAdm, targetTopic(raw, topic), b.partitions); err != nil {
			return nil, err
		}
		return startProc(kind, b.netns, logPath, b.selfBin, "raw-copy",
			"-src", b.srcAddr, "-dst", b.dstAddr, "-topic", topic, "-target", targetTopic(raw, topic), "-codec", codec)
	}
	return nil, fmt.Errorf("unknown copier %q", kind)
}

// topologyFile writes an active-passive mesh from region <alias> (the
// source cluster) to <alias>dst (the target cluster) selecting one topic,
// with prefix naming, as test/e2e builds its meshes.
func (b *bench) topologyFile(dir, alias, topic, mode string) (string, error) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "mesh: bench-%s\n", alias)
	fmt.Fprintf(&sb, "topology: {kind: active-passive, primary: %s, standby: [%sdst]}\n", alias, alias)
	fmt.Fprintf(&sb, "naming: prefix\ntopics: {include: [%q]}\nreplication: {mode: %s}\nregions:\n", topic, mode)
	for _, r := range []struct{ name, addr string }{{alias, b.srcAddr}, {alias + "dst", b.dstAddr}} {
		g, err := loopback.Free()
		if err != nil {
			return "", err
		}
		a, err := loopback.Free()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&sb, "  - name: %s\n    kafka:\n      bootstrap: [%s]\n    agents:\n      - {id: %s-1, gossip: %s, api: %s}\n", r.name, r.addr, r.name, g, a)
	}
	fmt.Fprintf(&sb, "control_plane: {urls: [\"nats://%s\"]}\n", b.controlPlane)
	path := filepath.Join(dir, "topology.yaml")
	return path, os.WriteFile(path, []byte(sb.String()), 0o644)
}

// mm2Properties writes a dedicated-mode MirrorMaker 2 configuration copying
// one topic from cluster <alias> to <alias>dst with 4 tasks (geomesh's
// default shard count). Replication factors are 1: each test cluster has
// one broker. Exactly-once follows KIP-618 as the Kafka documentation
// describes it for dedicated MirrorMaker (3.5+): exactly.once.source.support
// on the target, the internal REST server that zombie fencing needs, and a
// read_committed source consumer. The source consumer is read_committed in
// at-least-once mode too, as geomesh's and the raw loop's are.
//
// tuned adds mm2Tuning: the settings a user tunes MirrorMaker 2 with for
// throughput before comparing it with anything.
func (b *bench) mm2Properties(dir, alias, topic, codec string, eos, tuned bool) (string, error) {
	rest, err := loopback.Free()
	if err != nil {
		return "", err
	}
	lines := mm2Lines(alias, b.srcAddr, b.dstAddr, topic, rest, codec, eos, tuned)
	path := filepath.Join(dir, "mm2.properties")
	return path, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// mm2Tuning are the tuned rows' settings, each with the documentation that
// recommends it; docs/benchmarks.md lists them. <source> and <target>
// stand for the clusters' aliases, <codec> for the codec of the source
// batches.
var mm2Tuning = []struct{ setting, why string }{
	{"<source>.consumer.max.poll.records = 10000", "Kafka consumer configs, max.poll.records (default 500): the records one poll, so one task's put of records to its producer, hands over"},
	{"<source>.consumer.max.partition.fetch.bytes = 4194304", "Kafka consumer configs, max.partition.fetch.bytes (default 1 MiB); geomesh fetches 4 MiB per partition"},
	{"<source>.consumer.fetch.max.bytes = 16777216", "Kafka consumer configs, fetch.max.bytes; geomesh fetches at most 16 MiB"},
	{"<target>.producer.batch.size = 1048576", "Kafka producer configs, batch.size (default 16 KiB): larger batches for throughput; geomesh's batches are up to 1 MB"},
	{"<target>.producer.linger.ms = 10", "Kafka producer configs, linger.ms (default 5 ms since KIP-1030): time to fill batches"},
	{"<target>.producer.buffer.memory = 134217728", "Kafka producer configs, buffer.memory (default 32 MiB): room for the larger batches"},
	{"<target>.producer.compression.type = <codec>", "Kafka producer configs, compression.type (default none): the codec geomesh's copies take by themselves, that of the source batches: none for the random values (snappy does not shrink them, so franz-go sends them uncompressed), zstd for the JSON events"},
	{"<source>-><target>.transaction.boundary = interval", "KIP-618 (exactly-once source connectors): commit every transaction.boundary.interval.ms instead of once per poll; a connector setting, so on the replication flow (exactly-once rows only)"},
	{"<source>-><target>.transaction.boundary.interval.ms = 100", "KIP-618: geomesh's commit interval (exactly-once rows only)"},
}

// mm2Lines are the lines of a dedicated-mode MirrorMaker 2 configuration
// copying topic from cluster alias (at src) to alias+"dst" (at dst), its
// internal REST server on rest; tuned rows compress with codec.
func mm2Lines(alias, src, dst, topic, rest, codec string, eos, tuned bool) []string {
	target := alias + "dst"
	lines := []string{
		"clusters = " + alias + ", " + target,
		alias + ".bootstrap.servers = " + src,
		target + ".bootstrap.servers = " + dst,
		alias + "->" + target + ".enabled = true",
		target + "->" + alias + ".enabled = false",
		alias + "->" + target + ".topics = " + topic,
		"groups = ^$",
		"tasks.max = 4",
		"replication.factor = 1",
		"checkpoints.topic.replication.factor = 1",
		"heartbeats.topic.replication.factor = 1",
		"offset-syncs.topic.replication.factor = 1",
		"offset.storage.replication.factor = 1",
		"status.storage.replication.factor = 1",
		"config.storage.replication.factor = 1",
		"sync.topic.acls.enabled = false",
		"sync.group.offsets.enabled = false",
		"emit.checkpoints.enabled = false",
		alias + ".consumer.isolation.level = read_committed",
		"dedicated.mode.enable.internal.rest = true",
		"listeners = http://" + rest,
	}
	if eos {
		lines = append(lines, target+".exactly.once.source.support = enabled")
	}
	if tuned {
		for _, t := range mm2Tuning {
			if strings.Contains(t.setting, ".transaction.") && !eos {
				continue
			}
			lines = append(lines, strings.NewReplacer("<source>", alias, "<target>", target, "<codec>", codec).Replace(t.setting))
		}
	}
	return lines
}

// mm2Log4j keeps MirrorMaker 2's log readable: warnings, plus the Connect
// and MirrorMaker lifecycle at INFO.
const mm2Log4j = `status = warn
name = geomesh-bench-mm2
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.mirror.name = org.apache.kafka.connect.mirror
logger.mirror.level = INFO
`
