//go:build linux

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/failover/health"
	"github.com/geomesh/geomesh/failover/membership"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// rbRegion is a region of a runbook mesh; a nil cluster makes a witness.
type rbRegion struct {
	name    string
	cluster *kafkatest.Cluster
}

// rbMesh writes a topology file in manual failover mode (the default, and
// the mode the runbooks are written for), with detection settings of a few
// seconds that still hold on a loaded 2-core machine (a 250ms probe
// timeout makes verdicts flap there), an embedded control plane, gossip encrypted with keyFile, and
// returns its path.
func rbMesh(t *testing.T, mesh, kind, topic, keyFile string, regions []rbRegion) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `mesh: %s
topology: %s
topics: {include: [%q]}
failover:
  mode: manual
  detection: {probe_interval: 1s, probe_timeout: 500ms, suspicion_mult: 3, kafka_probe_interval: 1s, down_after: 5s}
gossip: {keys: ["file:%s"]}
control_plane: {embedded: true}
regions:
`, mesh, kind, topic, keyFile)
	for _, r := range regions {
		fmt.Fprintf(&b, "  - name: %s\n", r.name)
		if r.cluster != nil {
			fmt.Fprintf(&b, "    kafka: {bootstrap: [%s]}\n", r.cluster.Bootstrap()[0])
		} else {
			b.WriteString("    witness: true\n")
		}
		fmt.Fprintf(&b, "    agents:\n      - {id: %s-1, gossip: %s, api: %s, control: %s}\n", r.name, testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t))
	}
	return testkit.TempFile(t, mesh+".yaml", b.String())
}

