package quorum

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/failover/machine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Key is the key-value key that holds the mesh state.
const Key = "mesh"

// Errors of CompareAndSet. Both leave the stored state unchanged as far
// as this caller knows.
var (
	// ErrConflict: the stored revision is no longer the expected one;
	// another proposal won.
	ErrConflict = errors.New("revision conflict")
	// ErrNoQuorum: the control plane did not confirm the write in time,
	// because no majority of its nodes is reachable from here (or the
	// answer was lost). The caller must treat the control plane as
	// unreachable. Rarely a write is applied and only its answer lost: the
	// Watch then delivers it.
	ErrNoQuorum = errors.New("no control-plane quorum")
)

// Store is the mesh state in a JetStream key-value bucket, and the event
// and view subjects. Safe for concurrent use.
type Store struct {
	node   *Node
	nc     *nats.Conn
	kv     jetstream.KeyValue
	bucket string
}

// Bucket returns the bucket name of a mesh.
func Bucket(mesh string) string { return "geomesh-" + mesh }

// EventsSubject returns the subject decisions are announced on.
func EventsSubject(mesh string) string { return "geomesh." + mesh + ".events" }

// ViewsSubject returns the subject agents share their health views on.
func ViewsSubject(mesh string) string { return "geomesh." + mesh + ".views" }

