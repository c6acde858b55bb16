package topics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testFlow is the flow of an active-active mesh from us-east to eu-west
// with prefix naming: source "orders" becomes "us-east.orders".
func testFlow() topology.Flow {
	return topology.Flow{
		Source: "us-east", Target: "eu-west", Kind: "replicate",
		Topics:  topology.MustSelection([]string{"orders.*", "payments"}, nil),
		Naming:  topology.NamingPrefix,
		Regions: []string{"us-east", "eu-west"},
	}
}

type fakePair struct {
	src, tgt       *kfake.Cluster
	srcCl, tgtCl   *kgo.Client
	srcAdm, tgtAdm *kadm.Client
}

func newFakePair(t *testing.T, srcBrokers, tgtBrokers int) *fakePair {
	t.Helper()
	p := &fakePair{src: testkit.FakeCluster(t, kfake.NumBrokers(srcBrokers)), tgt: testkit.FakeCluster(t, kfake.NumBrokers(tgtBrokers))}
	p.srcCl = testkit.Client(t, kgo.SeedBrokers(p.src.ListenAddrs()...))
	p.tgtCl = testkit.Client(t, kgo.SeedBrokers(p.tgt.ListenAddrs()...))
	p.srcAdm, p.tgtAdm = kadm.NewClient(p.srcCl), kadm.NewClient(p.tgtCl)
	return p
}

func (p *fakePair) syncer(cfg Config) *Syncer {
	if cfg.Flow == nil {
		cfg.Flow = testFlow()
	}
	cfg.Source, cfg.Target = p.srcCl, p.tgtCl
	cfg.SourceName, cfg.TargetName = "us-east", "eu-west"
	return New(cfg)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// createTopic is testkit.CreateTopic with the configs as the tests here
// write them and compare them (describeTopic).
func createTopic(t *testing.T, adm *kadm.Client, name string, parts int32, rf int16, cfg map[string]string) {
	t.Helper()
	m := make(map[string]*string)
	for k, v := range cfg {
		m[k] = kadm.StringPtr(v)
	}
	testkit.CreateTopic(t, adm, parts, rf, m, name)
}

// topicShape is what a test asserts of a topic.
type topicShape struct {
	exists     bool
	partitions int
	rf         int
	explicit   map[string]string // dynamic topic configs
}

// targetExists is nil once topic exists in adm's cluster.
func targetExists(t *testing.T, adm *kadm.Client, topic string) func() error {
	return func() error {
		if !describeTopic(t, adm, topic).exists {
			return fmt.Errorf("%s not on the target", topic)
		}
		return nil
	}
}

// passesFrom is nil once s has made n passes.
func passesFrom(s *Syncer, n uint64) func() error {
	return func() error {
		if got := s.Status().Passes; got < n {
			return fmt.Errorf("%d passes, want %d", got, n)
		}
		return nil
	}
}

func describeTopic(t *testing.T, adm *kadm.Client, name string) topicShape {
	t.Helper()
	ctx := ctxT(t)
	tds, err := adm.ListTopics(kadm.WithAuthorizedOps(ctx), name) // uncached, as a pass lists (list.go)
	if err != nil {
		t.Fatal(err)
	}
	td, ok := tds[name]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return topicShape{}
	}
	var s topicShape
	s.exists = true
	s.partitions = len(td.Partitions)
	for _, p := range td.Partitions {
		s.rf = max(s.rf, len(p.Replicas))
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	s.explicit = make(map[string]string)
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
				s.explicit[c.Key] = *c.Value
			}
		}
	}
	return s
}

func syncOK(t *testing.T, s *Syncer) Report {
	t.Helper()
	r, err := s.SyncOnce(ctxT(t))
	if err != nil {
		t.Fatalf("SyncOnce: %v", err)
	}
	return r
}

func assertConfigs(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("config %s = %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected config %s = %q", k, got[k])
		}
	}
}

