package membership

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Member is a peer (or this node) as seen in the gossip pool.
type Member struct {
	// Name is the memberlist node name (Config.NodeName of that agent).
	Name string
	// Addr is the gossip host:port the member advertises.
	Addr string
	// Meta is the metadata the member advertises. It is zero if the
	// member's metadata could not be decoded (an incompatible version).
	Meta
}

// Membership is one agent's view of the gossip pool of its region.
//
// Lock order: mu (lifecycle) may be held while calling memberlist. subMu
// (subscribers) is taken by the event delegate, which memberlist calls with
// its own node lock held, so memberlist must never be called with subMu
// held, and nothing takes mu while holding subMu.
type Membership struct {
	cfg  Config
	meta []byte // encoded cfg.meta(), returned by NodeMeta

	mu      sync.Mutex
	started bool
	closed  bool
	stop    chan struct{} // closed by Close; stops background goroutines
	wg      sync.WaitGroup

	list atomic.Pointer[memberlist.Memberlist] // nil before Start and after Close

	// keyring is the gossip keyring when SecretKeys are set; nil before
	// Start. Its methods are safe for concurrent use.
	keyring atomic.Pointer[memberlist.Keyring]

	subMu   sync.Mutex
	subs    map[int]chan struct{}
	nextSub int
	subDone bool // set by Close; later Subscribe calls get a closed channel
}

// New returns a Membership for cfg. It does no I/O and does not validate;
// Start does both.
func New(cfg Config) *Membership {
	cfg = cfg.withDefaults()
	return &Membership{
		cfg:  cfg,
		meta: encodeMeta(cfg.meta()),
		stop: make(chan struct{}),
		subs: map[int]chan struct{}{},
	}
}

// Start validates the config, binds the gossip port and joins the seeds.
// It retries the seeds until one answers, ctx is done or JoinTimeout
// passes; if none answered in time it logs a warning and returns nil with
// this node alone, since the first agent of a region has nobody to join.
// While alone the node keeps retrying the seeds in the background every
// RejoinInterval. Start returns an error if the config is invalid, the port
// cannot be bound, or ctx ends before the join finished (then nothing is
// left running). Start may be called once.
func (m *Membership) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errors.New("membership: start after close")
	}
	if m.started {
		m.mu.Unlock()
		return errors.New("membership: already started")
	}
	if err := m.cfg.validate(); err != nil {
		m.mu.Unlock()
		return err
	}
	mlc, err := m.memberlistConfig()
	if err != nil {
		m.mu.Unlock()
		return err
	}
	list, err := memberlist.Create(mlc)
	if err != nil {
		m.mu.Unlock()
		return fmt.Errorf("membership: start gossip on %s: %w", m.cfg.BindAddr, err)
	}
	m.list.Store(list)
	m.started = true
	m.mu.Unlock()

	m.cfg.Logger.Info("membership started", "node", m.cfg.NodeName, "addr", m.LocalAddr())

	// Join outside mu, so that Close can interrupt it through m.stop.
	if seeds := m.seeds(); len(seeds) > 0 {
		if err := m.joinWithRetry(ctx, seeds); err != nil {
			if ctx.Err() != nil {
				_ = m.Close()
				return fmt.Errorf("membership: join %v: %w", seeds, err)
			}
			// Peers that start later, or a region that is down, are the
			// normal case at a mesh's start: rejoinLoop warns if it lasts.
			m.cfg.Logger.Info("no seed answered yet; continuing alone and retrying in the background",
				"seeds", seeds, "every", m.cfg.RejoinInterval, "err", err)
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("membership: closed during start")
	}
	m.wg.Add(1)
	go m.rejoinLoop()
	return nil
}

