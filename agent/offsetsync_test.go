package agent_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror/offsets"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestOffsetSyncHealth runs the active-passive example with the standby's
// cluster a kfake cluster of the test that refuses every offset commit of
// group billing (as a missing ACL would) while audit syncs. The standby's
// agent must say so everywhere: geomesh_offsets_failing_groups is 1, the
// authorization class counts, the sync age grows although every round
// reaches both clusters, /v1/status names billing and its error, and so
// does the status page rendered in Chromium. Once the cluster accepts the
// commits again, billing lands at its translated offsets and every signal
// turns back.
func TestOffsetSyncHealth(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium (Debian package chromium) is needed to render the status page")
	}
	m, err := topology.Load("../configs/examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var refuse atomic.Bool
	refuse.Store(true)
	standby := testkit.FakeCluster(t, kfake.DefaultNumPartitions(3))
	testkit.RefuseOffsetCommits(standby, "billing", refuse.Load)
	for i := range m.Regions {
		if m.Regions[i].Name == "eu-west" {
			k := *m.Regions[i].Kafka
			k.Bootstrap, k.Embedded = standby.ListenAddrs(), false
			m.Regions[i].Kafka = &k
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	mesh := startLocal(t, ctx, m, agent.Config{OffsetSyncInterval: 200 * time.Millisecond})
	base := "http://" + localAgent(t, mesh, "eu-west").APIAddr()

	prod := localClient(t, mesh, "us-east", kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	srcAdm, dstAdm := kadm.NewClient(prod), kadm.NewClient(localClient(t, mesh, "eu-west"))
	testkit.CreateTopic(t, srcAdm, 3, 1, nil, "orders")
	for p := range int32(3) {
		for i := range 30 {
			if err := prod.ProduceSync(ctx, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "order-%d-%d", p, i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, g := range []string{"audit", "billing"} {
		os := kadm.Offsets{}
		for p := range int32(3) {
			os.AddOffset("orders", p, int64(10+i*5)+int64(p), -1)
		}
		if err := srcAdm.CommitAllOffsets(ctx, g, os); err != nil {
			t.Fatal(err)
		}
	}
	// translated reports whether group's offsets on the standby are
	// those the agent translates its source offsets to.
	translated := func(group string) error {
		tr := getJSON[struct{ Partitions []offsets.Translation }](t, base+"/v1/translate?group="+group+"&from=us-east")
		if len(tr.Partitions) != 3 {
			return fmt.Errorf("%s: translation %+v", group, tr.Partitions)
		}
		have, err := dstAdm.FetchOffsets(ctx, group)
		if err != nil {
			return fmt.Errorf("%s on eu-west: %w", group, err)
		}
		for _, w := range tr.Partitions {
			if w.State != offsets.Copied {
				return fmt.Errorf("%s %s/%d: translation %+v", group, w.Topic, w.Partition, w)
			}
			if o, ok := have.Lookup(w.TargetTopic, w.Partition); !ok || o.At != w.TargetOffset {
				return fmt.Errorf("%s %s/%d at %d on eu-west, want %d", group, w.TargetTopic, w.Partition, o.At, w.TargetOffset)
			}
		}
		return nil
	}

	// Red: audit syncs, billing fails, and the age grows past what any
	// round takes.
	poll.Until(t, 60*time.Second, func() error {
		if err := translated("audit"); err != nil {
			return err
		}
		mv := offsetMetrics(t, base)
		if mv["failing"] != 1 || mv["authorization"] < 3 || mv["age"] < 3 {
			return fmt.Errorf("metrics so far: %v", mv)
		}
		return nil
	})
	if err := translated("billing"); err == nil {
		t.Fatal("billing is at its translated offsets on eu-west although every commit was refused")
	}
	st := getJSON[agent.Status](t, base+"/v1/status")
	if len(st.OffsetSync) != 1 {
		t.Fatalf("offset_sync %+v, want the flow from us-east", st.OffsetSync)
	}
	fsync := st.OffsetSync[0]
	if fsync.Source != "us-east" || fsync.Groups != 2 || len(fsync.Failing) != 1 || fsync.InStepAge < 3 {
		t.Fatalf("offset_sync %+v", fsync)
	}
	if f := fsync.Failing[0]; f.Group != "billing" || f.Class != offsets.SyncClassAuthorization || !strings.Contains(f.Error, "GROUP_AUTHORIZATION_FAILED") {
		t.Fatalf("failing group %+v", f)
	}
	render := func() string {
		t.Helper()
		out, err := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
			"--user-data-dir="+t.TempDir(), "--dump-dom", base+"/").Output()
		if err != nil {
			t.Fatalf("chromium: %v", err)
		}
		return string(out)
	}
	page := render()
	i := strings.Index(page, `<table class="sync-failing">`)
	if i < 0 {
		t.Fatalf("the status page shows no failing group sync:\n%s", page)
	}
	row := page[i:]
	row = row[:strings.Index(row, "</table>")]
	for _, want := range []string{">billing</td>", "authorization", "GROUP_AUTHORIZATION_FAILED", "group failing to sync from us-east"} {
		if !strings.Contains(row, want) {
			t.Errorf("the page's failing group table lacks %q:\n%s", want, row)
		}
	}

	// Green again.
	refuse.Store(false)
	poll.Until(t, 30*time.Second, func() error {
		if err := translated("billing"); err != nil {
			return err
		}
		if mv := offsetMetrics(t, base); mv["failing"] != 0 || mv["age"] > 2 {
			return fmt.Errorf("metrics so far: %v", mv)
		}
		return nil
	})
	st = getJSON[agent.Status](t, base+"/v1/status")
	if s := st.OffsetSync[0]; len(s.Failing) != 0 || s.Error != "" {
		t.Fatalf("offset_sync after billing synced: %+v", s)
	}
	if page := render(); strings.Contains(page, "sync-failing") {
		t.Errorf("the status page still shows a failing group sync")
	}
}

// offsetMetrics scrapes the us-east → eu-west group sync series: age,
// failing (groups) and the error count per class.
func offsetMetrics(t *testing.T, base string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for name, mf := range metricFamilies(t, base+"/metrics") {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["source"] != "us-east" || labels["target"] != "eu-west" {
				continue
			}
			switch name {
			case "geomesh_offsets_sync_age_seconds":
				out["age"] = m.GetGauge().GetValue()
			case "geomesh_offsets_failing_groups":
				out["failing"] = m.GetGauge().GetValue()
			case "geomesh_offsets_sync_errors_total":
				out[labels["class"]] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}
