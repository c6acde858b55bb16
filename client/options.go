package client

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// config holds the settings of a Consumer or a Producer. Options set its
// fields; defaults fills in the rest, in one place.
type config struct {
	region  string
	kgoOpts []kgo.Opt
	logger  *slog.Logger

	// consumer
	topics        []string
	origin        string
	resetOffset   kgo.Offset
	switchTimeout time.Duration
	commitTimeout time.Duration
	httpClient    *http.Client

	// producer
	recordIDs bool

	// keyed view
	regionOrder  []string
	dedupeWindow int

	// follower
	followInterval time.Duration
	onEvent        func(FollowEvent)
}

// defaults returns a config with every default the options document.
func defaults() config {
	return config{
		logger:        slog.Default(),
		resetOffset:   kgo.NewOffset().AtStart(),
		switchTimeout: 30 * time.Second,
		commitTimeout: 10 * time.Second,
		httpClient:    &http.Client{Timeout: 10 * time.Second},
		dedupeWindow:  100_000,

		followInterval: 500 * time.Millisecond,
	}
}

// Opt is an option that both NewConsumer and NewProducer accept.
type Opt interface {
	ConsumerOpt
	ProducerOpt
}

// ConsumerOpt configures a Consumer.
type ConsumerOpt interface{ applyConsumer(*config) }

// ProducerOpt configures a Producer.
type ProducerOpt interface{ applyProducer(*config) }

type opt func(*config)

func (o opt) applyConsumer(c *config) { o(c) }
func (o opt) applyProducer(c *config) { o(c) }

type consumerOpt func(*config)

func (o consumerOpt) applyConsumer(c *config) { o(c) }

type producerOpt func(*config)

func (o producerOpt) applyProducer(c *config) { o(c) }

// Region is the region to start in. Default: for a consumer, the origin
// region of its topics (see Origin); for a producer, the primary of an
// active-passive mesh or the hub of a hub-spoke mesh. Active-active meshes
// have no default: every region takes writes, so the application says
// which one is near it.
func Region(name string) Opt { return opt(func(c *config) { c.region = name }) }

// KgoOpts adds franz-go options to every client the Consumer or Producer
// builds (fetch and batch sizes, compression, a kgo.WithLogger). The
// connection to the region's cluster comes from the topology file, and
// the options this package sets itself (group, topics, isolation level,
// reset offset, offset adjustment) must not be overridden. Default: none.
func KgoOpts(opts ...kgo.Opt) Opt {
	return opt(func(c *config) { c.kgoOpts = append(c.kgoOpts, opts...) })
}

// CommonOpt is an option that NewConsumer, NewProducer and NewFollower
// all accept.
type CommonOpt interface {
	Opt
	FollowerOpt
}

type commonOpt func(*config)

func (o commonOpt) applyConsumer(c *config) { o(c) }
func (o commonOpt) applyProducer(c *config) { o(c) }
func (o commonOpt) applyFollower(c *config) { o(c) }

// Logger receives what a switch does and why it fell back, and what a
// Follower sees and does. Default: slog.Default().
func Logger(l *slog.Logger) CommonOpt { return commonOpt(func(c *config) { c.logger = l }) }

// Topics are the topics a Consumer reads, named as in their origin region;
// in any other region the consumer reads the copy the planned flow makes
// (the same name under identity naming, "<origin>.<topic>" under prefix
// naming). Required.
func Topics(topics ...string) ConsumerOpt {
	return consumerOpt(func(c *config) { c.topics = append(c.topics, topics...) })
}

// Origin is the region where the topics are produced. Default: the primary
// of an active-passive mesh, the hub of a hub-spoke mesh, and the start
// region (Region) of an active-active mesh.
func Origin(region string) ConsumerOpt { return consumerOpt(func(c *config) { c.origin = region }) }

// ResetOffset is where the group starts in a partition it has no committed
// offset for, in any region. Default: the start, so that nothing is
// skipped (kgo's own default too).
func ResetOffset(o kgo.Offset) ConsumerOpt {
	return consumerOpt(func(c *config) { c.resetOffset = o })
}