func TestCreateCopiesShapeAndFilteredConfigs(t *testing.T) {
	p := newFakePair(t, 3, 1)
	createTopic(t, p.srcAdm, "orders", 6, 3, map[string]string{
		"retention.ms":        "3600000",
		"cleanup.policy":      "compact",
		"segment.bytes":       "2097152",
		"min.insync.replicas": "2",
		"follower.replication.throttled.replicas": "*",
		"leader.replication.throttled.replicas":   "*",
		"message.timestamp.type":                  "LogAppendTime",
		"unclean.leader.election.enable":          "true",
		"confluent.placement.constraints":         "{}",
		"remote.storage.enable":                   "true",
		"local.retention.ms":                      "1000",
	})
	createTopic(t, p.srcAdm, "audit", 1, 1, nil) // not selected

	r := syncOK(t, p.syncer(Config{}))

	if len(r.Created) != 1 || r.Created[0].Target != "us-east.orders" {
		t.Fatalf("created %+v, want us-east.orders only", r.Created)
	}
	got := describeTopic(t, p.tgtAdm, "us-east.orders")
	if got.partitions != 6 {
		t.Errorf("partitions = %d, want 6", got.partitions)
	}
	if got.rf != 1 {
		t.Errorf("replication factor = %d, want 1 (min of source 3, target brokers 1)", got.rf)
	}
	assertConfigs(t, got.explicit, map[string]string{
		"retention.ms":        "3600000",
		"cleanup.policy":      "compact",
		"segment.bytes":       "2097152",
		"min.insync.replicas": "1", // min(source 2, target RF 1)
	})
	if describeTopic(t, p.tgtAdm, "us-east.audit").exists {
		t.Error("unselected topic audit was copied")
	}

	// A second pass finds nothing to do: no config flapping.
	r = syncOK(t, p.syncer(Config{}))
	if r.Changed() {
		t.Errorf("second pass of a fresh syncer changed %+v", r)
	}
}

func TestConfiguredReplicationFactorAndExclusions(t *testing.T) {
	p := newFakePair(t, 1, 3)
	createTopic(t, p.srcAdm, "payments", 2, 1, map[string]string{"retention.ms": "1000", "max.message.bytes": "2000000"})
	syncOK(t, p.syncer(Config{ReplicationFactor: 3, ExcludeConfigs: []string{"max.message.*"}}))
	got := describeTopic(t, p.tgtAdm, "us-east.payments")
	if got.rf != 3 {
		t.Errorf("replication factor = %d, want configured 3", got.rf)
	}
	assertConfigs(t, got.explicit, map[string]string{"retention.ms": "1000", "min.insync.replicas": "1"})
}

func TestPartitionsAndConfigChangesFollow(t *testing.T) {
	p := newFakePair(t, 1, 1)
	createTopic(t, p.srcAdm, "orders", 2, 1, map[string]string{"retention.ms": "1000", "segment.ms": "60000"})
	s := p.syncer(Config{})
	syncOK(t, s)

	ctx := ctxT(t)
	if _, err := p.srcAdm.UpdatePartitions(ctx, 5, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.srcAdm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("2000")},
		{Op: kadm.DeleteConfig, Name: "segment.ms"},
		{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact,delete")},
		{Op: kadm.SetConfig, Name: "message.timestamp.type", Value: kadm.StringPtr("LogAppendTime")},
	}, "orders"); err != nil {
		t.Fatal(err)
	}

	r := syncOK(t, s)
	if len(r.Grown) != 1 || r.Grown[0] != (Grown{Topic: "us-east.orders", From: 2, To: 5}) {
		t.Errorf("grown = %+v", r.Grown)
	}
	if len(r.Configs) != 3 {
		t.Errorf("config changes = %s, want 3", fmtChanges(r.Configs))
	}
	got := describeTopic(t, p.tgtAdm, "us-east.orders")
	if got.partitions != 5 {
		t.Errorf("partitions = %d, want 5", got.partitions)
	}
	assertConfigs(t, got.explicit, map[string]string{
		"retention.ms":        "2000",
		"cleanup.policy":      "compact,delete",
		"min.insync.replicas": "1",
	})
	st := s.Status().Topics["us-east.orders"]
	if st.Partitions != 5 || !st.Owned || st.LastError != "" || st.LastSync.IsZero() {
		t.Errorf("status = %+v", st)
	}
}

func TestTargetSurplusPartitionsReported(t *testing.T) {
	p := newFakePair(t, 1, 1)
	createTopic(t, p.srcAdm, "orders", 2, 1, nil)
	createTopic(t, p.tgtAdm, "us-east.orders", 4, 1, nil)
	r := syncOK(t, p.syncer(Config{}))
	if len(r.Surplus) != 1 || r.Surplus[0] != (Surplus{Topic: "us-east.orders", SourcePartitions: 2, TargetPartitions: 4}) {
		t.Errorf("surplus = %+v", r.Surplus)
	}
}

