package acls

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/geomesh/geomesh/internal/syncbuf"
	"github.com/geomesh/geomesh/internal/testkit"
)

// TestFencerOrder: a refused marker keeps its DENY from being made, and a
// DENY that could not be deleted keeps its marker, so that no pass cut
// short leaves a DENY that geomesh does not know it made. The faults come
// from kfake; the authorizer's behaviour is proven on real Kafka in
// test/secure.
func TestFencerOrder(t *testing.T) {
	c, cl, ctx, allowW := fenceFixture(t)
	denyW := fenceDeny(allowW)
	mark := marker("shop", denyW)
	has := func() []ACL {
		t.Helper()
		all, err := describe(ctx, cl, fencedTypes)
		if err != nil {
			t.Fatal(err)
		}
		return all
	}
	// refuse makes the next request of key fail every ACL it carries.
	refuse := func(key int16) {
		c.ControlKey(key, func(req kmsg.Request) (kmsg.Response, error, bool) {
			code := kerr.ClusterAuthorizationFailed.Code
			switch req := req.(type) {
			case *kmsg.CreateACLsRequest:
				resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
				for range req.Creations {
					r := kmsg.NewCreateACLsResponseResult()
					r.ErrorCode = code
					resp.Results = append(resp.Results, r)
				}
				return resp, nil, true
			case *kmsg.DeleteACLsRequest:
				resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
				for range req.Filters {
					r := kmsg.NewDeleteACLsResponseResult()
					r.ErrorCode = code
					resp.Results = append(resp.Results, r)
				}
				return resp, nil, true
			}
			return nil, nil, false
		})
	}
	f := NewFencer(FencerConfig{Mesh: "shop", Region: "east", Cluster: cl, Selects: func(string) bool { return true }})
	f.SetFenced(true)

	refuse(int16(kmsg.CreateACLs))
	if err := f.PassOnce(ctx); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("pass with the marker refused: %v", err)
	}
	if all := has(); slices.Contains(all, denyW) || slices.Contains(all, mark) {
		t.Fatalf("marker refused, yet the cluster has %v", all)
	}
	if err := f.PassOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if all := has(); !slices.Contains(all, denyW) || !slices.Contains(all, mark) {
		t.Fatalf("fenced: the cluster has %v", all)
	}
	if st := f.Status(); !slices.Equal(st.Denies, []string{denyW.String()}) || st.Created != 1 || st.Error != "" {
		t.Errorf("status: %+v", st)
	}

	f.SetFenced(false)
	refuse(int16(kmsg.DeleteACLs))
	if err := f.PassOnce(ctx); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("pass with the delete refused: %v", err)
	}
	if all := has(); !slices.Contains(all, mark) {
		t.Fatalf("the DENY could not be deleted, yet its marker is gone: %v", all)
	}
	if err := f.PassOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if all := has(); !slices.Equal(all, []ACL{allowW}) {
		t.Errorf("unfenced: the cluster has %v, want only %v", all, allowW)
	}
	if st := f.Status(); len(st.Denies) != 0 || st.Deleted != 1 {
		t.Errorf("status: %+v", st)
	}
}