// SwitchTimeout bounds how long Switch waits for the translated offsets:
// for the other members of the group to leave the old region and for the
// copier to reach the group's final offsets (a translation the target
// agent reports as "behind"). Default: 30s, which covers a copy lag of tens
// of seconds; a longer lag fails the switch rather than skipping records.
func SwitchTimeout(d time.Duration) ConsumerOpt {
	return consumerOpt(func(c *config) { c.switchTimeout = d })
}

// CommitTimeout is how long Switch tries to commit the final offsets in the
// old region. When it cannot, the old region counts as gone and the
// consumer resumes from the offsets the agents synced: no gap, but the
// records consumed since the last synced commit are read again. Default:
// 10s.
func CommitTimeout(d time.Duration) ConsumerOpt {
	return consumerOpt(func(c *config) { c.commitTimeout = d })
}

// HTTPOpt is an option that NewConsumer and NewFollower accept.
type HTTPOpt interface {
	ConsumerOpt
	FollowerOpt
}

type httpOpt func(*config)

func (o httpOpt) applyConsumer(c *config) { o(c) }
func (o httpOpt) applyFollower(c *config) { o(c) }

// HTTPClient is what calls the agents' GET /v1/translate (a Consumer) and
// GET /v1/failover (a Follower): over HTTPS when the topology's api
// section has tls (give it a client that trusts the agents' CA if that is
// not in the system pool), with the api read_token as bearer token when
// one is set. Default: an http.Client with a 10s timeout per request (a
// Follower also gives up on one agent after 2s and asks the next).
func HTTPClient(h *http.Client) HTTPOpt {
	return httpOpt(func(c *config) { c.httpClient = h })
}

// RecordIDs makes the Producer give every record without a
// HeaderRecordID header a random one (16 bytes, hex). A record produced
// again after an error (to the same region or, after Switch, to another)
// keeps its id, so a KeyedView drops the second copy. Default: off.
func RecordIDs() ProducerOpt { return producerOpt(func(c *config) { c.recordIDs = true }) }

// ViewOpt configures a KeyedView.
type ViewOpt interface{ applyView(*config) }

type viewOpt func(*config)

func (o viewOpt) applyView(c *config) { o(c) }

// RegionOrder breaks ties between versions of a key with the same origin
// timestamp: the version from the region listed first wins. Every region
// must use the same order, or their views may differ. Regions not listed
// rank after those listed, by name. Default: the mesh's data regions in
// file order.
func RegionOrder(regions ...string) ViewOpt {
	return viewOpt(func(c *config) { c.regionOrder = regions })
}

// DedupeWindow is how many record ids (HeaderRecordID) a KeyedView
// remembers, oldest forgotten first. A duplicate arriving after more than
// that many other ids is reported as a new record. Memory is about 100
// bytes plus the id per entry. Default: 100,000.
func DedupeWindow(n int) ViewOpt { return viewOpt(func(c *config) { c.dedupeWindow = n }) }

// FollowerOpt configures a Follower.
type FollowerOpt interface{ applyFollower(*config) }

type followerOpt func(*config)

func (o followerOpt) applyFollower(c *config) { o(c) }

// FollowInterval is how often a Follower reads the mesh state from the
// agents. It bounds how late a producer pauses after a planned switch
// starts: records it writes in that time still reach the new primary if
// replication copies them before the flip, which needs a heartbeat
// written after the start, one per second, so keep it well below 1s.
// Each read is one small GET per agent tried. Default: 500ms.
func FollowInterval(d time.Duration) FollowerOpt {
	return followerOpt(func(c *config) { c.followInterval = d })
}

// OnEvent is called with every transition a Follower sees or makes (a new
// epoch, a pause, a switch, a resume, a failure), from one goroutine at
// a time; it should return quickly, as the client it reports on waits.
// Default: none (the Logger gets every event at Info, failures at Warn).
func OnEvent(fn func(FollowEvent)) FollowerOpt {
	return followerOpt(func(c *config) { c.onEvent = fn })
}