func TestGrowFailureNamesClusterAndTopic(t *testing.T) {
	p := newFakePair(t, 1, 1)
	createTopic(t, p.srcAdm, "orders", 3, 1, nil)
	createTopic(t, p.tgtAdm, "us-east.orders", 1, 1, nil)
	p.tgt.ControlKey(int16(kmsg.CreatePartitions), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.CreatePartitionsRequest)
		resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewCreatePartitionsResponseTopic()
			st.Topic = rt.Topic
			st.ErrorCode = kerr.PolicyViolation.Code
			msg := "partition count is frozen"
			st.ErrorMessage = &msg
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	s := p.syncer(Config{})
	_, err := s.SyncOnce(ctxT(t))
	want := "cluster eu-west topic us-east.orders: grow partitions 1 -> 3: POLICY_VIOLATION"
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, kerr.PolicyViolation) {
		t.Fatalf("err = %v, want it to contain %q and wrap POLICY_VIOLATION", err, want)
	}
	if st := s.Status(); st.Topics["us-east.orders"].LastError == "" || st.ErrorsTotal != 1 {
		t.Errorf("status does not record the error: %+v", st)
	}
	// The control answered once; the next pass grows the topic and
	// clears the error.
	syncOK(t, s)
	if got := describeTopic(t, p.tgtAdm, "us-east.orders").partitions; got != 3 {
		t.Errorf("partitions after retry = %d, want 3", got)
	}
	if st := s.Status().Topics["us-east.orders"]; st.LastError != "" {
		t.Errorf("error not cleared: %q", st.LastError)
	}
}

func TestTransientErrorsRetried(t *testing.T) {
	p := newFakePair(t, 1, 1)
	createTopic(t, p.srcAdm, "orders", 1, 1, nil)
	// The first CreateTopics on the target times out broker-side.
	p.tgt.ControlKey(int16(kmsg.CreateTopics), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.CreateTopicsRequest)
		resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic = rt.Topic
			st.ErrorCode = kerr.RequestTimedOut.Code
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	s := p.syncer(Config{Interval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	poll.Until(t, 5*time.Second, targetExists(t, p.tgtAdm, "us-east.orders"))
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
	if st := s.Status(); st.ErrorsTotal < 1 || st.Passes < 2 {
		t.Errorf("status = %+v, want the failed pass counted", st)
	}
}

func TestRejectedConfigDoesNotBlockOthers(t *testing.T) {
	p := newFakePair(t, 1, 1)
	createTopic(t, p.srcAdm, "orders", 1, 1, map[string]string{"retention.ms": "1000", "segment.bytes": "100"})
	// The target rejects segment.bytes=100 (Kafka 4 requires 1 MiB), in
	// creation and in alters.
	rejects := func(kreq kmsg.Request) bool {
		switch req := kreq.(type) {
		case *kmsg.CreateTopicsRequest:
			for _, rt := range req.Topics {
				for _, c := range rt.Configs {
					if c.Name == "segment.bytes" {
						return true
					}
				}
			}
		case *kmsg.IncrementalAlterConfigsRequest:
			for _, rr := range req.Resources {
				for _, c := range rr.Configs {
					if c.Name == "segment.bytes" {
						return true
					}
				}
			}
		}
		return false
	}
	control := func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		p.tgt.KeepControl()
		if !rejects(kreq) {
			return nil, nil, false
		}
		switch req := kreq.(type) {
		case *kmsg.CreateTopicsRequest:
			resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
			for _, rt := range req.Topics {
				st := kmsg.NewCreateTopicsResponseTopic()
				st.Topic = rt.Topic
				st.ErrorCode = kerr.InvalidConfig.Code
				resp.Topics = append(resp.Topics, st)
			}
			return resp, nil, true
		case *kmsg.IncrementalAlterConfigsRequest:
			resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
			for _, rr := range req.Resources {
				st := kmsg.NewIncrementalAlterConfigsResponseResource()
				st.ResourceName, st.ResourceType = rr.ResourceName, rr.ResourceType
				st.ErrorCode = kerr.InvalidConfig.Code
				resp.Resources = append(resp.Resources, st)
			}
			return resp, nil, true
		}
		return nil, nil, false
	}
	p.tgt.ControlKey(int16(kmsg.CreateTopics), control)
	p.tgt.ControlKey(int16(kmsg.IncrementalAlterConfigs), control)

	s := p.syncer(Config{})
	r, err := s.SyncOnce(ctxT(t))
	if err == nil || len(r.Created) != 1 {
		t.Fatalf("pass 1: created %+v, err %v; want topic created despite the rejected config", r.Created, err)
	}
	r, err = s.SyncOnce(ctxT(t))
	want := "cluster eu-west topic us-east.orders: set config segment.bytes=100: INVALID_CONFIG"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("pass 2 err = %v, want %q", err, want)
	}
	assertConfigs(t, describeTopic(t, p.tgtAdm, "us-east.orders").explicit, map[string]string{
		"retention.ms":        "1000",
		"min.insync.replicas": "1",
	})
}