// Open creates or binds the mesh's bucket (Replicas copies, one value
// kept per key) and returns the store. It retries until ctx ends, because
// a node that has just started waits for its JetStream cluster to elect a
// meta leader, which takes a majority of the nodes.
func (n *Node) Open(ctx context.Context) (*Store, error) {
	nc := n.Conn()
	if nc == nil {
		return nil, errors.New("quorum: open: node not started")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("quorum: open: %w", err)
	}
	bucket := Bucket(n.cfg.Mesh)
	cfg := jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "geomesh mesh state: epoch and roles",
		History:     1,
		Replicas:    n.cfg.Replicas,
		Storage:     jetstream.FileStorage,
	}
	var last error
	for {
		rctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
		kv, err := js.CreateOrUpdateKeyValue(rctx, cfg)
		cancel()
		if err == nil {
			return &Store{node: n, nc: nc, kv: kv, bucket: bucket}, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("quorum: open bucket %s (replicas %d): %w (last error: %v)", bucket, n.cfg.Replicas, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Load returns the stored state and its revision; nil and 0 if none is
// stored yet. It asks the bucket stream's leader, not the nearest
// replica (as a key-value Get would): a replica on the minority side of a
// partition serves old values, and an agent that comes back from one must
// not take its old role for current. Call Check first after a
// reconnection, so that the leader answering is one with a majority.
func (s *Store) Load(ctx context.Context) (*api.State, uint64, error) {
	st, rev, err := s.load(ctx)
	if err != nil {
		return nil, 0, s.node.errs.failed(ctx, OpLoad, err)
	}
	s.node.errs.ok(OpLoad)
	return st, rev, nil
}

func (s *Store) load(ctx context.Context) (*api.State, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.node.cfg.Timeout)
	defer cancel()
	req, _ := json.Marshal(map[string]string{"last_by_subj": "$KV." + s.bucket + "." + Key})
	msg, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+s.bucket, req)
	if err != nil {
		return nil, 0, fmt.Errorf("quorum: load %s/%s: %w: %w", s.bucket, Key, ErrNoQuorum, err)
	}
	var resp struct {
		Error *struct {
			Code    int    `json:"code"`
			ErrCode int    `json:"err_code"`
			Desc    string `json:"description"`
		} `json:"error"`
		Message *struct {
			Seq  uint64 `json:"seq"`
			Data []byte `json:"data"`
			Hdrs []byte `json:"hdrs"`
		} `json:"message"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, 0, fmt.Errorf("quorum: load %s/%s: bad answer: %w", s.bucket, Key, err)
	}
	switch {
	case resp.Error != nil && resp.Error.Code == 404:
		return nil, 0, nil
	case resp.Error != nil:
		return nil, 0, fmt.Errorf("quorum: load %s/%s: %w: %s (%d)", s.bucket, Key, ErrNoQuorum, resp.Error.Desc, resp.Error.ErrCode)
	case resp.Message == nil:
		return nil, 0, fmt.Errorf("quorum: load %s/%s: empty answer", s.bucket, Key)
	case bytes.Contains(resp.Message.Hdrs, []byte("KV-Operation")):
		// A delete or purge marker: nothing stored.
		return nil, 0, nil
	}
	st, err := decode(resp.Message.Data)
	if err != nil {
		return nil, 0, fmt.Errorf("quorum: load %s/%s revision %d: %w", s.bucket, Key, resp.Message.Seq, err)
	}
	return st, resp.Message.Seq, nil
}

// CompareAndSet writes st if the stored revision is still expected (0:
// nothing stored yet) and returns the new revision. A failover is exactly
// such a write of epoch N+1 over the revision that held epoch N. It fails
// with ErrConflict if another write came first, ErrNoQuorum if no
// majority confirmed it in time.
func (s *Store) CompareAndSet(ctx context.Context, expected uint64, st api.State) (uint64, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return 0, fmt.Errorf("quorum: encode epoch %d: %w", st.Epoch, err)
	}
	rctx, cancel := context.WithTimeout(ctx, s.node.cfg.Timeout)
	defer cancel()
	var rev uint64
	if expected == 0 {
		rev, err = s.kv.Create(rctx, Key, data)
	} else {
		rev, err = s.kv.Update(rctx, Key, data, expected)
	}
	switch {
	case err == nil:
		s.node.errs.ok(OpPropose)
		return rev, nil
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		// Another proposal won: the store works.
		s.node.errs.ok(OpPropose)
		return 0, fmt.Errorf("quorum: set epoch %d over revision %d: %w", st.Epoch, expected, ErrConflict)
	default:
		return 0, s.node.errs.failed(ctx, OpPropose, fmt.Errorf("quorum: set epoch %d over revision %d: %w: %w", st.Epoch, expected, ErrNoQuorum, err))
	}
}

// Propose carries out a machine's Propose action and returns the input to
// feed back: OK, a conflict with the winner's state, or no quorum.
func (s *Store) Propose(ctx context.Context, p machine.Propose) machine.ProposalResult {
	rev, err := s.CompareAndSet(ctx, p.Revision, p.State)
	switch {
	case err == nil:
		return machine.ProposalResult{OK: true, Revision: rev}
	case errors.Is(err, ErrConflict):
		cur, crev, lerr := s.Load(ctx)
		if lerr != nil || crev <= p.Revision {
			// No newer state to adopt: a leader without a majority
			// refused on account of a write it could not commit.
			return machine.ProposalResult{NoQuorum: true}
		}
		return machine.ProposalResult{Current: cur, Revision: crev}
	default:
		return machine.ProposalResult{NoQuorum: true}
	}
}

// Check reports whether the control plane can decide, by a write that
// needs a majority: this node's key check.<name> is set to the time. A
// stream leader that lost its majority still answers reads (and reports
// itself leader) until its election timeout, so only a write tells. One
// small write per call; call it every probe interval or so. An error
// means unreachable, for machine.ControlPlane.
func (s *Store) Check(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, s.node.cfg.Timeout)
	defer cancel()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if _, err := s.kv.Put(rctx, "check."+s.node.cfg.Name, []byte(now)); err != nil {
		return s.node.errs.failed(ctx, OpCheck, fmt.Errorf("quorum: check %s: %w: %w", s.bucket, ErrNoQuorum, err))
	}
	s.node.errs.ok(OpCheck)
	return nil
}

// Leader returns the name of the node leading the bucket's stream, "" if
// none (or the answer did not come).
func (s *Store) Leader(ctx context.Context) string {
	leader, _ := s.Replicas(ctx)
	return leader
}

// Replicas returns the name of the node leading the bucket's stream and
// the names of the other replicas that are not current: behind the
// leader's log, or not heard from lately. Until they catch up a write
// needs the current ones alone, so the majority may hang on one node
// less than it seems. "" and nil if the answer did not come.
func (s *Store) Replicas(ctx context.Context) (leader string, behind []string) {
	rctx, cancel := context.WithTimeout(ctx, s.node.cfg.Timeout)
	defer cancel()
	st, err := s.kv.Status(rctx)
	if err != nil {
		_ = s.node.errs.failed(ctx, OpStatus, fmt.Errorf("quorum: status of %s: %w", s.bucket, err))
		return "", nil
	}
	s.node.errs.ok(OpStatus)
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo().Cluster == nil {
		return "", nil
	}
	c := bs.StreamInfo().Cluster
	for _, r := range c.Replicas {
		if !r.Current {
			behind = append(behind, r.Name)
		}
	}
	return c.Leader, behind
}

// Watch sends the stored state now (nil and 0 if none) and after every
// change, until ctx ends; then it closes the channel. The watcher
// survives reconnects. Values are StateChanged inputs for the machine.
func (s *Store) Watch(ctx context.Context) (<-chan machine.StateChanged, error) {
	w, err := s.kv.Watch(ctx, Key)
	if err != nil {
		return nil, s.node.errs.failed(ctx, OpSubscribe, fmt.Errorf("quorum: watch %s/%s: %w", s.bucket, Key, err))
	}
	out := make(chan machine.StateChanged, 1)
	go func() {
		defer close(out)
		defer func() { _ = w.Stop() }()
		initial := true
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				var sc machine.StateChanged
				switch {
				case e == nil && initial:
					// End of the initial values, and there were none.
					sc = machine.StateChanged{}
				case e == nil:
					continue
				case e.Operation() != jetstream.KeyValuePut:
					sc = machine.StateChanged{Revision: e.Revision()}
				default:
					st, err := decode(e.Value())
					if err != nil {
						continue // a value no agent of this version wrote
					}
					sc = machine.StateChanged{State: st, Revision: e.Revision()}
				}
				initial = false
				select {
				case out <- sc:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// PublishEvent announces a decision on geomesh.<mesh>.events as JSON.
func (s *Store) PublishEvent(ev api.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("quorum: encode event epoch %d: %w", ev.Epoch, err)
	}
	if err := s.nc.Publish(EventsSubject(s.node.cfg.Mesh), data); err != nil {
		return s.node.errs.failed(context.Background(), OpPublish, fmt.Errorf("quorum: publish event epoch %d: %w", ev.Epoch, err))
	}
	s.node.errs.ok(OpPublish)
	return nil
}

// SubscribeEvents calls f with every event published from now on, from
// one goroutine at a time, until the returned function is called.
func (s *Store) SubscribeEvents(f func(api.Event)) (func(), error) {
	sub, err := s.nc.Subscribe(EventsSubject(s.node.cfg.Mesh), func(m *nats.Msg) {
		var ev api.Event
		if json.Unmarshal(m.Data, &ev) == nil {
			f(ev)
		}
	})
	if err != nil {
		return nil, s.node.errs.failed(context.Background(), OpSubscribe, fmt.Errorf("quorum: subscribe events: %w", err))
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// PublishViews shares this agent's views of every region. Views travel on
// plain NATS subjects, not in the key-value: they are refreshed every
// probe interval and worthless when old, and a region cut off from the
// majority must not be heard by it, which is what plain routing gives.
func (s *Store) PublishViews(views []machine.View) error {
	data, err := json.Marshal(views)
	if err != nil {
		return fmt.Errorf("quorum: encode views: %w", err)
	}
	if err := s.nc.Publish(ViewsSubject(s.node.cfg.Mesh), data); err != nil {
		return s.node.errs.failed(context.Background(), OpPublish, fmt.Errorf("quorum: publish views: %w", err))
	}
	s.node.errs.ok(OpPublish)
	return nil
}

// SubscribeViews calls f with every batch of views published from now on
// (this agent's own included), from one goroutine at a time, until the
// returned function is called.
func (s *Store) SubscribeViews(f func([]machine.View)) (func(), error) {
	sub, err := s.nc.Subscribe(ViewsSubject(s.node.cfg.Mesh), func(m *nats.Msg) {
		var views []machine.View
		if json.Unmarshal(m.Data, &views) == nil {
			f(views)
		}
	})
	if err != nil {
		return nil, s.node.errs.failed(context.Background(), OpSubscribe, fmt.Errorf("quorum: subscribe views: %w", err))
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

func decode(data []byte) (*api.State, error) {
	var st api.State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decode mesh state: %w", err)
	}
	return &st, nil
}

// LeadFrom moves the leadership of the bucket's stream to this node when
// leader, the node that leads it as [Store.Leader] said, is outside ours
// (the node names of this agent's region). It reports whether it asked
// for a move.
//
// The writer region calls it: a JetStream write needs the stream leader,
// and after the leader's node is lost the others elect a new one only
// after the election timeout (2–3.5s embedded), during which no write is
// confirmed. A primary whose state leader sat in the witness or standby
// region would then fence itself over a region that is not its own; with
// the leader at home, losing any other single node costs no write. A
// primary cut off from the majority still fails its writes, and fences,
// as it must. Only embedded nodes lead; with an external cluster it does
// nothing.
func (s *Store) LeadFrom(ctx context.Context, leader string, ours []string) (bool, error) {
	if len(s.node.cfg.URLs) > 0 {
		return false, nil
	}
	if leader == "" || leader == s.node.cfg.Name || slices.Contains(ours, leader) {
		return false, nil
	}
	if err := s.stepDown(ctx, leader); err != nil {
		return false, s.node.errs.failed(ctx, OpLead, err)
	}
	s.node.errs.ok(OpLead)
	return true, nil
}

// stepDown asks the bucket stream's leader to hand its leadership to
// this node.
func (s *Store) stepDown(ctx context.Context, leader string) error {
	ctx, cancel := context.WithTimeout(ctx, s.node.cfg.Timeout)
	defer cancel()
	req, err := json.Marshal(stepDownRequest{Placement: &placement{Preferred: s.node.cfg.Name}})
	if err != nil {
		return fmt.Errorf("quorum: leader of %s: %w", s.bucket, err)
	}
	msg, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN.KV_"+s.bucket, req)
	if err != nil {
		return fmt.Errorf("quorum: move the leader of %s from %s to %s: %w", s.bucket, leader, s.node.cfg.Name, err)
	}
	var resp stepDownResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("quorum: move the leader of %s: answer %q: %w", s.bucket, msg.Data, err)
	}
	if resp.Error != nil {
		return fmt.Errorf("quorum: move the leader of %s from %s to %s: %s (code %d)", s.bucket, leader, s.node.cfg.Name, resp.Error.Description, resp.Error.Code)
	}
	return nil
}

// The JetStream API's stream leader step-down request and answer, as far
// as LeadFrom uses them.
type (
	placement struct {
		Preferred string `json:"preferred,omitempty"`
	}
	stepDownRequest struct {
		Placement *placement `json:"placement,omitempty"`
	}
	stepDownResponse struct {
		Success bool `json:"success"`
		Error   *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
)
