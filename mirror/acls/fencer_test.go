package acls

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFencerOrder: a refused marker keeps its DENY from being made, and a
// DENY that could not be deleted keeps its marker, so that no pass cut
// short leaves a DENY that geomesh does not know it made. The faults come
// from kfake; the authorizer's behaviour is proven on real Kafka in
// test/secure.
func TestFencerOrder(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	kc := cluster{region: "east", cl: cl}
	allowW := acl(topic, literal, "orders", "User:app", kmsg.ACLOperationWrite, allow)
	denyW := fenceDeny(allowW)
	mark := marker("shop", denyW)
	if _, err := kc.create(ctx, []ACL{allowW}); err != nil {
		t.Fatal(err)
	}
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