func TestDeletePolicyOffKeepsTarget(t *testing.T) {
	p := newFakePair(t, 1, 1)
	createTopic(t, p.srcAdm, "orders", 1, 1, nil)
	s := p.syncer(Config{})
	syncOK(t, s)
	if _, err := p.srcAdm.DeleteTopic(ctxT(t), "orders"); err != nil {
		t.Fatal(err)
	}
	var r Report
	for range 3 {
		r = syncOK(t, s)
	}
	if !describeTopic(t, p.tgtAdm, "us-east.orders").exists {
		t.Fatal("target topic deleted under policy off")
	}
	want := Orphan{Source: "orders", Target: "us-east.orders", MissingPasses: 3, Owned: true}
	if len(r.Orphaned) != 1 || r.Orphaned[0] != want {
		t.Errorf("orphaned = %+v, want %+v", r.Orphaned, want)
	}
}

func TestDeletePolicyFollow(t *testing.T) {
	p := newFakePair(t, 1, 1)
	createTopic(t, p.srcAdm, "orders", 1, 1, nil)
	createTopic(t, p.srcAdm, "payments", 1, 1, nil)
	// us-east.payments exists before geomesh: not ours to delete.
	createTopic(t, p.tgtAdm, "us-east.payments", 1, 1, nil)
	s := p.syncer(Config{DeletePolicy: DeleteFollow})
	syncOK(t, s)
	ctx := ctxT(t)
	if _, err := p.srcAdm.DeleteTopics(ctx, "orders", "payments"); err != nil {
		t.Fatal(err)
	}

	r := syncOK(t, s)
	if len(r.Deleted) != 0 || !describeTopic(t, p.tgtAdm, "us-east.orders").exists {
		t.Fatalf("deleted after one pass without source: %v", r.Deleted)
	}
	r = syncOK(t, s)
	if len(r.Deleted) != 1 || r.Deleted[0] != "us-east.orders" {
		t.Fatalf("deleted = %v, want [us-east.orders]", r.Deleted)
	}
	if describeTopic(t, p.tgtAdm, "us-east.orders").exists {
		t.Error("us-east.orders still exists on the target")
	}
	if !describeTopic(t, p.tgtAdm, "us-east.payments").exists {
		t.Error("us-east.payments, not created by geomesh, was deleted")
	}
	if len(r.Orphaned) != 1 || r.Orphaned[0].Target != "us-east.payments" || r.Orphaned[0].Owned {
		t.Errorf("orphaned = %+v, want us-east.payments not owned", r.Orphaned)
	}
}

func TestSourceBackBeforeSecondPassIsNotDeleted(t *testing.T) {
	p := newFakePair(t, 1, 1)
	createTopic(t, p.srcAdm, "orders", 1, 1, nil)
	s := p.syncer(Config{DeletePolicy: DeleteFollow})
	syncOK(t, s)
	if _, err := p.srcAdm.DeleteTopic(ctxT(t), "orders"); err != nil {
		t.Fatal(err)
	}
	syncOK(t, s)
	createTopic(t, p.srcAdm, "orders", 1, 1, nil)
	syncOK(t, s)
	if _, err := p.srcAdm.DeleteTopic(ctxT(t), "orders"); err != nil {
		t.Fatal(err)
	}
	if r := syncOK(t, s); len(r.Deleted) != 0 {
		t.Errorf("deleted %v although the source was missing in one pass only since it returned", r.Deleted)
	}
}

func TestSourceUnreachableIsClusterError(t *testing.T) {
	p := newFakePair(t, 1, 1)
	s := p.syncer(Config{})
	p.src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := s.SyncOnce(ctx)
	var ce *ClusterError
	if !errors.As(err, &ce) || ce.Cluster != "us-east" || !strings.HasPrefix(err.Error(), "cluster us-east: list topics: ") {
		t.Fatalf("err = %v, want a ClusterError naming us-east", err)
	}
}

