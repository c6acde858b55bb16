package plane

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/geomesh/geomesh/failover/machine"
	"github.com/geomesh/geomesh/topology"
)

// fakeHost records what the plane asks of its host; its flows run until
// stopped and report a lag of zero.
type fakeHost struct {
	region string

	mu      sync.Mutex
	flows   map[topology.Route]*fakeFlow // every flow made, by route: the latest
	started []topology.Route             // in order
	writers [][]string                   // every GrantWrites
	fences  []machine.Status             // every ApplyFence
	meshes  []*topology.Mesh             // every Reconfigure
}

func newFakeHost(region string) *fakeHost {
	return &fakeHost{region: region, flows: map[topology.Route]*fakeFlow{}}
}

type fakeFlow struct {
	route   topology.Route
	running chan struct{} // closed when Run starts
	stopped chan struct{} // closed when Run returns
}

func (f *fakeFlow) Run(ctx context.Context) error {
	close(f.running)
	defer close(f.stopped)
	<-ctx.Done()
	return nil
}

func (f *fakeFlow) Lag() (int64, bool) { return 0, true }

func (h *fakeHost) NewFlow(f topology.Flow) (Flow, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fl := &fakeFlow{route: f.Route(), running: make(chan struct{}), stopped: make(chan struct{})}
	h.flows[f.Route()] = fl
	h.started = append(h.started, f.Route())
	return fl, nil
}

func (h *fakeHost) Reconfigure(m *topology.Mesh) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.meshes = append(h.meshes, m)
}

// startedCount is how many times a flow on route was made.
func (h *fakeHost) startedCount(route topology.Route) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.started {
		if r == route {
			n++
		}
	}
	return n
}

func (h *fakeHost) GrantWrites(writers []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writers = append(h.writers, slices.Clone(writers))
}

func (h *fakeHost) ApplyFence(st machine.Status) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fences = append(h.fences, st)
}

// AgentsAlive: gossip sees nobody.
func (h *fakeHost) AgentsAlive() map[string]int { return nil }

func (h *fakeHost) HeartbeatAge(string, time.Time) (time.Duration, bool) { return 0, false }

func (h *fakeHost) RegionMembers() []string { return []string{h.region + "-1"} }

// lastWriters is the last GrantWrites, and whether there was one.
func (h *fakeHost) lastWriters() ([]string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.writers) == 0 {
		return nil, false
	}
	return h.writers[len(h.writers)-1], true
}

// flow is the latest flow made for route, nil if none.
func (h *fakeHost) flow(route topology.Route) *fakeFlow {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.flows[route]
}

// isRunning reports whether f runs now.
func (f *fakeFlow) isRunning() bool {
	select {
	case <-f.running:
	default:
		return false
	}
	select {
	case <-f.stopped:
		return false
	default:
		return true
	}
}
