package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/geomesh/geomesh/topology"
)

// ErrPaused is wrapped by the error of a record whose context ended while
// a Follower held its Producer paused for a planned switch.
var ErrPaused = errors.New("producer paused for a planned switch")

// agentTimeout bounds one GET /v1/failover: an agent slower than that
// counts as unreachable for the round, and the next one is asked.
const agentTimeout = 2 * time.Second

// flushTimeout bounds how long a pause or a producer switch waits for the
// records in flight to the region the producer leaves.
const flushTimeout = 10 * time.Second

// downFlush bounds the same wait when the producer switches without a
// pause first: a failover, away from a region the mesh found down, where
// the records in flight would hold the producer back for flushTimeout
// without an answer. They fail, and the application may write them again.
const downFlush = time.Second

// resumeWait bounds how long a producer that switched at a flip waits for
// the consumers of the same Follower before it resumes: about a
// consumer's SwitchTimeout, after which the producer goes on regardless.
const resumeWait = 30 * time.Second

// Followed is a client a Follower keeps where the mesh state wants it:
// a *Consumer or a *Producer.
type Followed interface {
	followed() followed
	followName() string
	apply(ctx context.Context, m move) error
}

var (
	_ Followed = (*Consumer)(nil)
	_ Followed = (*Producer)(nil)
)

// FollowKind names what a FollowEvent reports.
type FollowKind string

const (
	// FollowEpoch: the follower read a state at a new epoch.
	FollowEpoch FollowKind = "epoch"
	// FollowPaused: a planned switch started; the producer holds its
	// records until it completes or aborts.
	FollowPaused FollowKind = "paused"
	// FollowSwitched: the client moved to another region.
	FollowSwitched FollowKind = "switched"
	// FollowResumed: the producer writes again.
	FollowResumed FollowKind = "resumed"
	// FollowFailed: a pause or switch failed; it is retried every
	// interval while the state still asks for it.
	FollowFailed FollowKind = "failed"
)

// FollowEvent is one transition of a followed client, or a new epoch.
type FollowEvent struct {
	Kind FollowKind
	// Client names the client ("producer", "consumer group billing"); empty
	// for FollowEpoch.
	Client string
	// Epoch is the mesh epoch of the state that caused the event.
	Epoch uint64
	// Decision is that state's decision (switchover-started,
	// switchover, failover, ...) and Reason why it was made.
	Decision api.Decision
	Reason   string
	// From and To: the regions of a switch; the region of a pause or
	// resume is in From.
	From, To string
	// Took is how long a switch took.
	Took time.Duration
	Err  error
}

// Follower keeps consumers and producers on the regions the mesh state
// (the epoch, the role of each region, a planned switch in progress)
// wants them in. It reads the state from the agents' GET /v1/failover
// every FollowInterval, asking the agents in file order and taking the
// first answer from an agent that reaches the control plane. On every
// read it decides, for each client, from the state it last acted on and
// the new one (see decide): pause a producer when a planned switch
// drains its region, switch a client to the new writer after a flip or a
// failover, resume the producer there, or move an active-active region's
// clients to the region that serves them while it is evacuated. Each
// client has a goroutine of its own, so a consumer's switch (which waits
// for translated offsets) does not hold back a producer's pause.
//
// NewFollower does no I/O; Start begins following; Close stops and waits,
// and lets go any producer it still holds paused. A failed switch is
// retried on the next read while the state still asks for it; the client
// stays where it was meanwhile.
type Follower struct {
	mesh    *topology.Mesh
	cfg     config
	agents  *api.Client
	targets []Followed

	mu      sync.Mutex
	state   *api.State
	started bool
	closed  bool
	stop    context.CancelFunc
	wakes   []chan struct{} // one per target, one slot: "a new read"
	settled []uint64        // per target: the epoch it last carried out
	wg      sync.WaitGroup

	emu sync.Mutex // serialises OnEvent
}