func TestInvalidConfigReturnedByRun(t *testing.T) {
	err := New(Config{}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "flow is required") {
		t.Fatalf("Run with empty config = %v", err)
	}
}

// TestCreateBatchesTopicsOfOneShape: a first pass over many topics sends
// one CreateTopics request per shape and config.
func TestCreateBatchesTopicsOfOneShape(t *testing.T) {
	p := newFakePair(t, 1, 1)
	const odd = "orders.07"
	for i := range 60 {
		var cfg map[string]string
		name := fmt.Sprintf("orders.%02d", i)
		if name == odd {
			cfg = map[string]string{"retention.ms": "1000"}
		}
		createTopic(t, p.srcAdm, name, int32(1+i%2), 1, cfg)
	}
	// Six topics of 1,000 partitions are more than Kafka takes in one
	// request.
	for i := range 6 {
		createTopic(t, p.srcAdm, fmt.Sprintf("orders.big%d", i), 1000, 1, nil)
	}
	var requests, tooLarge atomic.Int32
	p.tgt.ControlKey(int16(kmsg.CreateTopics), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		p.tgt.KeepControl()
		requests.Add(1)
		n := 0
		for _, rt := range kreq.(*kmsg.CreateTopicsRequest).Topics {
			n += 1 + int(rt.NumPartitions) + len(rt.Configs)
		}
		if n > maxRecordsPerCreate {
			tooLarge.Add(1)
		}
		return nil, nil, false
	})
	r := syncOK(t, p.syncer(Config{}))
	// 1 and 2 partitions without configs, orders.07 with its own, and the
	// big ones in two requests (4 and 2 topics).
	if n := requests.Load(); n != 5 {
		t.Errorf("CreateTopics requests = %d, want 5", n)
	}
	if n := tooLarge.Load(); n > 0 {
		t.Errorf("%d CreateTopics requests carried more than %d records", n, maxRecordsPerCreate)
	}
	if len(r.Created) != 66 {
		t.Errorf("created %d topics, want 66", len(r.Created))
	}
	for i := range 60 {
		name := fmt.Sprintf("us-east.orders.%02d", i)
		if d := describeTopic(t, p.tgtAdm, name); !d.exists || d.partitions != 1+i%2 {
			t.Errorf("%s: %+v, want %d partitions", name, d, 1+i%2)
		}
	}
	assertConfigs(t, describeTopic(t, p.tgtAdm, "us-east."+odd).explicit, map[string]string{
		"retention.ms":        "1000",
		"min.insync.replicas": "1",
	})
}

// TestSettledPassesSkipTheTarget: while the source's topics stay as they
// were at a pass that found nothing to do, Run's passes between full ones
// send the target no metadata request; a new source topic still reaches
// the target at the next pass.
func TestSettledPassesSkipTheTarget(t *testing.T) {
	p := newFakePair(t, 1, 1)
	createTopic(t, p.srcAdm, "orders", 2, 1, nil)
	var metadata atomic.Int32
	p.tgt.ControlKey(int16(kmsg.Metadata), func(kmsg.Request) (kmsg.Response, error, bool) {
		p.tgt.KeepControl()
		metadata.Add(1)
		return nil, nil, false
	})
	s := p.syncer(Config{Interval: 20 * time.Millisecond, ConfigInterval: time.Hour})
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	poll.Until(t, 5*time.Second, targetExists(t, p.tgtAdm, "us-east.orders"))
	// The pass after the creation finds the target in line and settles.
	poll.Until(t, 5*time.Second, passesFrom(s, 3))
	before, passes := metadata.Load(), s.Status().Passes
	poll.Until(t, 5*time.Second, passesFrom(s, passes+10))
	// describeTopic's own requests are not made in this window.
	if n := metadata.Load() - before; n != 0 {
		t.Errorf("%d metadata requests to the target in 10 settled passes, want 0", n)
	}
	createTopic(t, p.srcAdm, "orders.new", 3, 1, nil)
	took := poll.Until(t, 5*time.Second, func() error {
		if n := describeTopic(t, p.tgtAdm, "us-east.orders.new").partitions; n != 3 {
			return fmt.Errorf("us-east.orders.new on the target has %d partitions, want 3", n)
		}
		return nil
	})
	t.Logf("new topic on the target %v after its creation, with settled passes before", took)
}
