package quorum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/geomesh/geomesh/api"
	"github.com/nats-io/nats.go/jetstream"
)

// TopologyPrefix starts the key of every stored topology version:
// topology.1, topology.2, ... Each key is written once, by Create, so
// that storing version N+1 is itself the compare-and-set on version N:
// of two operators who reviewed against N, exactly one stores N+1.
const TopologyPrefix = "topology."

// MaxTopologySource bounds a stored topology file: it travels in one
// NATS message, whose default limit is 1 MiB.
const MaxTopologySource = 900 << 10

// TopologyKey returns the key of version v.
func TopologyKey(v uint64) string { return TopologyPrefix + strconv.FormatUint(v, 10) }

// StoreTopology stores tv as version tv.Version, which must be one more
// than the newest stored. It fails with ErrConflict when that version
// exists already (another apply came first), ErrNoQuorum when no
// majority confirmed the write.
func (s *Store) StoreTopology(ctx context.Context, tv api.TopologyVersion) error {
	if len(tv.Source) > MaxTopologySource {
		return fmt.Errorf("quorum: store topology version %d: the file has %d bytes, more than the %d a version may hold", tv.Version, len(tv.Source), MaxTopologySource)
	}
	data, err := json.Marshal(tv)
	if err != nil {
		return fmt.Errorf("quorum: encode topology version %d: %w", tv.Version, err)
	}
	rctx, cancel := context.WithTimeout(ctx, s.node.cfg.Timeout)
	defer cancel()
	_, err = s.kv.Create(rctx, TopologyKey(tv.Version), data)
	switch {
	case err == nil:
		s.node.errs.ok(OpPropose)
		return nil
	case errors.Is(err, jetstream.ErrKeyExists):
		s.node.errs.ok(OpPropose)
		return fmt.Errorf("quorum: store topology version %d: %w", tv.Version, ErrConflict)
	default:
		return s.node.errs.failed(ctx, OpPropose, fmt.Errorf("quorum: store topology version %d: %w: %w", tv.Version, ErrNoQuorum, err))
	}
}

// TopologyVersion returns stored version v; ok is false when there is
// none.
func (s *Store) TopologyVersion(ctx context.Context, v uint64) (tv api.TopologyVersion, ok bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, s.node.cfg.Timeout)
	defer cancel()
	e, err := s.kv.Get(rctx, TopologyKey(v))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return tv, false, nil
	case err != nil:
		return tv, false, s.node.errs.failed(ctx, OpLoad, fmt.Errorf("quorum: load topology version %d: %w: %w", v, ErrNoQuorum, err))
	}
	if err := json.Unmarshal(e.Value(), &tv); err != nil {
		return tv, false, fmt.Errorf("quorum: load topology version %d: %w", v, err)
	}
	return tv, true, nil
}

// PeekTopology returns stored version v if it is there and answers in
// time. Its failures are not counted: it backs up WatchTopology, and the
// control-plane check reports a store that does not answer.
func (s *Store) PeekTopology(ctx context.Context, v uint64) (api.TopologyVersion, bool) {
	var tv api.TopologyVersion
	rctx, cancel := context.WithTimeout(ctx, s.node.cfg.Timeout)
	defer cancel()
	e, err := s.kv.Get(rctx, TopologyKey(v))
	if err != nil || json.Unmarshal(e.Value(), &tv) != nil {
		return tv, false
	}
	return tv, true
}

// LatestTopology returns the newest stored version; ok is false when
// none is stored.
func (s *Store) LatestTopology(ctx context.Context) (tv api.TopologyVersion, ok bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, s.node.cfg.Timeout)
	defer cancel()
	l, err := s.kv.ListKeysFiltered(rctx, TopologyPrefix+"*")
	if err != nil {
		return tv, false, s.node.errs.failed(ctx, OpLoad, fmt.Errorf("quorum: list topology versions: %w: %w", ErrNoQuorum, err))
	}
	defer func() { _ = l.Stop() }()
	var newest uint64
	for k := range l.Keys() {
		if v, ok := topologyVersionOf(k); ok && v > newest {
			newest = v
		}
	}
	if newest == 0 {
		return tv, false, nil
	}
	return s.TopologyVersion(ctx, newest)
}

func topologyVersionOf(key string) (uint64, bool) {
	n, ok := strings.CutPrefix(key, TopologyPrefix)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(n, 10, 64)
	return v, err == nil && v > 0
}

// WatchTopology delivers the newest stored version once the stored ones
// are read, then every newer version as it is stored, until ctx ends.
func (s *Store) WatchTopology(ctx context.Context) (<-chan api.TopologyVersion, error) {
	w, err := s.kv.Watch(ctx, TopologyPrefix+"*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, s.node.errs.failed(ctx, OpSubscribe, fmt.Errorf("quorum: watch topology versions: %w", err))
	}
	out := make(chan api.TopologyVersion, 1)
	go func() {
		defer close(out)
		defer func() { _ = w.Stop() }()
		var newest api.TopologyVersion
		initial := true
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil {
					var tv api.TopologyVersion
					if json.Unmarshal(e.Value(), &tv) != nil || tv.Version <= newest.Version {
						continue
					}
					newest = tv
					if initial {
						continue
					}
				} else {
					initial = false
					if newest.Version == 0 {
						continue
					}
				}
				select {
				case out <- newest:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
