package plane

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror/stranded"
	"github.com/geomesh/geomesh/topology"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testPlane is region's plane in the mesh file, with a fake host.
func testPlane(t *testing.T, file, region string) (*Plane, *fakeHost) {
	t.Helper()
	m, err := topology.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	h := newFakeHost(region)
	p, err := New(Config{Mesh: m, Region: region, Agent: region + "-1", Logger: testkit.Logger(t, slog.LevelInfo)}, h)
	if err != nil {
		t.Fatal(err)
	}
	return p, h
}

// TestStrandedFlow: the flow whose progress tells what the new writer
// lacks is the one from this region to it under the old roles.
func TestStrandedFlow(t *testing.T) {
	for _, tc := range []struct {
		file, region, target string
		ok                   bool
		kind                 string
	}{
		{"active-passive.yaml", "us-east", "eu-west", true, topology.FlowReplicate},
		{"active-passive.yaml", "us-east", "us-east", false, ""},
		{"active-passive.yaml", "us-east", "", false, ""},
		{"hub-spoke.yaml", "central", "central-2", true, topology.FlowStandby},
	} {
		d, _ := testPlane(t, "../../configs/examples/"+tc.file, tc.region)
		f, ok := d.strandedFlow(tc.target)
		if ok != tc.ok || (ok && (f.Source != tc.region || f.Target != tc.target || f.Kind != tc.kind)) {
			t.Errorf("%s: strandedFlow(%s) from %s = %s→%s %s, %v; want %s", tc.file, tc.target, tc.region, f.Source, f.Target, f.Kind, ok, tc.kind)
		}
	}
}

// TestSettleRetries: a settlement that cannot reach the new primary is
// retried, never reported done, and its status names the error.
func TestSettleRetries(t *testing.T) {
	d, _ := testPlane(t, "../../configs/examples/active-passive.yaml", "us-east")
	f, _ := d.strandedFlow("eu-west")
	nowhere := testkit.ClientFactory(kgo.SeedBrokers(testkit.RefusedAddr(t)), kgo.RetryTimeout(500*time.Millisecond))
	d.setStranded(func(s *api.StrandedStatus) {
		*s = api.StrandedStatus{Policy: topology.StrandedQuarantine, State: "settling"}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
	defer cancel()
	n := d.runSettle(ctx, stranded.Config{Mesh: "shop", Flow: f, Policy: topology.StrandedQuarantine, Source: nowhere, Target: nowhere})
	st := d.Status().Stranded
	if n != 0 || st == nil || st.State != "retrying" || st.Attempts < 2 || !strings.Contains(st.Error, "cluster eu-west") {
		t.Errorf("runSettle = %d, status %+v; want retrying after 2+ attempts with an error naming cluster eu-west", n, st)
	}
	var m dto.Metric
	if err := d.met.strandedRecords.WithLabelValues("quarantine").Write(&m); err != nil || m.GetCounter().GetValue() != 0 {
		t.Errorf("stranded records counted: %v, %v", m.GetCounter().GetValue(), err)
	}
}
