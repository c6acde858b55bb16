package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/geomesh/geomesh/topology"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Config configures a Node. Zero optional fields take the defaults of
// [Config.withDefaults].
type Config struct {
	// Mesh is the mesh name: the bucket is geomesh-<mesh>, the subjects
	// geomesh.<mesh>.events and geomesh.<mesh>.views. Required.
	Mesh string

	// Name identifies this agent among the control-plane nodes (the agent
	// id): the embedded server's name, which JetStream needs unique, and
	// the key of its health check. Required.
	Name string

	// URLs of an external NATS cluster with JetStream
	// (nats://host:port, tls://host:port). When set the node is only a
	// client and the fields below up to Peers are ignored.
	URLs []string

	// ClusterAddr is the host:port this node's embedded server listens on
	// for routes from its peers: the agent's control address in the
	// topology. Required when embedded.
	ClusterAddr string

	// Peers are the other nodes' cluster addresses (the control addresses
	// of every other agent of the mesh). The node routes to each and keeps
	// retrying those that are down.
	Peers []string

	// ClientAddr is a host:port on which the embedded server also accepts
	// NATS clients (for the nats CLI while debugging). Default: a random
	// loopback port; the agent itself talks to its node in-process.
	ClientAddr string

	// StoreDir is where the embedded server keeps JetStream data: the
	// agent's node directory, <state_dir>/<agent id>. Required when
	// embedded, with no default: the caller picks a directory that
	// outlives restarts (a restarted node finds its replica of the mesh
	// state there) and that no other node uses at the same time (the
	// agent locks it, package internal/statedir). Created if missing.
	StoreDir string

	// Replicas is how many nodes hold the mesh state. Default: the number
	// of control-plane nodes (this one and Peers), capped at 5 and made
	// odd (4 → 3), since an even count tolerates no more failures than the
	// odd one below it; 3 with external URLs. A write needs a majority of
	// them.
	Replicas int

	// Timeout bounds every control-plane request (load, compare-and-set,
	// health check). A request that gets no answer within it counts as
	// "no quorum". Default 2s: a JetStream write is a RAFT round trip
	// between regions, tens to a few hundred milliseconds.
	Timeout time.Duration

	// TLS secures the control plane; nil: plaintext, for a mesh on one
	// host only. Embedded: mutual TLS on the cluster routes, CAFile,
	// CertFile and KeyFile required: a node accepts a route, and finishes
	// one it dialled, only with a peer certificate signed by CAFile, and
	// shows CertFile both ways. The embedded node's client port then
	// takes only TLS clients with such a certificate. External: TLS to
	// URLs, verified against CAFile (default: the system pool), with
	// CertFile as a client certificate if set. ServerName is the name
	// expected in the certificates; default: the host of each address.
	// The files are read at Start, the key pair again whenever it changes.
	TLS *topology.ControlPlaneTLS

	// Credentials authenticate this node; nil: none. Embedded: User and
	// Password are the one route user of the cluster: every route, both
	// ways, and every client of the node's client port must give them;
	// a route may give one of AcceptPasswords instead, during a rotation.
	// External: the NATS user (User and Password, or NkeySeedFile). The
	// password and the seed are read at Start and never logged.
	Credentials *topology.ControlPlaneCredentials

	// Logger receives the embedded server's log lines, at Debug but for
	// its storage errors (see logAdapter), and the node's failed
	// operations at Error (errors.go). Default slog.Default().
	Logger *slog.Logger

	// Errors hears of every failed operation of the node and its store
	// (errors.go); nil: they are only logged. The failover plane counts
	// them in geomesh_control_plane_errors_total.
	Errors ErrorObserver
}

const defaultTimeout = 2 * time.Second