// memberlistConfig maps cfg onto memberlist's LAN profile.
func (m *Membership) memberlistConfig() (*memberlist.Config, error) {
	c := m.cfg
	mlc := memberlist.DefaultLANConfig()
	mlc.Name = c.NodeName

	if c.Transport != nil {
		mlc.Transport = c.Transport
	} else {
		host, port, _ := splitHostPort(c.BindAddr) // validated
		mlc.BindAddr = host
		mlc.BindPort = port
		mlc.AdvertisePort = port // memberlist replaces it with the picked port if 0
	}
	if c.AdvertiseAddr != "" {
		host, port, _ := splitHostPort(c.AdvertiseAddr) // validated
		mlc.AdvertiseAddr = host
		if port != 0 {
			mlc.AdvertisePort = port
		}
	}

	t := c.Timing
	mlc.ProbeInterval = t.ProbeInterval
	mlc.ProbeTimeout = t.ProbeTimeout
	mlc.SuspicionMult = t.SuspicionMult
	mlc.SuspicionMaxTimeoutMult = t.SuspicionMaxTimeoutMult
	mlc.GossipInterval = t.GossipInterval
	mlc.PushPullInterval = t.PushPullInterval
	mlc.TCPTimeout = t.TCPTimeout
	// A crashed agent rescheduled at a new address (a new pod IP) may take
	// its name back this long after it was declared dead. A live duplicate
	// is still rejected: reclaiming applies to dead nodes only.
	mlc.DeadNodeReclaimTime = 2 * t.ProbeInterval

	if len(c.SecretKeys) > 0 {
		kr, err := memberlist.NewKeyring(c.SecretKeys[1:], c.SecretKeys[0])
		if err != nil {
			return nil, fmt.Errorf("membership: keyring: %w", err)
		}
		mlc.Keyring = kr
		m.keyring.Store(kr)
		// Already memberlist's defaults; set so that encryption never
		// silently becomes optional if those change.
		mlc.GossipVerifyIncoming = true
		mlc.GossipVerifyOutgoing = true
	}

	mlc.Delegate = (*delegate)(m)
	mlc.Events = (*events)(m)
	mlc.Logger = log.New(&logWriter{logger: m.cfg.Logger.With("component", "memberlist")}, "", 0)
	return mlc, nil
}

// seeds returns the configured seeds without this node's own addresses.
func (m *Membership) seeds() []string {
	self := map[string]bool{m.cfg.BindAddr: true, m.LocalAddr(): true}
	if m.cfg.AdvertiseAddr != "" {
		self[m.cfg.AdvertiseAddr] = true
	}
	var out []string
	for _, s := range m.cfg.Seeds {
		if !self[s] {
			out = append(out, s)
		}
	}
	return out
}