// TestFencerWrites: what a pass confirms the cluster does with the
// governed writes goes into the status and, on each change only, into
// one "write fence" log line with the times of the change; a pass that
// could not finish its side's work confirms nothing.
func TestFencerWrites(t *testing.T) {
	c, cl, ctx, _ := fenceFixture(t)
	var logs syncbuf.Buffer
	f := NewFencer(FencerConfig{Mesh: "shop", Region: "east", Cluster: cl, Selects: func(string) bool { return true },
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	lines := func() []string {
		var out []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `msg="write fence"`) {
				out = append(out, l)
			}
		}
		return out
	}
	if st := f.Status(); st.Writes != WritesUnknown {
		t.Fatalf("before a pass: writes %q", st.Writes)
	}

	c.ControlKey(int16(kmsg.CreateACLs), func(req kmsg.Request) (kmsg.Response, error, bool) {
		resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
		for range req.(*kmsg.CreateACLsRequest).Creations {
			r := kmsg.NewCreateACLsResponseResult()
			r.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			resp.Results = append(resp.Results, r)
		}
		return resp, nil, true
	})
	f.SetFenced(true)
	_ = f.PassOnce(ctx)
	if st := f.Status(); st.Writes != WritesUnknown || len(lines()) != 0 {
		t.Fatalf("a fenced pass whose DENY was refused: writes %q, lines %q", st.Writes, lines())
	}

	before := time.Now()
	if err := f.PassOnce(ctx); err != nil {
		t.Fatal(err)
	}
	st := f.Status()
	if st.Writes != WritesRefused || st.WritesSince.Before(before) {
		t.Fatalf("fenced: writes %q since %s, want refused since after %s", st.Writes, st.WritesSince, before)
	}
	if err := f.PassOnce(ctx); err != nil {
		t.Fatal(err)
	}
	f.SetFenced(false)
	if err := f.PassOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if st := f.Status(); st.Writes != WritesAccepted {
		t.Fatalf("unfenced: writes %q", st.Writes)
	}
	got := lines()
	if len(got) != 2 {
		t.Fatalf("write fence lines: %q, want one per change (refused, accepted)", got)
	}
	for i, want := range []string{"writes=refused denies=1", "writes=accepted denies=0"} {
		if !strings.Contains(got[i], "cluster=east "+want+" requested=") || !strings.Contains(got[i], " at=") {
			t.Errorf("line %d: %q, want cluster=east %s requested=… at=…", i, got[i], want)
		}
	}
	// The times parse and are in order: requested ≤ at.
	for _, l := range got {
		req, at := field(l, "requested"), field(l, "at")
		tr, err1 := time.Parse(time.RFC3339Nano, req)
		ta, err2 := time.Parse(time.RFC3339Nano, at)
		if err1 != nil || err2 != nil || ta.Before(tr) {
			t.Errorf("line %q: requested %q, at %q", l, req, at)
		}
	}
}

// field returns the value of key in a text log line.
func field(line, key string) string {
	_, v, _ := strings.Cut(line, " "+key+"=")
	v, _, _ = strings.Cut(v, " ")
	return v
}

// TestFencerLaggingView: a broker answers DescribeAcls from metadata that
// trails the change a pass just made. A pass reads back until its own
// changes show, so it reports the fence it holds and confirms what the
// cluster does with writes in the same pass, both ways.
func TestFencerLaggingView(t *testing.T) {
	c, cl, ctx, allowW := fenceFixture(t)
	// lag makes the next pass plan from the true view and then read the
	// view from before it, n times.
	lag := func(n int) {
		before, err := describe(ctx, cl, fencedTypes)
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		c.ControlKey(int16(kmsg.DescribeACLs), func(req kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			calls++
			if calls == 1 || calls > 1+n {
				return nil, nil, false
			}
			resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
			for _, a := range before {
				r := kmsg.NewDescribeACLsResponseResource()
				r.ResourceType, r.ResourceName, r.ResourcePatternType = a.ResourceType, a.Name, a.Pattern
				d := kmsg.NewDescribeACLsResponseResourceACL()
				d.Principal, d.Host, d.Operation, d.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
				r.ACLs = append(r.ACLs, d)
				resp.Resources = append(resp.Resources, r)
			}
			return resp, nil, true
		})
	}
	f := NewFencer(FencerConfig{Mesh: "shop", Region: "east", Cluster: cl, Selects: func(string) bool { return true }})

	lag(3)
	f.SetFenced(true)
	if err := f.PassOnce(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{fenceDeny(allowW).String()}
	if st := f.Status(); !slices.Equal(st.Denies, want) || st.Created != 1 || st.Writes != WritesRefused {
		t.Fatalf("fenced behind a lagging view: %+v, want denies %q, created 1, writes refused", st, want)
	}

	lag(3)
	f.SetFenced(false)
	if err := f.PassOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if st := f.Status(); len(st.Denies) != 0 || st.Deleted != 1 || st.Writes != WritesAccepted {
		t.Fatalf("unfenced behind a lagging view: %+v, want no denies, deleted 1, writes accepted", st)
	}
}

// fenceFixture is a kfake cluster whose ACLs grant User:app WRITE on
// topic orders, a client of it and a context bounding the test.
func fenceFixture(t *testing.T) (*kfake.Cluster, *kgo.Client, context.Context, ACL) {
	t.Helper()
	c := testkit.FakeCluster(t)
	cl := testkit.Client(t, kgo.SeedBrokers(c.ListenAddrs()...))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	allowW := acl(topic, literal, "orders", "User:app", kmsg.ACLOperationWrite, allow)
	if _, err := (cluster{region: "east", cl: cl}).create(ctx, []ACL{allowW}); err != nil {
		t.Fatal(err)
	}
	return c, cl, ctx, allowW
}
