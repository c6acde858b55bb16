package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// startAttempts bounds how often Start picks new ports after another
// process took one between picking and binding.
const startAttempts = 3

// errPortTaken marks a start that failed only because a port was taken.
var errPortTaken = errors.New("port taken by another process")

// Cluster is a real Apache Kafka cluster of JVM child processes. Its
// methods may be called from several goroutines; they serialise, so
// Close waits for a Start or StartBroker in progress.
type Cluster struct {
	opts Options

	mu        sync.Mutex // guards everything below
	started   bool
	closed    bool
	home      string // jar cache holding libs/
	version   string
	java      string
	dir       string // temporary dir holding one subdir per node
	clusterID string
	nodes     []*node
	pki       *pki // nil without Options.Security
}

// New checks opts and applies defaults. It does no I/O; Start does.
func New(opts Options) (*Cluster, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return &Cluster{opts: opts.withDefaults()}, nil
}

// Start assembles Kafka from the jar cache (running fetch.sh first if the
// jars are missing), formats a fresh KRaft cluster in a temporary
// directory and starts every node. It returns once every node serves
// metadata naming all nodes and a controller, or with an error naming the
// node that did not and the tail of its log. On error nothing is left
// running. ctx bounds the whole start, including a first download.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started || c.closed {
		return errors.New("kafkatest: Start called twice or after Close")
	}
	c.started = true
	if err := c.start(ctx); err != nil {
		return errors.Join(err, c.teardown())
	}
	return nil
}