func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.Replicas == 0 {
		c.Replicas = 3
		if len(c.URLs) == 0 {
			n := min(len(c.Peers)+1, 5)
			if n > 1 && n%2 == 0 {
				n--
			}
			c.Replicas = n
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Mesh == "" {
		errs = append(errs, errors.New("mesh name is required"))
	}
	if c.Name == "" {
		errs = append(errs, errors.New("node name is required"))
	}
	if len(c.URLs) == 0 {
		if _, _, err := net.SplitHostPort(c.ClusterAddr); err != nil {
			errs = append(errs, fmt.Errorf("cluster address %q: %w", c.ClusterAddr, err))
		}
		for _, p := range c.Peers {
			if _, _, err := net.SplitHostPort(p); err != nil {
				errs = append(errs, fmt.Errorf("peer %q: %w", p, err))
			}
		}
		if c.ClientAddr != "" {
			if _, _, err := net.SplitHostPort(c.ClientAddr); err != nil {
				errs = append(errs, fmt.Errorf("client address %q: %w", c.ClientAddr, err))
			}
		}
		if c.StoreDir == "" {
			errs = append(errs, errors.New("store dir is required for an embedded node (the agent's <state_dir>/<agent id>)"))
		}
	}
	if t := c.TLS; t != nil && len(c.URLs) == 0 && (t.CAFile == "" || t.CertFile == "" || t.KeyFile == "") {
		errs = append(errs, errors.New("route tls needs a ca file, a certificate and its key"))
	}
	if k := c.Credentials; k != nil && len(c.URLs) == 0 && (k.User == "" || k.NkeySeedFile != "") {
		errs = append(errs, errors.New("route credentials need a user and password (nkey seeds are for an external control plane)"))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas %d: want 1 to 5", c.Replicas))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// Node is this agent's access to the control plane: an embedded
// nats-server with JetStream, clustered with the other agents' nodes, and
// a client connection to it; or a client of an external cluster.
type Node struct {
	cfg  Config
	errs *errorReporter

	mu      sync.Mutex
	started bool
	closed  bool
	srv     *server.Server // nil when external
	nc      *nats.Conn
}

// NewNode returns a node for cfg. It does no I/O; Start does.
func NewNode(cfg Config) *Node {
	cfg = cfg.withDefaults()
	return &Node{cfg: cfg, errs: newErrorReporter(cfg.Logger.With("node", cfg.Name), cfg.Errors)}
}

// Start validates the config, starts the embedded server (if any) and
// connects to it. It does not wait for the cluster to form: a node whose
// peers are down yet keeps routing to them in the background; [Node.Open]
// waits for the JetStream cluster. Start may be called once.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return errors.New("quorum: start after close")
	case n.started:
		return errors.New("quorum: already started")
	}
	if err := n.cfg.validate(); err != nil {
		return fmt.Errorf("quorum: node %s: %w", n.cfg.Name, err)
	}
	n.started = true
	sec, err := n.loadSecurity()
	if err != nil {
		return fmt.Errorf("quorum: node %s: %w", n.cfg.Name, err)
	}

	if len(n.cfg.URLs) > 0 {
		opts, err := sec.clientOpts()
		if err != nil {
			return fmt.Errorf("quorum: node %s: %w", n.cfg.Name, err)
		}
		urls := strings.Join(n.cfg.URLs, ",")
		nc, err := nats.Connect(urls, append(n.connectOpts(), opts...)...)
		if err != nil {
			return fmt.Errorf("quorum: node %s: connect to %s: %s%w", n.cfg.Name, urls, sec.explain(err), err)
		}
		n.nc = nc
		return nil
	}

	opts, err := n.serverOptions(sec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(n.cfg.StoreDir, 0o750); err != nil {
		return fmt.Errorf("quorum: node %s: store dir %s: %w", n.cfg.Name, n.cfg.StoreDir, err)
	}
	n.tuneElection()
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("quorum: node %s (store dir %s): %w", n.cfg.Name, n.cfg.StoreDir, err)
	}
	srv.SetLoggerV2(&logAdapter{l: n.cfg.Logger.With("component", "nats", "node", n.cfg.Name), errs: n.errs}, false, false, false)
	srv.Start()
	n.srv = srv
	wait := time.Until(deadline(ctx, 10*time.Second))
	if !srv.ReadyForConnections(wait) {
		n.shutdown()
		return fmt.Errorf("quorum: node %s: server not ready within %s (cluster address %s, store dir %s)", n.cfg.Name, wait.Round(time.Millisecond), n.cfg.ClusterAddr, n.cfg.StoreDir)
	}
	// In process the server skips TLS, but not the password.
	local := append(n.connectOpts(), nats.InProcessServer(srv))
	if sec.user != "" {
		local = append(local, nats.UserInfo(sec.user, sec.password))
	}
	nc, err := nats.Connect("", local...)
	if err != nil {
		n.shutdown()
		return fmt.Errorf("quorum: node %s: connect in process: %w", n.cfg.Name, err)
	}
	n.nc = nc
	return nil
}

// tuneElection sets nats-server's election window to this node's
// (election.go) before its server starts. A process whose raft is not
// what natselection.go expects keeps nats-server's timers, and says so;
// in a process of several nodes the first one's window holds.
func (n *Node) tuneElection() {
	want := electionWindowFor(electionSlot(n.cfg.ClusterAddr, n.cfg.Peers))
	got, err := setNATSElection(want)
	switch {
	case err != nil:
		n.cfg.Logger.Warn("raft election timers left at nats-server's 4–9s: an election after the loss of the stream leader holds decisions up longer",
			"node", n.cfg.Name, "err", err)
	case got != want:
		n.cfg.Logger.Debug("raft election window of an earlier node of this process applies",
			"node", n.cfg.Name, "window", fmt.Sprintf("%v–%v", got.Min, got.Max), "own", fmt.Sprintf("%v–%v", want.Min, want.Max))
	}
}

func (n *Node) connectOpts() []nats.Option {
	return []nats.Option{
		nats.Name("geomesh-" + n.cfg.Name),
		// Never give up: a cut-off region reconnects when the cut heals.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(n.cfg.Timeout),
	}
}

func (n *Node) serverOptions(sec *security) (*server.Options, error) {
	host, port, err := splitPort(n.cfg.ClusterAddr)
	if err != nil {
		return nil, fmt.Errorf("quorum: cluster address %q: %w", n.cfg.ClusterAddr, err)
	}
	opts := &server.Options{
		ServerName: n.cfg.Name,
		// nats-server starts routing only once its client listener is up
		// (DontListen would leave the routes down for good), so without a
		// ClientAddr it listens on a random loopback port nobody uses.
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  n.cfg.StoreDir,
		NoSigs:    true,
	}
	if n.cfg.ClientAddr != "" {
		h, p, err := splitPort(n.cfg.ClientAddr)
		if err != nil {
			return nil, fmt.Errorf("quorum: client address %q: %w", n.cfg.ClientAddr, err)
		}
		opts.Host, opts.Port = h, p
	}
	for _, p := range n.cfg.Peers {
		if p == n.cfg.ClusterAddr {
			continue // the same peer list can be given to every node
		}
		u := &url.URL{Scheme: "nats", Host: p}
		if sec.user != "" {
			// A dialled route gives its credentials from its URL; the
			// ones learnt from peers get Cluster.Username.
			u.User = url.UserPassword(sec.user, sec.password)
		}
		opts.Routes = append(opts.Routes, u)
	}
	if sec.tls != nil {
		// The client port (in-process connections skip TLS) takes only
		// clients with a certificate of the mesh's CA, like the routes.
		opts.TLSConfig = sec.tls.Clone()
		opts.TLSVerify = true
		opts.TLSTimeout = n.cfg.Timeout.Seconds()
	}
	if sec.user != "" {
		opts.Username, opts.Password = sec.user, sec.password
	}
	// A lone node runs JetStream standalone: a JetStream cluster needs
	// routes.
	if len(opts.Routes) > 0 {
		opts.Cluster = server.ClusterOpts{Name: "geomesh-" + n.cfg.Mesh, Host: host, Port: port}
		if sec.tls != nil {
			opts.Cluster.TLSConfig = sec.tls.Clone()
			opts.Cluster.TLSTimeout = n.cfg.Timeout.Seconds()
		}
		if sec.user != "" {
			// Username and Password are what this node sends on the routes
			// it learns from peers; routeAuth is what it accepts.
			opts.Cluster.Username, opts.Cluster.Password = sec.user, sec.password
			opts.CustomRouterAuthentication = routeAuth{user: sec.user, passwords: append([]string{sec.password}, sec.accept...)}
		}
	}
	return opts, nil
}

// Conn returns the node's client connection; nil before Start.
func (n *Node) Conn() *nats.Conn {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nc
}

// Close closes the connection and shuts the embedded server down,
// waiting for it. It is idempotent and safe before Start.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	n.shutdown()
	return nil
}