// writeKey writes a fresh base64 gossip key to dir/name and returns the
// file's path.
func writeKey(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(randomBytes(32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// keyID is the id `geomesh keys` prints for the key in a key file.
func keyID(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return membership.KeyID(key)
}

// rbAgents runs the agents of one runbook mesh in this process. They
// outlive the subtests (one per page) of their group, which take them
// down and up as the situation of each page needs; every life keeps its
// control-plane node's data under one state directory, as a restarted
// host would: <tmp>/<mesh>/<agent>, the layout of the service's default
// /var/lib/geomesh/<mesh>/<agent>.
type rbAgents struct {
	group *testing.T // owns the agents: they stop when it ends
	path  string     // the topology file agents start with
	tmp   string
	dir   string
	log   *slog.Logger
	mu    sync.Mutex
	mesh  *topology.Mesh
	live  map[string]*agent.Agent
	procs map[string]*rbProc // agents a page started as processes, by region
}

func newRbAgents(t *testing.T, path string) *rbAgents {
	ra := &rbAgents{group: t, path: path, tmp: t.TempDir(), live: map[string]*agent.Agent{}, procs: map[string]*rbProc{},
		log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("test", t.Name())}
	ra.reload(t)
	ra.dir = filepath.Join(ra.tmp, ra.mesh.Name)
	return ra
}

// reload reads the topology file again, for agents started from now on.
func (ra *rbAgents) reload(t *testing.T) {
	t.Helper()
	ra.reloadFrom(t, ra.path)
}

// reloadFrom makes path the topology file of agents started from now on.
func (ra *rbAgents) reloadFrom(t *testing.T, path string) {
	t.Helper()
	m, err := topology.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ra.mu.Lock()
	ra.path, ra.mesh = path, m
	ra.mu.Unlock()
}

// running returns the regions whose agent runs, in this process or as a
// process a page started.
func (ra *rbAgents) running() []string {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	regions := slices.Collect(maps.Keys(ra.live))
	for r := range ra.procs {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	return regions
}

func (ra *rbAgents) start(t *testing.T, region string) *agent.Agent {
	t.Helper()
	a, err := ra.startAgent(region)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// startAgent starts the region's agent in this process with the topology
// file of agents started from now on. It reports instead of stopping the
// test, for the systemctl of a host (rbHost), and refuses to start a
// second agent of a region: systemd would do nothing, but here it means
// the scenario lost track of its agents.
func (ra *rbAgents) startAgent(region string) (*agent.Agent, error) {
	ra.mu.Lock()
	m := ra.mesh
	_, live := ra.live[region]
	_, proc := ra.procs[region]
	ra.mu.Unlock()
	if live || proc {
		return nil, fmt.Errorf("an agent of %s runs already", region)
	}
	a, err := agent.New(agent.Config{Mesh: m, Region: region, ControlDir: ra.dir, Logger: ra.log})
	if err != nil {
		return nil, fmt.Errorf("agent of %s: %w", region, err)
	}
	if err := a.Start(ra.group.Context()); err != nil {
		return nil, fmt.Errorf("start agent of %s: %w", region, err)
	}
	ra.group.Cleanup(func() { _ = a.Close() })
	ra.mu.Lock()
	ra.live[region] = a
	ra.mu.Unlock()
	return a, nil
}

// hosts returns one host for each region, whose systemctl runs the
// region's agent as the unit geomesh-agent: stop is stopAgent, start is
// startAgent, restart is both.
func (ra *rbAgents) hosts(regions ...string) []rbHost {
	var hs []rbHost
	for _, r := range regions {
		hs = append(hs, rbHost{name: r, systemctl: func(verb string) error {
			switch verb {
			case "stop":
				return ra.stopAgent(r)
			case "start":
				_, err := ra.startAgent(r)
				return err
			case "restart":
				if err := ra.stopAgent(r); err != nil {
					return err
				}
				_, err := ra.startAgent(r)
				return err
			}
			return fmt.Errorf("unit geomesh-agent has no verb %q", verb)
		}})
	}
	return hs
}

// adopt makes the agent process a page started the region's agent: stop
// stops it, and so does the end of the group.
func (ra *rbAgents) adopt(region string, p *rbProc) {
	ra.mu.Lock()
	ra.procs[region] = p
	ra.mu.Unlock()
	ra.group.Cleanup(func() {
		ra.mu.Lock()
		running := ra.procs[region] == p
		delete(ra.procs, region)
		ra.mu.Unlock()
		if running {
			if err := p.stop(15 * time.Second); err != nil {
				ra.group.Error(err)
			}
		}
		if ra.group.Failed() {
			ra.group.Logf("log of %s:\n%s", p.cmd.text, tailFile(p.logPath, 64<<10))
		}
	})
}

// stop closes the region's agent, as a host going down would.
func (ra *rbAgents) stop(t *testing.T, region string) {
	t.Helper()
	if err := ra.stopAgent(region); err != nil {
		t.Fatal(err)
	}
}

// stopAgent closes the region's agent; an agent process gets SIGTERM and
// must exit cleanly within 15 s. An agent in this process may report what
// its flows were doing when closed: that is logged, not an error. Like
// startAgent it reports instead of stopping the test.
func (ra *rbAgents) stopAgent(region string) error {
	ra.mu.Lock()
	a, p := ra.live[region], ra.procs[region]
	delete(ra.live, region)
	delete(ra.procs, region)
	ra.mu.Unlock()
	switch {
	case p != nil:
		return p.stop(15 * time.Second)
	case a != nil:
		if err := a.Close(); err != nil {
			ra.group.Logf("close agent of %s: %v", region, err)
		}
		return nil
	default:
		return fmt.Errorf("no agent of %s runs", region)
	}
}

func (ra *rbAgents) get(region string) *agent.Agent {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	return ra.live[region]
}

// waitRoles waits until every running agent applied epoch with the given
// roles of their own regions.
func (ra *rbAgents) waitRoles(t *testing.T, epoch uint64, roles map[string]string) {
	t.Helper()
	poll.Until(t, 60*time.Second, func() error {
		for region, role := range roles {
			if a := ra.get(region); a != nil {
				if err := roleAt(a, role, epoch); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// waitUp waits until a majority of the mesh's regions (every region
// votes in these meshes) sees each of the regions up, as a planned switch
// or a failback needs. A primary's own view of a standby may stay
// suspect: no flow brings it the standby's heartbeats.
func (ra *rbAgents) waitUp(t *testing.T, regions ...string) {
	t.Helper()
	ra.mu.Lock()
	majority := len(ra.mesh.Regions)/2 + 1
	ra.mu.Unlock()
	poll.Until(t, 60*time.Second, func() error {
		ra.mu.Lock()
		defer ra.mu.Unlock()
		for _, r := range regions {
			var seen []string
			for _, a := range ra.live {
				for _, v := range a.Failover().Views {
					if v.Region == r && v.Verdict == health.Up {
						seen = append(seen, a.ID())
					}
				}
			}
			if len(seen) < majority {
				return fmt.Errorf("%s is up for %v only, want %d regions", r, seen, majority)
			}
		}
		return nil
	})
}

// waitAlert waits until the region's agent raised an alert naming
// region, the symptom a region-loss page starts from.
func (ra *rbAgents) waitAlert(t *testing.T, observer, region, text string) {
	t.Helper()
	poll.Until(t, 60*time.Second, func() error {
		alerts := ra.get(observer).Failover().Alerts
		for _, a := range alerts {
			if strings.Contains(a, region) && strings.Contains(a, text) {
				return nil
			}
		}
		return fmt.Errorf("agent of %s raised no alert with %q about %s: %q", observer, text, region, alerts)
	})
}

// contains is a check that the step's output contains every pattern.
func contains(patterns ...string) func(t *testing.T, out string) {
	return func(t *testing.T, out string) {
		t.Helper()
		for _, p := range patterns {
			if !regexp.MustCompile(p).MatchString(out) {
				t.Errorf("output does not match %q:\n%s", p, out)
			}
		}
	}
}

// originValues counts, among records of topic, those first produced in
// region with sequence numbers in [from, to), by their value.
func originValues(recs []*kgo.Record, region, topic string, from, to int) int {
	n := 0
	for _, r := range recs {
		s, ok := strings.CutPrefix(string(r.Value), region+"/"+topic+"/")
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(s); err == nil && i >= from && i < to {
			n++
		}
	}
	return n
}

// runReadme runs the page that tells which region-loss page applies: its
// command prints the mesh's kind.
func runReadme(t *testing.T, rb *runbooks, path, mesh, kind string) {
	t.Run("README", func(t *testing.T) {
		rb.run(t, "README.md", map[string]string{"TOPOLOGY": path}, map[string]rbStep{
			"kind": {check: contains(`(?m)^mesh ` + mesh + ` \(` + kind + `\), \d+ flows?$`)},
		})
	})
}

// syncedGroup commits offsets of group on topic in src, at half of each
// partition's end, and waits until the agents' group sync committed them
// in dst on targetTopic: there, the record at each synced offset is the
// copy of the record at the source offset. It returns the source offsets
// and the source ends by partition.
func syncedGroup(t *testing.T, src, dst *kafkatest.Cluster, group, topic, targetTopic string) (at, ends map[int32]int64) {
	t.Helper()
	srcAdm, dstAdm := kadm.NewClient(client(t, src)), kadm.NewClient(client(t, dst))
	listed, err := srcAdm.ListEndOffsets(t.Context(), topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	at, ends = map[int32]int64{}, map[int32]int64{}
	commit := kadm.Offsets{}
	listed.Each(func(o kadm.ListedOffset) {
		ends[o.Partition], at[o.Partition] = o.Offset, o.Offset/2
		commit.Add(kadm.Offset{Topic: topic, Partition: o.Partition, At: o.Offset / 2, LeaderEpoch: -1})
	})
	if resp, err := srcAdm.CommitOffsets(t.Context(), group, commit); err != nil || resp.Error() != nil {
		t.Fatalf("commit %s: %v %v", group, err, resp.Error())
	}
	poll.Until(t, 60*time.Second, func() error {
		have, err := dstAdm.FetchOffsets(t.Context(), group)
		if err != nil {
			return err
		}
		for p, want := range at {
			o, ok := have.Lookup(targetTopic, p)
			if !ok || o.At < 0 {
				return fmt.Errorf("group %s has no offset on %s/%d", group, targetTopic, p)
			}
			if origin, err := originAt(t, dst, targetTopic, p, o.At); err != nil || origin != want {
				return fmt.Errorf("group %s at %s/%d offset %d: a copy of %d (%v), want of %d", group, targetTopic, p, o.At, origin, err, want)
			}
		}
		return nil
	})
	return at, ends
}

// originAt returns the source offset of the copy at offset in a partition,
// read_committed.
func originAt(t testing.TB, c *kafkatest.Cluster, topic string, p int32, offset int64) (int64, error) {
	cl, err := kgo.NewClient(append(c.ClientOptions(), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(offset)}}))...)
	if err != nil {
		return -1, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return -1, fmt.Errorf("no record at %s/%d offset %d: %w", topic, p, offset, ctx.Err())
		}
		for _, r := range fs.Records() {
			o, ok := testkit.Header(r, "geomesh-origin-offset")
			if !ok {
				return -1, fmt.Errorf("%s/%d offset %d is not a copy", topic, p, r.Offset)
			}
			return strconv.ParseInt(o, 10, 64)
		}
	}
}

// heldTranslation is the check of a region-loss page's translate step,
// run with the source region down: the command answered from dst alone
// within its source timeout, and per partition gave the group's offset in
// dst, the source offset it was synced from (at), how far replication got
// (ends: the source ends when the group was synced, all copied) and the
// copies past it.
func heldTranslation(dst *kafkatest.Cluster, src, dstName, group, topic, targetTopic string, at, ends map[int32]int64, began *time.Time) func(t *testing.T, out string) {
	return func(t *testing.T, out string) {
		t.Helper()
		if took := time.Since(*began); took > 30*time.Second {
			t.Errorf("geomesh translate took %s with the source region down", took)
		}
		contains(`(?m)^group `+group+`, `+src+` -> `+dstName+`: region `+src+` did not answer \(`,
			`(?m)^answered from what region `+dstName+` holds: `,
			`(?m)^newest copy from `+src+`: written \S+ \(\d+s ago\)$`)(t, out)
		have, err := kadm.NewClient(client(t, dst)).FetchOffsets(t.Context(), group)
		if err != nil {
			t.Fatal(err)
		}
		for p, g := range at {
			o, _ := have.Lookup(targetTopic, p)
			contains(fmt.Sprintf(`(?m)^%s\s+%d\s+%s\s+%d\s+%d\s+%d\s+%d\s+synced$`, regexp.QuoteMeta(topic), p, regexp.QuoteMeta(targetTopic), o.At, g, ends[p], ends[p]-g))(t, out)
			// A consumer resuming there reads the copy of the record the
			// output names first.
			if origin, err := originAt(t, dst, targetTopic, p, o.At); err != nil || origin != g {
				t.Errorf("%s/%d offset %d holds a copy of %d (%v), the output says %d", targetTopic, p, o.At, origin, err, g)
			}
		}
	}
}

// strandedShown is the check of the failback page's console consumer: it
// printed, with Kafka's default formatter and print.headers=true, one line
// "<headers>\t<value>" for each record of the quarantine topic, and they
// are the records region took as primary with sequence numbers in [from,
// to), each once, as the page says: the headers they were written with
// (record gives every third an app-trace) plus the provenance headers
// naming where each came from. Then, on stderr, how the tool ends and
// its count.
func strandedShown(region, topic string, from, to int) func(t *testing.T, out string) {
	return func(t *testing.T, out string) {
		t.Helper()
		line := regexp.MustCompile(`^(.*)\t` + regexp.QuoteMeta(region+"/"+topic+"/") + `(\d+)$`)
		seen := map[int]bool{}
		origins := map[string]bool{} // partition/offset in the source
		for _, l := range strings.Split(out, "\n") {
			m := line.FindStringSubmatch(l)
			if m == nil {
				if strings.Contains(l, "\t") {
					t.Errorf("a record that is not one of %s's: %q", region, l)
				}
				continue
			}
			seq, _ := strconv.Atoi(m[2])
			if seq < from || seq >= to || seen[seq] {
				t.Errorf("record %d shown: want each of %d..%d once", seq, from, to-1)
			}
			seen[seq] = true
			h := formattedHeaders(m[1])
			p, perr := strconv.Atoi(h["geomesh-origin-partition"])
			o, oerr := strconv.ParseInt(h["geomesh-origin-offset"], 10, 64)
			key := fmt.Sprintf("%d/%d", p, o)
			switch {
			case h["geomesh-origin-region"] != region || h["geomesh-origin-topic"] != topic || perr != nil || oerr != nil || origins[key]:
				t.Errorf("record %d: provenance headers %q, want region %s, topic %s and a partition and offset of its own", seq, m[1], region, topic)
			case (seq%3 == 0) != (h["app-trace"] == "t"+m[2]):
				t.Errorf("record %d: headers %q: the app-trace header it was written with is not kept", seq, m[1])
			}
			origins[key] = true
		}
		if len(seen) != to-from {
			t.Errorf("the console consumer showed %d of the %d stranded records:\n%s", len(seen), to-from, out)
		}
		// How the tool ends at --timeout-ms, which the page explains.
		contains(`ERROR Error processing message, terminating consumer process:`, `TimeoutException`,
			fmt.Sprintf(`(?m)^Processed a total of %d messages$`, to-from))(t, out)
	}
}

// headerKey finds the keys in the headers Kafka's default formatter
// prints, "key:value" joined by commas: a value may hold a comma too
// (geomesh-visited:east,west), so a key is a name followed by a colon.
var headerKey = regexp.MustCompile(`(?:^|,)([A-Za-z][A-Za-z0-9_.-]*):`)

// formattedHeaders reads the headers Kafka's default formatter printed
// for one record, by key.
func formattedHeaders(s string) map[string]string {
	h := map[string]string{}
	keys := headerKey.FindAllStringSubmatchIndex(s, -1)
	for i, k := range keys {
		end := len(s)
		if i+1 < len(keys) {
			end = keys[i+1][0]
		}
		h[s[k[2]:k[3]]] = s[k[1]:end]
	}
	return h
}

// runbooksActivePassive runs the pages of an active-passive mesh in turn
// on one mesh: a planned switchover and back, the loss of the primary
// with records stranded on it, its return and failback, a cut-off
// primary fencing itself, gossip key rotation, and adding and removing a
// region. The primary's cluster is the test's own, for it dies.
func runbooksActivePassive(t *testing.T, rb *runbooks) {
	east := kafkatest.Start(t, kafkatest.Options{})
	west := clusters[0]
	const mesh = "rb-ap"
	eastName, westName, witName := mesh+"-east", mesh+"-west", mesh+"-witness"
	topic := mesh + "-orders"
	keyDir := t.TempDir()
	oldKey := writeKey(t, keyDir, "gossip-key")
	newKey := filepath.Join(keyDir, "gossip-key.new")
	kind := fmt.Sprintf("{kind: active-passive, primary: %s, standby: [%s]}", eastName, westName)
	path := rbMesh(t, mesh, kind, topic, oldKey, []rbRegion{{eastName, east}, {westName, west}, {witName, nil}})
	ra := newRbAgents(t, path)
	createTopic(t, east, topic, 3, nil)
	ra.start(t, eastName)
	ra.start(t, westName)
	ra.start(t, witName)
	ra.waitRoles(t, 1, map[string]string{eastName: "primary", westName: "standby"})
	produce(t, east, eastName, topic, 0, 100)
	readTopic(t, west, topic, 100, 30*time.Second)
	group := mesh + "-app"
	env := map[string]string{"TOPOLOGY": path, "PRIMARY": eastName, "STANDBY": westName,
		"OLD_KEY": oldKey, "NEW_KEY": newKey, "GROUP": group, "TOPIC": topic, "STANDBY_BOOTSTRAP": west.Bootstrap()[0]}
	runReadme(t, rb, path, mesh, "active-passive")

	ok := t.Run("planned-switchover", func(t *testing.T) {
		ra.waitUp(t, eastName, westName)
		rb.run(t, "planned-switchover.md", env, map[string]rbStep{
			"check": {check: contains(`epoch=1 `, eastName+`=primary`, westName+`=standby`, `ROLE`)},
			"switch": {before: func(t *testing.T) { ra.waitUp(t, eastName, westName) }, check: func(t *testing.T, _ string) {
				rb.wantState(t, path, 3, map[string]string{eastName: "standby", westName: "primary"})
			}},
			"rollback": {
				before: func(t *testing.T) { ra.waitUp(t, eastName, westName) },
				check: func(t *testing.T, _ string) {
					rb.wantState(t, path, 5, map[string]string{eastName: "primary", westName: "standby"})
				}},
		})
		// Nothing was lost or copied twice by going over and back.
		checkCopies(t, eastName, readTopic(t, east, topic, 100, 10*time.Second), readTopic(t, west, topic, 100, 10*time.Second), eastName+","+westName)
	})

	// The primary region dies with 30 records that never left it: the
	// standby's agent is down while they are written (the region's link
	// is cut), then the primary's agent and cluster die, then the
	// standby's agent comes back. An application's group, synced to the
	// standby before, consumed 3 more records of each partition on the
	// primary in that window: the standby cannot know, and the page's
	// translate step says the group may read them again.
	ok = ok && t.Run("region-loss-active-passive", func(t *testing.T) {
		ra.waitUp(t, eastName, westName)
		at, ends := syncedGroup(t, east, west, group, topic, topic)
		ra.stop(t, westName)
		produce(t, east, eastName, topic, 100, 30)
		later := kadm.Offsets{}
		for p, o := range at {
			later.Add(kadm.Offset{Topic: topic, Partition: p, At: o + 3, LeaderEpoch: -1})
		}
		if resp, err := kadm.NewClient(client(t, east)).CommitOffsets(t.Context(), group, later); err != nil || resp.Error() != nil {
			t.Fatalf("commit %s: %v %v", group, err, resp.Error())
		}
		ra.stop(t, eastName)
		if err := east.KillBroker(0); err != nil {
			t.Fatal(err)
		}
		ra.start(t, westName)
		ra.waitAlert(t, westName, eastName, "failover mode is manual")
		var began time.Time
		rb.run(t, "region-loss-active-passive.md", env, map[string]rbStep{
			"status": {check: contains(eastName + `=down`)},
			"failover": {check: func(t *testing.T, _ string) {
				rb.wantState(t, path, 6, map[string]string{eastName: "fenced", westName: "primary"}, eastName)
			}},
			"translate": {
				before: func(*testing.T) { began = time.Now() },
				check:  heldTranslation(west, eastName, westName, group, topic, topic, at, ends, &began),
			},
		})
		// Writes go to the new primary.
		produce(t, west, westName, topic, 1000, 20)
	})

	ok = ok && t.Run("failback-stranded", func(t *testing.T) {
		if err := east.StartBroker(t.Context(), 0); err != nil {
			t.Fatal(err)
		}
		ra.start(t, eastName)
		ra.waitRoles(t, 7, map[string]string{eastName: "standby", westName: "primary"})
		ra.waitUp(t, eastName, westName)
		rb.run(t, "failback-stranded.md", env, map[string]rbStep{
			"rejoined": {check: contains(`epoch=7 `, eastName+`=standby`, westName+`=primary`,
				`(?m)^`+eastName+` → `+westName+`\s+\S+\s+quarantine\s+settled\s+30\s`)},
			"stranded": {check: strandedShown(eastName, topic, 100, 130)},
			"failback": {before: func(t *testing.T) { ra.waitUp(t, eastName, westName) }, check: func(t *testing.T, _ string) {
				rb.wantState(t, path, 9, map[string]string{eastName: "primary", westName: "standby"})
			}},
		})
		// The new primary's 20 records reached the old one, and the 30
		// stranded ones are still in it, once each.
		eastRecs := readTopic(t, east, topic, 150, 30*time.Second)
		if n := originValues(eastRecs, westName, topic, 1000, 1020); n != 20 {
			t.Errorf("%s holds %d of the 20 records written to %s after the failover", eastName, n, westName)
		}
		if n := originValues(eastRecs, eastName, topic, 100, 130); n != 30 {
			t.Errorf("%s holds %d of its 30 stranded records", eastName, n)
		}
		// Still quarantined after the failback, and not copied into the
		// live topic by the resumed flow.
		if n := len(readTopic(t, west, topic+".stranded", 30, 30*time.Second)); n != 30 {
			t.Errorf("%s.stranded on %s holds %d records after the failback, want 30", topic, westName, n)
		}
		produce(t, east, eastName, topic, 1500, 5)
		westRecs := readTopic(t, west, topic, 125, 30*time.Second)
		if n := originValues(westRecs, eastName, topic, 100, 130); n != 0 {
			t.Errorf("the live %s on %s holds %d of the 30 quarantined records", topic, westName, n)
		}
		if n := originValues(westRecs, eastName, topic, 1500, 1505); n != 5 {
			t.Errorf("%s holds %d of the 5 records written after the failback", westName, n)
		}
	})

	ok = ok && t.Run("split-brain", func(t *testing.T) {
		env := map[string]string{"TOPOLOGY": path, "GEOMESH_API": "http://" + ra.get(eastName).APIAddr()}
		rb.run(t, "split-brain.md", env, map[string]rbStep{
			"compare": {check: func(t *testing.T, out string) {
				rb.wantState(t, path, 9, map[string]string{eastName: "primary", westName: "standby"})
				contains(`"epoch": 9`)(t, out)
			}},
			// The primary is cut off from the majority: it must stop.
			"isolated": {
				before: func(t *testing.T) {
					ra.stop(t, westName)
					ra.stop(t, witName)
					poll.Until(t, 60*time.Second, func() error {
						if st := ra.get(eastName).Status(); !st.Fenced {
							return fmt.Errorf("%s not fenced: %+v", eastName, st.Role)
						}
						return nil
					})
				},
				check: contains(`primary \(fenced\)`),
			},
			"healed": {
				before: func(t *testing.T) {
					ra.start(t, westName)
					ra.start(t, witName)
					poll.Until(t, 60*time.Second, func() error {
						if st := ra.get(eastName).Status(); st.Fenced {
							return fmt.Errorf("%s still fenced", eastName)
						}
						return nil
					})
				},
				check: func(t *testing.T, _ string) {
					rb.wantState(t, path, 9, map[string]string{eastName: "primary", westName: "standby"})
				},
			},
		})
	})

	ok = ok && t.Run("control-plane-errors", func(t *testing.T) {
		env := map[string]string{"TOPOLOGY": path, "GEOMESH_API": "http://" + ra.get(eastName).APIAddr()}
		rb.run(t, "control-plane-errors.md", env, map[string]rbStep{
			// The primary was cut off from the majority in split-brain:
			// its checks failed and were counted.
			"counters": {check: contains(`geomesh_control_plane_errors_total\{op="check"\} [1-9]`)},
		})
	})

	ok = ok && t.Run("gossip-key-rotation", func(t *testing.T) {
		oldID := keyID(t, oldKey)
		rb.run(t, "gossip-key-rotation.md", env, map[string]rbStep{
			"list": {check: contains(`(?m)^` + eastName + `-1\s+` + eastName + `\s+ok\s+` + oldID + `\s+` + oldID + `$`)},
			"rotated": {check: func(t *testing.T, out string) {
				newID := keyID(t, newKey)
				for _, r := range []string{eastName, westName, witName} {
					contains(`(?m)^`+r+`-1\s+`+r+`\s+ok\s+`+newID+`\s+`+newID+`$`)(t, out)
				}
			}},
			// The operator puts the new key in gossip.keys in place of
			// the old one.
			"file": {before: func(t *testing.T) {
				data, err := os.ReadFile(path)
				if err == nil {
					err = os.WriteFile(path, []byte(strings.Replace(string(data), oldKey, newKey, 1)), 0o600)
				}
				if err != nil {
					t.Fatal(err)
				}
			}},
			// Restarted on the witness's host, the agent reads the
			// file's keys, and rejoins.
			"restart": {
				before: ra.reload,
				hosts:  ra.hosts(witName),
				check:  func(t *testing.T, _ string) { ra.waitUp(t, eastName, westName, witName) },
			},
			// The witness rejoined with the new key alone.
			"restarted": {check: func(t *testing.T, out string) {
				newID := keyID(t, newKey)
				contains(`(?m)^`+witName+`-1\s+`+witName+`\s+ok\s+`+newID+`\s+`+newID+`$`)(t, out)
			}},
		})
	})

	// Adding a standby region the way the page says (a fresh mesh state
	// from the new file), then removing it again.
	southName := mesh + "-south"
	southCluster := clusters[1]
	south := filepath.Join(t.TempDir(), mesh+"-south.yaml")
	ok = ok && t.Run("add-region", func(t *testing.T) {
		env := map[string]string{"TOPOLOGY": path, "NEW_TOPOLOGY": south, "MESH": mesh, "STATE_DIR": ra.dir, "NEW_REGION": southName}
		rb.run(t, "add-region.md", env, map[string]rbStep{
			"check": {check: contains(`epoch=9 `, eastName+`=primary`)},
			// On every host.
			"stop": {hosts: ra.hosts(eastName, westName, witName), check: func(t *testing.T, _ string) {
				if r := ra.running(); len(r) > 0 {
					t.Fatalf("agents of %v still run", r)
				}
			}},
			// On the hosts of the regions already there, with the new
			// file rolled out; the new region's agent is the page's own
			// command, a process.
			"start": {
				before: func(t *testing.T) {
					if _, err := os.Stat(ra.dir); !os.IsNotExist(err) {
						t.Fatalf("control-plane data %s still there: %v", ra.dir, err)
					}
					ra.reloadFrom(t, south)
				},
				hosts: ra.hosts(eastName, westName, witName),
			},
			"start-new": {started: func(_ *testing.T, p *rbProc) { ra.adopt(southName, p) }},
			"added": {
				before: func(t *testing.T) {
					ra.waitRoles(t, 1, map[string]string{eastName: "primary", westName: "standby"})
					rb.wantStateWithin(t, 60*time.Second, south, 1, map[string]string{eastName: "primary", westName: "standby", southName: "standby"})
				},
				check: func(t *testing.T, out string) {
					contains(`epoch=1 `, southName+`=standby`, `(?m)^`+eastName+` → `+southName+`\s`)(t, out)
					rb.wantStateWithin(t, 60*time.Second, south, 1, map[string]string{eastName: "primary", westName: "standby", southName: "standby"})
				},
			},
			"record": {check: contains(`no changes from the agents' topology file`, `stored topology version 1`, `all 4 agents run version 1`)},
			"edit": {
				before: func(t *testing.T) {
					data, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					s := strings.Replace(string(data), "standby: ["+westName+"]", "standby: ["+westName+", "+mesh+"-south]", 1)
					s += fmt.Sprintf("  - name: %s-south\n    kafka: {bootstrap: [%s]}\n    agents:\n      - {id: %s-south-1, gossip: %s, api: %s, control: %s}\n",
						mesh, clusters[1].Bootstrap()[0], mesh, testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t))
					if err := os.WriteFile(south, []byte(s), 0o600); err != nil {
						t.Fatal(err)
					}
				},
				check: contains(`ok \(active-passive, 2 flows\)`, `(?m)^`+eastName+`\s+`+mesh+`-south\s+replicate`),
			},
		})
		// The new standby receives everything the primary's log holds,
		// from its start: the 30 records quarantined on the other standby
		// too, whose originals are still there (the page says so). The
		// standby already there resumed from its progress: no record
		// twice, none of the quarantined ones.
		produce(t, east, eastName, topic, 2000, 10)
		recs := readTopic(t, southCluster, topic, 145, 60*time.Second)
		if n := originValues(recs, eastName, topic, 0, 130) + originValues(recs, eastName, topic, 1500, 1505) + originValues(recs, eastName, topic, 2000, 2010); n != 145 || len(recs) != 145 {
			t.Errorf("the new region holds %d records, %d of the primary's 145", len(recs), n)
		}
		westRecs := readTopic(t, west, topic, 135, 30*time.Second)
		if n := originValues(westRecs, eastName, topic, 0, 100) + originValues(westRecs, eastName, topic, 1500, 1505) + originValues(westRecs, eastName, topic, 2000, 2010); n != 115 || len(westRecs) != 135 {
			t.Errorf("%s holds %d records, %d of the primary's 115 after the restart; want 135 with the 20 it took itself, each once", westName, len(westRecs), n)
		}
	})
	ok = ok && t.Run("remove-region", func(t *testing.T) {
		env := map[string]string{"TOPOLOGY": south, "NEW_TOPOLOGY": path, "REGION": southName}
		rb.run(t, "remove-region.md", env, map[string]rbStep{
			"check": {check: contains(southName + `=standby`)},
			"edit": {check: func(t *testing.T, out string) {
				contains(`ok \(active-passive, 1 flow\)`)(t, out)
				if strings.Contains(out, southName) {
					t.Errorf("the plan still names %s:\n%s", southName, out)
				}
			}},
			// On the removed region's host: its agent is the process
			// the add-region page started.
			"stop": {hosts: ra.hosts(southName), check: func(t *testing.T, _ string) {
				if slices.Contains(ra.running(), southName) {
					t.Fatalf("the agent of %s still runs", southName)
				}
			}},
			// On the other hosts with the new file rolled out, one at a
			// time, each once it shows in its role again.
			"restart": {
				before: func(t *testing.T) { ra.reloadFrom(t, path) },
				hosts:  ra.hosts(witName, westName, eastName),
				each: func(t *testing.T, r string) {
					ra.waitRoles(t, 1, map[string]string{r: map[string]string{eastName: "primary", westName: "standby", witName: "witness"}[r]})
				},
			},
			"record": {check: contains(`- regions\[`+southName+`\]: `+southName, `stored topology version 2`, `all 3 agents run version 2`)},
			"removed": {
				check: func(t *testing.T, out string) {
					if strings.Contains(out, southName+"-1") {
						t.Errorf("status still lists an agent of %s:\n%s", southName, out)
					}
					rb.wantState(t, path, 1, map[string]string{eastName: "primary", westName: "standby"})
				},
			},
		})
		produce(t, east, eastName, topic, 3000, 10)
		westRecs := readTopic(t, west, topic, 145, 30*time.Second)
		if n := originValues(westRecs, eastName, topic, 3000, 3010); n != 10 {
			t.Errorf("%s holds %d of the 10 records written after the removal", westName, n)
		}
	})
	_ = ok
}

// runbooksActiveActive: an active region dies; its clients are moved to
// the survivor, and moved home when it is back.
func runbooksActiveActive(t *testing.T, rb *runbooks) {
	a := kafkatest.Start(t, kafkatest.Options{})
	b := clusters[1]
	const mesh = "rb-aa"
	aName, bName, witName := mesh+"-a", mesh+"-b", mesh+"-witness"
	topic := mesh + "-orders"
	path := rbMesh(t, mesh, "{kind: active-active}", topic, writeKey(t, t.TempDir(), "gossip-key"),
		[]rbRegion{{aName, a}, {bName, b}, {witName, nil}})
	ra := newRbAgents(t, path)
	createTopic(t, a, topic, 3, nil)
	ra.start(t, aName)
	ra.start(t, bName)
	ra.start(t, witName)
	ra.waitRoles(t, 1, map[string]string{aName: "active", bName: "active"})
	produce(t, a, aName, topic, 0, 50)
	readTopic(t, b, aName+"."+topic, 50, 30*time.Second)
	group := mesh + "-app"
	env := map[string]string{"TOPOLOGY": path, "FAILED": aName, "SURVIVOR": bName, "GROUP": group}
	runReadme(t, rb, path, mesh, "active-active")

	t.Run("region-loss-active-active", func(t *testing.T) {
		copyName := aName + "." + topic
		at, ends := syncedGroup(t, a, b, group, topic, copyName)
		ra.stop(t, aName)
		if err := a.KillBroker(0); err != nil {
			t.Fatal(err)
		}
		ra.waitAlert(t, bName, aName, "failover mode is manual")
		var began time.Time
		rb.run(t, "region-loss-active-active.md", env, map[string]rbStep{
			"status": {check: contains(aName + `=down`)},
			"evacuate": {check: func(t *testing.T, _ string) {
				rb.wantState(t, path, 2, map[string]string{aName: "evacuated(clients→" + bName + ")", bName: "active"}, aName)
			}},
			"translate": {
				before: func(*testing.T) { began = time.Now() },
				check:  heldTranslation(b, aName, bName, group, topic, copyName, at, ends, &began),
			},
			"back": {
				before: func(t *testing.T) {
					if err := a.StartBroker(t.Context(), 0); err != nil {
						t.Fatal(err)
					}
					ra.start(t, aName)
					ra.waitRoles(t, 2, map[string]string{aName: "evacuated", bName: "active"})
					ra.waitUp(t, aName, bName)
				},
				check: contains(`epoch=2 `, aName+`=evacuated\(clients→`+bName+`\)`),
			},
			"failback": {before: func(t *testing.T) { ra.waitUp(t, aName, bName) }, check: func(t *testing.T, _ string) {
				rb.wantState(t, path, 4, map[string]string{aName: "active", bName: "active"})
			}},
		})
	})
}

// runbooksHubSpoke: the hub dies; the standby hub becomes the hub and the
// spoke feeds it; the old hub returns as standby hub and takes the hub
// role back by a planned switch.
func runbooksHubSpoke(t *testing.T, rb *runbooks) {
	hub := kafkatest.Start(t, kafkatest.Options{})
	standby, spoke := clusters[2], clusters[3]
	const mesh = "rb-hs"
	hubName, sbName, spName, witName := mesh+"-hub", mesh+"-hub2", mesh+"-spoke", mesh+"-witness"
	topic := mesh + "-sales"
	kind := fmt.Sprintf("{kind: hub-spoke, hub: %s, standby_hub: %s, spokes: [%s]}", hubName, sbName, spName)
	path := rbMesh(t, mesh, kind, topic, writeKey(t, t.TempDir(), "gossip-key"),
		[]rbRegion{{hubName, hub}, {sbName, standby}, {spName, spoke}, {witName, nil}})
	ra := newRbAgents(t, path)
	createTopic(t, spoke, topic, 3, nil)
	for _, r := range []string{hubName, sbName, spName, witName} {
		ra.start(t, r)
	}
	ra.waitRoles(t, 1, map[string]string{hubName: "hub", sbName: "standby-hub", spName: "spoke"})
	copyName := spName + "." + topic
	produce(t, spoke, spName, topic, 0, 40)
	readTopic(t, standby, copyName, 40, 60*time.Second)
	env := map[string]string{"TOPOLOGY": path, "STANDBY_HUB": sbName}
	runReadme(t, rb, path, mesh, "hub-spoke")

	t.Run("region-loss-hub-spoke", func(t *testing.T) {
		ra.stop(t, hubName)
		if err := hub.KillBroker(0); err != nil {
			t.Fatal(err)
		}
		ra.waitAlert(t, sbName, hubName, "failover mode is manual")
		rb.run(t, "region-loss-hub-spoke.md", env, map[string]rbStep{
			"status": {check: contains(hubName + `=down`)},
			"failover": {check: func(t *testing.T, _ string) {
				rb.wantState(t, path, 2, map[string]string{hubName: "fenced", sbName: "hub", spName: "spoke"}, hubName)
				// The spoke feeds the new hub.
				produce(t, spoke, spName, topic, 40, 10)
				recs := readTopic(t, standby, copyName, 50, 60*time.Second)
				if n := originValues(recs, spName, topic, 40, 50); n != 10 {
					t.Errorf("the new hub %s holds %d of the 10 records the spoke took after the failover", sbName, n)
				}
				// The spoke's flow into the new hub starts after the 40
				// records that reached it through the old hub: each once.
				if n := originValues(recs, spName, topic, 0, 40); n != 40 {
					t.Errorf("the new hub holds %d copies of the spoke's first 40 records, want each once", n)
				}
				if len(recs) != 50 {
					t.Errorf("the new hub holds %d records of the spoke's topic, want 50", len(recs))
				}
			}},
			"back": {
				before: func(t *testing.T) {
					if err := hub.StartBroker(t.Context(), 0); err != nil {
						t.Fatal(err)
					}
					ra.start(t, hubName)
					ra.waitRoles(t, 3, map[string]string{hubName: "standby-hub", sbName: "hub"})
					ra.waitUp(t, hubName, sbName)
				},
				check: contains(`epoch=3 `, hubName+`=standby-hub`, sbName+`=hub`),
			},
			"failback": {check: func(t *testing.T, _ string) {
				rb.wantState(t, path, 5, map[string]string{hubName: "hub", sbName: "standby-hub", spName: "spoke"})
				// The spoke feeds the hub again, and the standby flow the
				// standby hub.
				produce(t, spoke, spName, topic, 50, 10)
				// Every record of the spoke once in the hub: the first 40
				// from before the failure, 40–49 through the standby flow
				// while it was standby hub, 50–59 from the spoke again.
				recs := readTopic(t, hub, copyName, 60, 60*time.Second)
				for _, r := range [][2]int{{0, 40}, {40, 50}, {50, 60}} {
					if n := originValues(recs, spName, topic, r[0], r[1]); n != r[1]-r[0] {
						t.Errorf("the hub %s holds %d copies of the spoke's records %d–%d, want each once", hubName, n, r[0], r[1]-1)
					}
				}
				if len(recs) != 60 {
					t.Errorf("the hub %s holds %d records of the spoke's topic, want 60", hubName, len(recs))
				}
			}},
			"home": {check: contains(`epoch=5 `, hubName+`=hub`, sbName+`=standby-hub`)},
		})
	})
}