func (c *Cluster) start(ctx context.Context) error {
	var err error
	if c.home, err = home(); err != nil {
		return err
	}
	if err := ensureJars(ctx, c.home); err != nil {
		return err
	}
	if c.version, err = jarVersion(filepath.Join(c.home, "libs")); err != nil {
		return err
	}
	if c.java, err = findJava(); err != nil {
		return err
	}
	if c.dir, err = os.MkdirTemp("", "kafkatest-"); err != nil {
		return fmt.Errorf("kafkatest: create cluster dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "log4j2.properties"), log4j2Properties, 0o644); err != nil {
		return fmt.Errorf("kafkatest: write log config: %w", err)
	}
	if c.opts.Security != nil {
		if c.pki, err = newPKI(c.dir); err != nil {
			return err
		}
		if kdc := c.opts.Security.Kerberos; kdc != nil {
			if c.pki.brokerKeytab, err = kdc.AddPrincipal(ctx, "kafka/127.0.0.1"); err != nil {
				return err
			}
		}
	}
	for attempt := 1; ; attempt++ {
		err := c.launch(ctx)
		if err == nil || !errors.Is(err, errPortTaken) || attempt == startAttempts {
			return err
		}
		if err := c.stopAll(0); err != nil {
			return err
		}
	}
}

// launch creates, formats and starts all nodes on fresh ports, replacing
// what a previous attempt left.
func (c *Cluster) launch(ctx context.Context) error {
	perNode := 2
	if c.opts.Authorizer != nil {
		perNode = 3
	}
	if c.pki != nil {
		perNode = 4
		if c.opts.Security.Kerberos != nil {
			perNode++
		}
		if c.opts.Security.OAuth != nil {
			perNode++
		}
	}
	ports, err := freePorts(perNode * c.opts.Brokers)
	if err != nil {
		return err
	}
	if c.opts.BasePort != 0 {
		for i := range ports {
			ports[i] = c.opts.BasePort + i
		}
	}
	c.clusterID = newClusterID()
	c.nodes = make([]*node, c.opts.Brokers)
	for i := range c.nodes {
		n := &node{
			id:             i,
			host:           c.opts.Host,
			dir:            filepath.Join(c.dir, fmt.Sprintf("node-%d", i)),
			brokerPort:     ports[perNode*i],
			controllerPort: ports[perNode*i+1],
		}
		if c.opts.Authorizer != nil {
			n.saslPort = ports[perNode*i+2]
		}
		if c.pki != nil {
			n.mtlsPort, n.internalPort = ports[perNode*i+2], ports[perNode*i+3]
			next := perNode*i + 4
			if c.opts.Security.Kerberos != nil {
				n.krbPort, next = ports[next], next+1
			}
			if c.opts.Security.OAuth != nil {
				n.oauthPort = ports[next]
			}
		}
		if err := os.RemoveAll(n.dir); err != nil {
			return fmt.Errorf("kafkatest: clear dir of broker %d: %w", i, err)
		}
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return fmt.Errorf("kafkatest: create dir of broker %d: %w", i, err)
		}
		c.nodes[i] = n
	}
	props := c.opts.serverProperties()
	for _, n := range c.nodes {
		if err := n.writeConfig(c.nodes, props, c.opts.Security, c.pki, c.opts.Authorizer); err != nil {
			return err
		}
	}

	// Formatting is a JVM start per node; in parallel it costs about one.
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	format := []string{"format", "--cluster-id", c.clusterID}
	if c.pki != nil {
		format = append(format, c.pki.formatArgs(c.opts.Security)...)
	}
	for i, n := range c.nodes {
		wg.Go(func() {
			err := runJava(ctx, c.opts.CommandPrefix, c.java, n.dir, n.logPath(), c.javaArgs("kafka.tools.StorageTool",
				append(format, "--config", n.propsPath())...))
			if err != nil {
				errs[i] = fmt.Errorf("kafkatest: format storage of broker %d: %w; log %s:\n%s",
					n.id, err, n.logPath(), tail(n.logPath(), 40))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	for _, n := range c.nodes {
		if err := c.startNode(n); err != nil {
			return err
		}
	}
	return c.waitReady(ctx)
}

func (c *Cluster) javaArgs(main string, args ...string) []string {
	var sec []string // security properties of the JVM
	if s := c.opts.Security; s != nil && s.Kerberos != nil {
		sec = []string{"-Djava.security.krb5.conf=" + s.Kerberos.Krb5Conf()}
	}
	if s := c.opts.Security; s != nil && s.OAuth != nil {
		// Kafka 4 reads keys only from URLs this property allows.
		sec = append(sec, "-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls="+s.OAuth.JWKSURL())
	}
	return slices.Concat(defaultJVMFlags, sec, c.opts.JVMFlags, []string{
		"-Dlog4j2.configurationFile=" + filepath.Join(c.dir, "log4j2.properties"),
		"-cp", filepath.Join(c.home, "libs", "*"),
		main,
	}, args)
}

func (c *Cluster) startNode(n *node) error {
	p, err := startJava(c.opts.CommandPrefix, c.java, n.dir, n.logPath(), c.javaArgs("kafka.Kafka", n.propsPath()))
	if err != nil {
		return fmt.Errorf("kafkatest: broker %d: %w", n.id, err)
	}
	n.proc = p
	return nil
}

// Close stops every node (SIGTERM, then SIGKILL after a few seconds) and
// removes the cluster's directory, logs included. It is idempotent and
// returns within seconds.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.teardown()
}

func (c *Cluster) teardown() error {
	err := c.stopAll(closeGrace)
	if c.dir != "" {
		if rmErr := os.RemoveAll(c.dir); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("kafkatest: remove cluster dir: %w", rmErr))
		}
	}
	return err
}

// stopAll stops the running nodes in parallel, so a cluster that loses
// quorum while shutting down costs one grace period, not one per node.
func (c *Cluster) stopAll(grace time.Duration) error {
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		if n.proc == nil {
			continue
		}
		wg.Go(func() {
			errs[i] = n.proc.stop(grace)
			n.proc = nil
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// StopBroker shuts node i down cleanly (SIGTERM; SIGKILL only after
// Options.StopTimeout) and waits for the process to exit. Its directory
// and ports are kept for StartBroker.
func (c *Cluster) StopBroker(i int) error {
	return c.stopBroker(i, c.opts.StopTimeout)
}

// KillBroker ends node i with SIGKILL, as a crash or power loss would,
// and waits for the process to exit. Its directory and ports are kept for
// StartBroker.
func (c *Cluster) KillBroker(i int) error {
	return c.stopBroker(i, 0)
}

func (c *Cluster) stopBroker(i int, grace time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(i)
	if err != nil {
		return err
	}
	if n.proc == nil {
		return fmt.Errorf("kafkatest: stop broker %d: not running", i)
	}
	err = n.proc.stop(grace)
	n.proc = nil
	return err
}

// StartBroker restarts node i, stopped by StopBroker or KillBroker, with
// its old directory and ports. It returns once every running node serves
// metadata naming every running node and every partition replica on a
// running node is back in sync, so a rolling restart can stop the next
// node at once. It fails if another process took one of the node's ports
// in the meantime.
func (c *Cluster) StartBroker(ctx context.Context, i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(i)
	if err != nil {
		return err
	}
	if n.proc != nil {
		return fmt.Errorf("kafkatest: start broker %d: already running", i)
	}
	if err := c.startNode(n); err != nil {
		return err
	}
	return c.waitReady(ctx)
}

func (c *Cluster) node(i int) (*node, error) {
	if c.closed || !c.started {
		return nil, fmt.Errorf("kafkatest: broker %d: cluster not running", i)
	}
	if i < 0 || i >= len(c.nodes) {
		return nil, fmt.Errorf("kafkatest: no broker %d in a %d-broker cluster", i, len(c.nodes))
	}
	return c.nodes[i], nil
}

// Bootstrap returns every node's client address (Options.Host:port), node i
// at index i, including nodes that are stopped; the addresses never
// change during the cluster's life.
func (c *Cluster) Bootstrap() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.addr()
	}
	return addrs
}

// ClientOptions returns the kgo options that reach this cluster: the seed
// brokers, Options.Dial if set and, on a secured cluster, TLS verified against CAFile and
// SCRAM-SHA-512 as AdminUser, a super user. Prefer it to building options
// from Bootstrap.
func (c *Cluster) ClientOptions() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Bootstrap()...)}
	if c.opts.Dial != nil {
		opts = append(opts, kgo.Dialer(c.opts.Dial))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pki != nil {
		opts = append(opts, c.pki.adminOptions()...)
	}
	return opts
}