func (n *Node) shutdown() {
	if n.nc != nil {
		n.nc.Close()
		n.nc = nil
	}
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func splitPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := net.LookupPort("tcp", p)
	return host, port, err
}

// deadline is ctx's deadline, or now + d if it has none.
func deadline(ctx context.Context, d time.Duration) time.Time {
	if t, ok := ctx.Deadline(); ok {
		return t
	}
	return time.Now().Add(d)
}

// logAdapter sends nats-server's log lines to slog at Debug, with the
// server's level as an attribute. The server logs expected trouble (a
// route to a region that is down, every second) as errors and warnings;
// what matters to an operator (no quorum, a decision) geomesh reports
// itself. Two kinds of line are errors: fatal ones, and those of its
// storage failing (storageLine), which are reported as OpStorage
// failures: logged at Error and counted.
type logAdapter struct {
	l    *slog.Logger
	errs *errorReporter
}

func (a *logAdapter) Noticef(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Warnf(format string, v ...any)   { a.serverError("warn", format, v...) }
func (a *logAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Errorf(format string, v ...any)  { a.serverError("error", format, v...) }
func (a *logAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Tracef(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }

func (a *logAdapter) serverError(level, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if a.errs != nil && storageLine.MatchString(msg) {
		_ = a.errs.failed(context.Background(), OpStorage, errors.New(msg))
		return
	}
	a.l.Debug(msg, "nats_level", level)
}