// joinWithRetry joins seeds, backing off from 100ms to 2s between rounds,
// until one answers, ctx ends, Close is called or JoinTimeout passes.
func (m *Membership) joinWithRetry(ctx context.Context, seeds []string) error {
	deadline := time.NewTimer(m.cfg.JoinTimeout)
	defer deadline.Stop()
	backoff := 100 * time.Millisecond
	for {
		err := m.joinOnce(seeds)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.stop:
			return errors.New("closed")
		case <-deadline.C:
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// joinOnce tries the seeds one by one, checking m.stop in between so that
// Close waits for at most one TCPTimeout.
func (m *Membership) joinOnce(seeds []string) error {
	var errs []error
	for _, s := range seeds {
		select {
		case <-m.stop:
			return errors.New("closed")
		default:
		}
		list := m.list.Load()
		if list == nil {
			return errors.New("closed")
		}
		if _, err := list.Join([]string{s}); err != nil {
			errs = append(errs, flatten(err))
			continue
		}
		m.cfg.Logger.Debug("joined gossip pool", "seed", s)
		return nil
	}
	return errors.Join(errs...)
}

// flatten unpacks memberlist's go-multierror errors, whose text spans
// several lines ("1 error occurred:\n\t* ..."), so that log lines stay on
// one line.
func flatten(err error) error {
	if me, ok := err.(interface{ WrappedErrors() []error }); ok {
		return errors.Join(me.WrappedErrors()...)
	}
	return err
}

// aloneWarnAfter is how long an agent retries its seeds before it warns
// that it is alone: longer than agents of a mesh take to start together.
const aloneWarnAfter = 30 * time.Second

// rejoinLoop retries the seeds while this node is alone.
func (m *Membership) rejoinLoop() {
	defer m.wg.Done()
	seeds := m.seeds()
	if len(seeds) == 0 {
		return
	}
	m.greet(seeds)
	t := time.NewTicker(m.cfg.RejoinInterval)
	defer t.Stop()
	var aloneSince time.Time
	warned := false
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		list := m.list.Load()
		if list == nil || list.NumMembers() > 1 {
			aloneSince, warned = time.Time{}, false
			continue
		}
		err := m.joinOnce(seeds)
		switch {
		case err == nil:
		case aloneSince.IsZero():
			aloneSince = time.Now()
			m.cfg.Logger.Debug("rejoin failed", "seeds", seeds, "err", err)
		case !warned && time.Since(aloneSince) >= aloneWarnAfter:
			warned = true
			m.cfg.Logger.Warn("no seed has answered for "+aloneWarnAfter.String()+"; still alone, retrying",
				"seeds", seeds, "err", err)
		default:
			m.cfg.Logger.Debug("rejoin failed", "seeds", seeds, "err", err)
		}
	}
}

// greet exchanges full states with every seed, once, after Start joined
// through the first that answered. A seed that declared this node dead
// before a restart ignores its new alive messages, whose incarnation is
// no newer than the death it recorded, until the two exchange states:
// then this node hears of its death and refutes it. Left to the
// push-pull interval that takes up to PushPullInterval per peer, and the
// node's region looks down to that seed meanwhile. Unreachable seeds are
// skipped; each costs at most one TCPTimeout.
func (m *Membership) greet(seeds []string) {
	for _, s := range seeds {
		select {
		case <-m.stop:
			return
		default:
		}
		list := m.list.Load()
		if list == nil {
			return
		}
		if _, err := list.Join([]string{s}); err != nil {
			m.cfg.Logger.Debug("seed did not answer the greeting", "seed", s, "err", flatten(err))
		}
	}
}

// LocalAddr returns the gossip host:port this node advertises, or "" before
// Start. With a bind port of 0 it carries the port picked.
func (m *Membership) LocalAddr() string {
	list := m.list.Load()
	if list == nil {
		return ""
	}
	n := list.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Members returns the members not declared dead and not left, this node
// included, sorted by name. It returns nil before Start and after Close.
//
// A suspect member (a peer failed to probe it and it has not refuted yet)
// is still listed, so that a falsely suspected agent keeps its shards
// instead of bouncing them; it drops out when declared dead. memberlist
// does not expose suspicion (its public Node.State stays zero), so Member
// cannot report it.
func (m *Membership) Members() []Member {
	list := m.list.Load()
	if list == nil {
		return nil
	}
	nodes := list.Members()
	out := make([]Member, 0, len(nodes))
	for _, n := range nodes {
		meta, err := decodeMeta(n.Meta)
		if err != nil {
			m.cfg.Logger.Debug("ignoring member metadata", "member", n.Name, "err", err)
		}
		out = append(out, Member{
			Name: n.Name,
			Addr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))),
			Meta: meta,
		})
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Subscribe returns a channel that receives a value after the member set
// or a member's metadata changes, and a function that unsubscribes.
//
// Notifications are coalesced: the channel has a buffer of one and a
// notification is dropped if one is already pending, so a burst of changes
// yields one or two receives. A receiver must therefore read the current
// state with Members after each receive rather than count receives. Sends
// never block, so a slow receiver cannot stall gossip; receivers may take
// as long as they like. The channel is closed by Close and by the returned
// function, which is idempotent and may be called from any goroutine.
func (m *Membership) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	m.subMu.Lock()
	defer m.subMu.Unlock()
	if m.subDone {
		close(ch)
		return ch, func() {}
	}
	id := m.nextSub
	m.nextSub++
	m.subs[id] = ch
	return ch, func() {
		m.subMu.Lock()
		defer m.subMu.Unlock()
		if c, ok := m.subs[id]; ok {
			delete(m.subs, id)
			close(c)
		}
	}
}

