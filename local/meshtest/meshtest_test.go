package meshtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/local/meshtest"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReplicates runs the active-passive example and sees a record written
// in the primary arrive in the standby. Two meshes of the same file run at
// once, which the free ports allow.
func TestReplicates(t *testing.T) {
	for range 2 {
		t.Run("mesh", func(t *testing.T) {
			t.Parallel()
			const file = "../../configs/examples/active-passive.yaml"
			m, err := topology.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			mesh := meshtest.Start(t, file)
			if got, fixed := mesh.Bootstrap("us-east")[0], m.Regions[0].Kafka.Bootstrap[0]; got == fixed {
				t.Fatalf("the embedded cluster kept the file's fixed port %s", fixed)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			prod := mesh.Client(t, "us-east", kgo.DefaultProduceTopic("orders"))
			testkit.CreateTopic(t, kadm.NewClient(prod), 1, 1, nil, "orders")
			if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("hello")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			cons := mesh.Client(t, "eu-west", kgo.ConsumeTopics("orders"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100*time.Millisecond))
			for {
				fs := cons.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatalf("no copy arrived: %v", err)
				}
				if rs := fs.Records(); len(rs) > 0 {
					if string(rs[0].Value) != "hello" || len(rs) != 1 {
						t.Fatalf("unexpected copies %v", rs)
					}
					return
				}
			}
		})
	}
}

func TestRejectsBadInput(t *testing.T) {
	m, err := topology.Load("../../configs/examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m.Regions[0].Kafka.Embedded = false
	for name, start := range map[string]func(testing.TB){
		"missing file":        func(tb testing.TB) { meshtest.Start(tb, "testdata/none.yaml") },
		"region not embedded": func(tb testing.TB) { meshtest.StartMesh(tb, m) },
	} {
		r := testkit.NewRecorder(t, t.Context())
		r.Run(start)
		if !strings.Contains(r.Failure(), "meshtest: ") {
			t.Errorf("%s: Start did not refuse it (%q)", name, r.Failure())
		}
	}
}