// Version returns the Apache Kafka version, read from the jar names in
// the cache, for example "4.1.1". It is empty before Start.
func (c *Cluster) Version() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// Libs returns the directory of the jars the cluster runs, which hold
// Kafka's command-line tools too (kafka-tools), so that a test can run
// them as Kafka's bin/ scripts do: java -cp '<Libs>/*' <main class>. It
// is empty before Start.
func (c *Cluster) Libs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.home == "" {
		return ""
	}
	return filepath.Join(c.home, "libs")
}

// LogPath returns node i's log file: log4j output plus anything the JVM
// wrote to stdout or stderr, across restarts. It is empty before Start
// and after Close, which deletes the file.
func (c *Cluster) LogPath(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(i)
	if err != nil {
		return ""
	}
	return n.logPath()
}

// DataDir returns node i's log directory (log.dirs), or "" before Start
// and after Close. Benchmarks read it to see a deletion through: a deleted
// partition's directory, renamed "<topic>-<partition>.<id>-delete", and
// its open descriptor stay until the broker gets to it.
func (c *Cluster) DataDir(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(i)
	if err != nil {
		return ""
	}
	return n.dataDir()
}

// LogTail returns the last n lines of node i's log, for failure reports
// where no testing.TB is at hand (TestMain).
func (c *Cluster) LogTail(i, n int) string {
	p := c.LogPath(i)
	if p == "" {
		return fmt.Sprintf("(no log for broker %d)", i)
	}
	return tail(p, n)
}

func findJava() (string, error) {
	if h := os.Getenv("JAVA_HOME"); h != "" {
		return filepath.Join(h, "bin", "java"), nil
	}
	p, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("kafkatest: find java (set JAVA_HOME or PATH): %w", err)
	}
	return p, nil
}

// newClusterID returns a random Kafka cluster id: 16 bytes in unpadded
// URL-safe base64. Like Kafka's Uuid.randomUuid it avoids a leading '-',
// which a command line would take for a flag.
func newClusterID() string {
	for {
		b := make([]byte, 16)
		_, _ = rand.Read(b) // never fails since Go 1.24
		if id := base64.RawURLEncoding.EncodeToString(b); !strings.HasPrefix(id, "-") {
			return id
		}
	}
}
