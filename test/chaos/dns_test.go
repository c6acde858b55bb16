//go:build linux

package chaos

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/test/chaos/history"
	"github.com/geomesh/geomesh/test/netns"
	"github.com/geomesh/geomesh/topology"
)

// dnsName is the name the DNS test's hook moves and its plain consumer
// bootstraps from.
const dnsName = "kafka.geomesh.test"

// TestDNSHookPlainConsumer: an application that cannot change its code
// follows the mesh through DNS. The agents run deploy/hooks/dns-bootstrap.sh
// as their failover hook, which asks an agent for GET /v1/bootstrap and
// points dnsName at the cluster that takes writes; a hosts file plays the
// DNS server (the JVM reads it for every lookup, -Djdk.net.hosts.file).
// A plain KafkaConsumer (kafka-clients only, the settings docs/clients.md
// gives) reads orders from dnsName while a Go application writes through
// the mesh. us-east dies (agent and broker killed): the hook moves the
// name to eu-west, the consumer bootstraps again there and resumes from
// the offsets group sync committed. Judged by the history checker:
// nothing acknowledged lost (stranded records aside); records read twice
// only from the last sync interval before the kill.
func TestDNSHookPlainConsumer(t *testing.T) {
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	update := filepath.Join(dir, "update-hosts.sh")
	// DNS_UPDATE NAME TYPE VALUE TTL: replace the hosts file at once.
	if err := os.WriteFile(update, []byte(fmt.Sprintf("#!/bin/sh\nset -e\n[ \"$2\" = A ]\nprintf '%%s %%s\\n' \"$3\" \"$1\" > %[1]s.tmp\nmv %[1]s.tmp %[1]s\n", hosts)), 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	m := startFailoverMesh(t, meshOptions{delay: wideDelay, detection: fastDetection, app: true, basePort: 19092,
		hook: func(regions []*netns.NS) []string {
			var agents []string
			for _, ns := range regions {
				agents = append(agents, "http://"+ns.Host(apiPort))
			}
			return []string{"env", "DNS_NAME=" + dnsName, "DNS_UPDATE=" + update, "GEOMESH_AGENTS=" + strings.Join(agents, " "),
				filepath.Join(root, "deploy/hooks/dns-bootstrap.sh")}
		}})
	eastAddr, westAddr := m.east.Addr.String(), m.west.Addr.String()
	resolves := func(want string) func() error {
		return func() error {
			b, err := os.ReadFile(hosts)
			if err != nil {
				return err
			}
			if got := strings.Fields(string(b)); len(got) != 2 || got[0] != want || got[1] != dnsName {
				return fmt.Errorf("hosts file %q, want %s %s", b, want, dnsName)
			}
			return nil
		}
	}
	// The init decision's hook named the primary.
	poll.Until(t, 30*time.Second, resolves(eastAddr))
	_, port, err := net.SplitHostPort(m.clusters[m.east].SASLBootstrap()[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, westPort, _ := net.SplitHostPort(m.clusters[m.west].SASLBootstrap()[0]); westPort != port {
		t.Fatalf("the clusters' SASL listeners are on ports %s and %s: a DNS name needs one", port, westPort)
	}
	pw := filepath.Join(dir, "app-password")
	if err := os.WriteFile(pw, []byte(appPass), 0o600); err != nil {
		t.Fatal(err)
	}
	mesh, err := topology.Load(m.appPath)
	if err != nil {
		t.Fatal(err)
	}

	var appRec, plainRec history.Recorder
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	m.watchRoles(ctx, &wg, &appRec)
	java := driverCommand(t, "java")
	plain := m.startDriver(t, ctx, &wg, &plainRec, "plain", []string{java[0], "-Djdk.net.hosts.file=" + hosts, "-Dsun.net.inetaddr.ttl=0",
		java[1], java[2], "io.geomesh.client.conformance.PlainConsumer",
		"--bootstrap", net.JoinHostPort(dnsName, port), "--group", "app-plain", "--topic", "orders", "--user", appUser, "--password-file", pw})
	defer plain.stop()
	app := startApp(t, ctx, &wg, m, mesh, &appRec, "dns")
	defer app.stop()
	app.waitAcked(t, "us-east", 100)
	poll.Until(t, 60*time.Second, func() error {
		if n := len(plainRec.History().Consumes); n < 300 {
			return fmt.Errorf("the plain consumer read %d records, want 300", n)
		}
		return nil
	})

	st, err := m.agents[m.west].status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	kill := time.Now()
	detection, rto, stranded := m.killRegion(t, app, &appRec, st.Epoch)
	poll.Until(t, 30*time.Second, resolves(westAddr))
	app.stopProducer()
	quarantined := m.readStranded(t, int(stranded))

	// The plain consumer reads what the application wrote, in eu-west
	// now: every acknowledged record not stranded.
	h := history.History{Produces: appRec.History().Produces}
	for id := range quarantined {
		h.Stranded = append(h.Stranded, history.Stranded{Time: time.Now(), Region: "us-east", ID: id})
	}
	poll.Until(t, 90*time.Second, func() error {
		h.Consumes = plainRec.History().Consumes
		if fs := history.Check(h, history.Options{}); len(fs) > 0 {
			return fmt.Errorf("%d findings, first %s", len(fs), fs[0])
		}
		return nil
	})
	plain.stop()
	h.Consumes = plainRec.History().Consumes

	first := map[string]time.Time{}
	var again []string
	var oldest time.Duration
	for _, c := range h.Consumes {
		at, seen := first[c.ID]
		if !seen {
			first[c.ID] = c.Time
			continue
		}
		again = append(again, c.ID)
		oldest = max(oldest, kill.Sub(at))
	}
	t.Logf("plain consumer through %s: detection %s, RTO %s, %d stranded; %d reads of %d records, %d read again, the oldest first read %s before the kill",
		dnsName, detection.Round(time.Millisecond), rto.Round(time.Millisecond), stranded, len(h.Consumes), len(first), len(again), oldest.Round(time.Millisecond))
	for _, f := range history.Check(h, history.Options{}) {
		t.Error(f)
	}
	// Group sync commits every second (the agent's default); the consumer
	// commits every 500ms; a sync round and the commit's own trip take a
	// moment more: what is read again was read in the last 3s.
	if oldest > 3*time.Second {
		t.Errorf("records first read %s before the kill were read again: more than one sync interval", oldest.Round(time.Millisecond))
	}
}