// NewFollower returns a Follower of the clients in mesh m. It does no I/O.
func NewFollower(m *topology.Mesh, clients []Followed, opts ...FollowerOpt) (*Follower, error) {
	cfg := defaults()
	for _, o := range opts {
		o.applyFollower(&cfg)
	}
	if len(clients) == 0 {
		return nil, fmt.Errorf("follower of mesh %s: no client to follow", m.Name)
	}
	if cfg.followInterval <= 0 {
		return nil, fmt.Errorf("follower of mesh %s: FollowInterval %s is not positive", m.Name, cfg.followInterval)
	}
	f := &Follower{mesh: m, cfg: cfg, agents: api.NewClient(m, api.ClientOptions{HTTP: cfg.httpClient}), targets: clients, settled: make([]uint64, len(clients))}
	for range clients {
		f.wakes = append(f.wakes, make(chan struct{}, 1))
	}
	return f, nil
}

// Start begins following in goroutines the Follower owns, until Close or
// until ctx ends. It is idempotent.
func (f *Follower) Start(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started || f.closed {
		return
	}
	f.started = true
	ctx, f.stop = context.WithCancel(ctx)
	f.wg.Add(1 + len(f.targets))
	go func() {
		defer f.wg.Done()
		f.poll(ctx)
	}()
	for i, t := range f.targets {
		go func() {
			defer f.wg.Done()
			f.drive(ctx, i, t, f.wakes[i])
		}()
	}
}

// Close stops following, waits for the goroutines and resumes the
// producers it paused: without a follower nothing would resume them. It
// is idempotent.
func (f *Follower) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	stop := f.stop
	f.mu.Unlock()
	if stop != nil {
		stop()
	}
	f.wg.Wait()
	for _, t := range f.targets {
		if p, ok := t.(*Producer); ok {
			p.resume()
		}
	}
}

// Epoch is the epoch of the newest mesh state read, 0 before the first.
func (f *Follower) Epoch() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state == nil {
		return 0
	}
	return f.state.Epoch
}

func (f *Follower) latest() *api.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