// notify signals every subscriber without blocking.
func (m *Membership) notify() {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	for _, ch := range m.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// WaitSettled blocks until the member set has stayed the same for
// SettleChecks consecutive probe intervals, so that an agent starting
// beside others does not compute a shard assignment from a half-joined
// view and move shards twice (alertmanager waits the same way before
// acting). It returns an error if ctx ends first or Membership is not
// running.
func (m *Membership) WaitSettled(ctx context.Context) error {
	if m.list.Load() == nil {
		return errors.New("membership: wait settled: not running")
	}
	start := time.Now()
	t := time.NewTicker(m.cfg.Timing.ProbeInterval)
	defer t.Stop()
	last, stable := m.fingerprint(), 0
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("membership: wait settled: %w", ctx.Err())
		case <-m.stop:
			return errors.New("membership: wait settled: closed")
		case <-t.C:
		}
		fp := m.fingerprint()
		if fp != last {
			last, stable = fp, 0
			continue
		}
		stable++
		if stable >= m.cfg.SettleChecks {
			m.cfg.Logger.Debug("membership settled", "members", fp, "after", time.Since(start))
			return nil
		}
	}
}

// fingerprint names the current member set.
func (m *Membership) fingerprint() string {
	var names []string
	for _, mem := range m.Members() {
		names = append(names, mem.Name)
	}
	return strings.Join(names, ",")
}

// Close leaves the pool gracefully, so peers drop this node at once
// instead of after the detection time, waiting at most LeaveTimeout for the
// leave message to go out, then shuts gossip down and closes subscriber
// channels. It returns within about LeaveTimeout + TCPTimeout. It is
// idempotent and safe to call concurrently and before Start.
func (m *Membership) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	close(m.stop)

	var errs []error
	if list := m.list.Swap(nil); list != nil {
		if err := list.Leave(m.cfg.LeaveTimeout); err != nil {
			errs = append(errs, fmt.Errorf("leave: %w", err))
		}
		if err := list.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
	}
	m.wg.Wait()

	m.subMu.Lock()
	m.subDone = true
	for id, ch := range m.subs {
		delete(m.subs, id)
		close(ch)
	}
	m.subMu.Unlock()

	if len(errs) > 0 {
		return fmt.Errorf("membership: close: %w", errors.Join(errs...))
	}
	return nil
}

// delegate supplies this node's metadata to memberlist. Its methods are
// called by memberlist's goroutines, possibly concurrently, and must not
// block.
type delegate Membership

var _ memberlist.Delegate = (*delegate)(nil)

// NodeMeta returns the encoded metadata; its size was checked against
// limit by validate.
func (d *delegate) NodeMeta(limit int) []byte {
	if len(d.meta) > limit {
		return nil
	}
	return d.meta
}

// geomesh sends no user messages or state over this pool (decisions go
// through JetStream), so the rest of the delegate is empty.
func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// events turns memberlist's membership events into notifications. memberlist
// calls it from one goroutine at a time, with its node lock held: it must
// not block and must not call back into memberlist.
type events Membership

var _ memberlist.EventDelegate = (*events)(nil)

func (e *events) NotifyJoin(n *memberlist.Node) {
	if n.Name != e.cfg.NodeName {
		e.cfg.Logger.Info("member joined", "member", n.Name, "addr", n.Address())
	}
	(*Membership)(e).notify()
}

func (e *events) NotifyLeave(n *memberlist.Node) {
	// Whether it left or was declared dead is not visible here: memberlist
	// does not fill in the public Node.State.
	e.cfg.Logger.Info("member gone", "member", n.Name, "addr", n.Address())
	(*Membership)(e).notify()
}

func (e *events) NotifyUpdate(n *memberlist.Node) {
	e.cfg.Logger.Debug("member updated", "member", n.Name, "addr", n.Address())
	(*Membership)(e).notify()
}

// logWriter receives memberlist's log lines ("[LEVEL] memberlist: text")
// and logs each at Debug with the memberlist level as an attribute.
type logWriter struct {
	logger *slog.Logger
}

func (w *logWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, "\n"))
	level := ""
	if strings.HasPrefix(line, "[") {
		if i := strings.IndexByte(line, ']'); i > 0 {
			level, line = line[1:i], strings.TrimSpace(line[i+1:])
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	w.logger.Debug(line, "memberlist_level", level)
	return len(p), nil
}