// poll reads the state every interval, keeps the newest and wakes every
// client's goroutine.
func (f *Follower) poll(ctx context.Context) {
	t := time.NewTicker(f.cfg.followInterval)
	defer t.Stop()
	for {
		if st, err := f.read(ctx); err != nil {
			f.cfg.logger.Debug("follow: read the mesh state", "mesh", f.mesh.Name, "err", err)
		} else {
			f.mu.Lock()
			old := f.state
			newer := old == nil || st.Epoch >= old.Epoch
			if newer {
				f.state = st
			}
			f.mu.Unlock()
			if newer && (old == nil || st.Epoch > old.Epoch) {
				f.emit(FollowEvent{Kind: FollowEpoch, Epoch: st.Epoch, Decision: st.Decision, Reason: st.Reason, From: st.From, To: st.To})
			}
			for _, w := range f.wakes {
				select {
				case w <- struct{}{}:
				default: // a wake is pending already
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// drive carries out, for one client, what decide asks on each read.
//
// A producer that switched at a flip resumes only once the consumers of
// the same Follower have switched too (within resumeWait): a consumer's
// translation is exact about the copies in the new primary, and says
// nothing of records written there before it arrived.
func (f *Follower) drive(ctx context.Context, i int, t Followed, wake <-chan struct{}) {
	var applied *api.State
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		cur := f.latest()
		c := t.followed()
		m := decide(f.mesh.Kind, c, applied, cur)
		if m == (move{}) {
			applied = cur
			f.settle(i, cur)
			continue
		}
		start := time.Now()
		var err error
		if m.SwitchTo != "" && m.Resume {
			err = t.apply(ctx, move{Pause: m.Pause, SwitchTo: m.SwitchTo})
			if err == nil {
				f.waitConsumers(ctx, cur.Epoch)
				err = t.apply(ctx, move{Resume: true})
			}
		} else {
			err = t.apply(ctx, m)
		}
		ev := FollowEvent{Client: t.followName(), Epoch: cur.Epoch, Decision: cur.Decision, Reason: cur.Reason, From: c.region, Took: time.Since(start), Err: err}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			ev.Kind, ev.To = FollowFailed, m.SwitchTo
			f.emit(ev)
			continue // retried on the next read
		}
		applied = cur
		f.settle(i, cur)
		if m.Pause {
			ev.Kind = FollowPaused
			f.emit(ev)
		}
		if m.SwitchTo != "" {
			ev.Kind, ev.To = FollowSwitched, m.SwitchTo
			f.emit(ev)
		}
		if m.Resume {
			ev.Kind, ev.From, ev.To = FollowResumed, t.followed().region, ""
			f.emit(ev)
		}
	}
}

func (f *Follower) settle(i int, s *api.State) {
	if s == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settled[i] = max(f.settled[i], s.Epoch)
}

// waitConsumers waits, within resumeWait, until every consumer of the
// Follower has carried out the state at epoch.
func (f *Follower) waitConsumers(ctx context.Context, epoch uint64) {
	ctx, cancel := context.WithTimeout(ctx, resumeWait)
	defer cancel()
	for {
		f.mu.Lock()
		behind := false
		for i, t := range f.targets {
			if _, ok := t.(*Consumer); ok && f.settled[i] < epoch {
				behind = true
			}
		}
		f.mu.Unlock()
		if !behind {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (f *Follower) emit(ev FollowEvent) {
	log := f.cfg.logger.With("mesh", f.mesh.Name, "epoch", ev.Epoch, "decision", ev.Decision)
	switch {
	case ev.Err != nil:
		log.Warn("follow: "+ev.Client+" could not follow", "from", ev.From, "to", ev.To, "err", ev.Err)
	case ev.Kind == FollowEpoch:
		log.Info("follow: new mesh state", "from", ev.From, "to", ev.To, "reason", ev.Reason)
	default:
		log.Info("follow: "+ev.Client+" "+string(ev.Kind), "from", ev.From, "to", ev.To, "took", ev.Took)
	}
	if f.cfg.onEvent == nil {
		return
	}
	f.emu.Lock()
	defer f.emu.Unlock()
	f.cfg.onEvent(ev)
}

// read asks the agents in file order for the mesh state and returns the
// first from an agent that reaches the control plane; when none does, the
// newest any agent holds.
func (f *Follower) read(ctx context.Context) (*api.State, error) {
	var best *api.State
	var errs []error
	for _, r := range f.mesh.Regions {
		for _, a := range r.Agents {
			actx, cancel := context.WithTimeout(ctx, agentTimeout)
			fs, err := f.agents.Failover(actx, a.API)
			cancel()
			if err == nil && fs.State == nil {
				err = fmt.Errorf("no state yet (control plane %s)", fs.ControlPlane)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("agent %s of region %s: %w", a.ID, r.Name, err))
				continue
			}
			if fs.ControlPlane == api.ControlReachable {
				return fs.State, nil
			}
			if best == nil || fs.State.Epoch > best.Epoch {
				best = fs.State
			}
		}
	}
	if best != nil {
		return best, nil
	}
	return nil, fmt.Errorf("no agent of mesh %s answered GET /v1/failover: %w", f.mesh.Name, errors.Join(errs...))
}

// followed and apply make a Consumer a Followed.
func (c *Consumer) followed() followed {
	return followed{home: c.home, writer: followsWriter(c.mesh, false, c.home), region: c.Region()}
}

func (c *Consumer) followName() string { return "consumer group " + c.group }

func (c *Consumer) apply(ctx context.Context, m move) error {
	if m.SwitchTo == "" {
		return nil
	}
	return c.Switch(ctx, m.SwitchTo)
}

// followed and apply make a Producer a Followed.
func (p *Producer) followed() followed {
	return followed{producer: true, home: p.home, writer: followsWriter(p.mesh, true, p.home), region: p.Region(), paused: p.paused()}
}

func (p *Producer) followName() string { return "producer" }

func (p *Producer) apply(ctx context.Context, m move) error {
	bound := flushTimeout
	if m.SwitchTo != "" && !m.Pause && !p.paused() {
		bound = downFlush
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	if m.Pause {
		if err := p.pause(ctx); err != nil {
			// Paused all the same: what is in flight is answered by
			// the region or fails, and nothing new goes.
			p.cfg.logger.Warn("producer paused before every record in flight was answered", "region", p.Region(), "err", err)
		}
	}
	if m.SwitchTo != "" {
		if err := p.Switch(ctx, m.SwitchTo); err != nil {
			return err
		}
	}
	if m.Resume {
		p.resume()
	}
	return nil
}
