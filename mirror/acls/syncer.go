package acls

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/geomesh/geomesh/broker"
	"github.com/geomesh/geomesh/internal/loop"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Requester sends one Kafka request; *kgo.Client satisfies it.
type Requester interface {
	Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
}

// Config configures a Syncer. Zero values take the defaults named on each
// field, applied by New.
type Config struct {
	// Mapping turns source ACLs into target ACLs. Mapping.Flow is required.
	Mapping Mapping

	// SourceName and TargetName name the regions in errors and status.
	SourceName, TargetName string

	// SourceKafka and TargetKafka are the regions' connection settings,
	// used only to name geomesh's principal when a request is refused.
	SourceKafka, TargetKafka *topology.Kafka

	// Source and Target reach the two clusters. Required. The Syncer
	// does not close them.
	Source, Target Requester

	// Interval between passes of Run. Default 1 s, so an ACL reaches the
	// target within about two seconds: a pass is two DescribeACLs
	// requests, cheap at any ACL count a cluster holds.
	Interval time.Duration

	// PassTimeout bounds one pass. Default 10 s.
	PassTimeout time.Duration

	// Logger receives one line per ACL created or deleted and per failed
	// pass. Default: discard.
	Logger *slog.Logger
}

// Status is the Syncer's state for the agent's status page.
type Status struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	Writable bool   `json:"writable"`
	// Owned is how many target ACLs geomesh created and keeps in step.
	Owned   int       `json:"owned"`
	Created int       `json:"created"`
	Deleted int       `json:"deleted"`
	LastRun time.Time `json:"last_run,omitzero"`
	// Error of the last pass, empty when it succeeded.
	Error string `json:"error,omitempty"`
}

// Syncer mirrors one flow's ACLs; see the package doc.
type Syncer struct {
	cfg    Config
	cfgErr error

	passMu sync.Mutex // serializes passes; taken before mu
	mu     sync.Mutex // guards the fields below, never held across I/O
	owned  map[ACL]bool
	status Status
}

// New returns a Syncer. It does no I/O; a config error is returned by the
// first SyncOnce or Run.
func New(cfg Config) *Syncer {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.PassTimeout <= 0 {
		cfg.PassTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var errs []error
	if cfg.Mapping.Flow == nil {
		errs = append(errs, errors.New("flow is required"))
	}
	if cfg.Source == nil || cfg.Target == nil {
		errs = append(errs, errors.New("source and target clients are required"))
	}
	var cfgErr error
	if len(errs) > 0 {
		cfgErr = fmt.Errorf("acl sync %s -> %s: %w", cfg.SourceName, cfg.TargetName, errors.Join(errs...))
	}
	return &Syncer{
		cfg:    cfg,
		cfgErr: cfgErr,
		owned:  map[ACL]bool{},
		status: Status{Source: cfg.SourceName, Target: cfg.TargetName, Writable: cfg.Mapping.Writable},
	}
}

// SetWritable says whether the target region is now primary for the
// flow's topics. The failover wiring calls it on promotion (true) and
// demotion (false); the next pass grants or withdraws WRITE.
func (s *Syncer) SetWritable(w bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Mapping.Writable = w
	s.status.Writable = w
}

// Status returns a snapshot; safe from any goroutine.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Owned = len(s.owned)
	return st
}

// Run runs a pass at once, then every Interval, until ctx ends; then it
// returns ctx's error.
func (s *Syncer) Run(ctx context.Context) error {
	if s.cfgErr != nil {
		return s.cfgErr
	}
	loop.Every(ctx, s.cfg.Interval, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.PassTimeout)
		defer cancel()
		_ = s.SyncOnce(ctx) // recorded in Status and logged
	})
	return ctx.Err()
}

// SyncOnce runs one pass.
func (s *Syncer) SyncOnce(ctx context.Context) error {
	if s.cfgErr != nil {
		return s.cfgErr
	}
	s.passMu.Lock()
	defer s.passMu.Unlock()
	err := s.pass(ctx)
	s.mu.Lock()
	s.status.LastRun = time.Now()
	prev := s.status.Error
	s.status.Error = ""
	if err != nil {
		s.status.Error = err.Error()
	}
	s.mu.Unlock()
	// A pass runs every second: log a problem when it starts or changes,
	// not on every pass. A cluster without an authorizer is a setup, not
	// a fault.
	switch {
	case err != nil && err.Error() == prev:
	case errors.Is(err, ErrNoAuthorizer):
		s.cfg.Logger.Info("acl sync idle", "source", s.cfg.SourceName, "target", s.cfg.TargetName, "reason", err)
	case err != nil:
		s.cfg.Logger.Warn("acl sync failed", "source", s.cfg.SourceName, "target", s.cfg.TargetName, "err", err)
	case prev != "":
		s.cfg.Logger.Info("acl sync recovered", "source", s.cfg.SourceName, "target", s.cfg.TargetName)
	}
	return err
}

func (s *Syncer) pass(ctx context.Context) error {
	src, err := describe(ctx, s.cfg.Source, syncedTypes)
	if err != nil {
		return explain(s.cfg.SourceName, s.cfg.SourceKafka, "DESCRIBE", "the CLUSTER (to read its ACLs)", err)
	}
	tgtList, err := describe(ctx, s.cfg.Target, syncedTypes)
	if err != nil {
		return explain(s.cfg.TargetName, s.cfg.TargetKafka, "DESCRIBE", "the CLUSTER (to read its ACLs)", err)
	}
	tgt := map[ACL]bool{}
	for _, a := range tgtList {
		tgt[a] = true
	}
	s.mu.Lock()
	m := s.cfg.Mapping
	s.mu.Unlock()
	want := map[ACL]bool{}
	var create []ACL
	for _, a := range m.Desired(src) {
		want[a] = true
		if !tgt[a] {
			create = append(create, a)
		}
	}
	// Delete only what this Syncer created; an ACL it did not create is
	// an operator's, whatever it looks like.
	var remove []ACL
	s.mu.Lock()
	for a := range s.owned {
		if !want[a] {
			if tgt[a] {
				remove = append(remove, a)
			} else {
				delete(s.owned, a) // gone already, by someone else's hand
			}
		}
	}
	s.mu.Unlock()
	var errs []error
	if len(create) > 0 {
		done, err := s.target().create(ctx, create)
		errs = append(errs, err)
		s.mu.Lock()
		for _, a := range done {
			s.owned[a] = true
			s.cfg.Logger.Info("acl created", "target", s.cfg.TargetName, "acl", a.String())
		}
		s.status.Created += len(done)
		s.mu.Unlock()
	}
	if len(remove) > 0 {
		done, err := s.target().delete(ctx, remove)
		errs = append(errs, err)
		s.mu.Lock()
		for _, a := range done {
			delete(s.owned, a)
			s.cfg.Logger.Info("acl deleted", "target", s.cfg.TargetName, "acl", a.String())
		}
		s.status.Deleted += len(done)
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (s *Syncer) target() cluster {
	return cluster{region: s.cfg.TargetName, kafka: s.cfg.TargetKafka, cl: s.cfg.Target}
}

// ErrNoAuthorizer is a cluster that keeps no ACLs at all: it neither
// mirrors them nor can deny a write.
var ErrNoAuthorizer = errors.New("the cluster has no authorizer (authorizer.class.name is unset), so it keeps no ACLs")

// explain names what a refused or failed request of geomesh lacked.
func explain(region string, k *topology.Kafka, op, resource string, err error) error {
	if errors.Is(err, kerr.SecurityDisabled) {
		return fmt.Errorf("region %s: %w", region, ErrNoAuthorizer)
	}
	if e := broker.Denied(region, k, op, resource, err); e != err {
		return e
	}
	return fmt.Errorf("region %s: acls: %w", region, broker.Explain(region, k, err))
}

// syncedTypes are the resources whose ACLs the Syncer mirrors.
var syncedTypes = []kmsg.ACLResourceType{kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup}

// describe lists a cluster's ACLs of the resource types, any pattern.
func describe(ctx context.Context, cl Requester, types []kmsg.ACLResourceType) ([]ACL, error) {
	var out []ACL
	for _, rt := range types {
		req := kmsg.NewPtrDescribeACLsRequest()
		req.ResourceType = rt
		req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
		req.Operation = kmsg.ACLOperationAny
		req.PermissionType = kmsg.ACLPermissionTypeAny
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if resp.ErrorMessage != nil {
				return nil, fmt.Errorf("describe acls: %w: %s", err, *resp.ErrorMessage)
			}
			return nil, fmt.Errorf("describe acls: %w", err)
		}
		for _, r := range resp.Resources {
			for _, a := range r.ACLs {
				out = append(out, ACL{ResourceType: r.ResourceType, Name: r.ResourceName, Pattern: r.ResourcePatternType,
					Principal: a.Principal, Host: a.Host, Operation: a.Operation, Permission: a.PermissionType})
			}
		}
	}
	return out, nil
}

// cluster is one region's cluster as the ACL requests that change it
// see it: where to send them and how to name a refusal.
type cluster struct {
	region string
	kafka  *topology.Kafka
	cl     Requester
}

func (c cluster) explain(op, resource string, err error) error {
	return explain(c.region, c.kafka, op, resource, err)
}

// create makes the ACLs and returns those that were made.
func (c cluster) create(ctx context.Context, acls []ACL) ([]ACL, error) {
	req := kmsg.NewPtrCreateACLsRequest()
	for _, a := range acls {
		cr := kmsg.NewCreateACLsRequestCreation()
		cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = a.ResourceType, a.Name, a.Pattern
		cr.Principal, cr.Host, cr.Operation, cr.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
		req.Creations = append(req.Creations, cr)
	}
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return nil, c.explain("ALTER", "the CLUSTER (to create ACLs)", err)
	}
	codes := make([]int16, len(resp.Results))
	for i, r := range resp.Results {
		codes[i] = r.ErrorCode
	}
	return c.outcome("create", acls, codes)
}

// outcome splits a create or delete request's ACLs, whose per-ACL error
// codes the response gives in request order, into those done and an
// error naming each that failed.
func (c cluster) outcome(verb string, acls []ACL, codes []int16) ([]ACL, error) {
	var done []ACL
	var errs []error
	for i, code := range codes[:min(len(codes), len(acls))] {
		if err := kerr.ErrorForCode(code); err != nil {
			errs = append(errs, c.explain("ALTER", "the CLUSTER (to "+verb+" "+acls[i].String()+")", err))
			continue
		}
		done = append(done, acls[i])
	}
	return done, errors.Join(errs...)
}

// delete removes exactly the given ACLs: each filter names every field,
// so it matches that ACL alone.
func (c cluster) delete(ctx context.Context, acls []ACL) ([]ACL, error) {
	req := kmsg.NewPtrDeleteACLsRequest()
	for _, a := range acls {
		f := kmsg.NewDeleteACLsRequestFilter()
		name, principal, host := a.Name, a.Principal, a.Host
		f.ResourceType, f.ResourceName, f.ResourcePatternType = a.ResourceType, &name, a.Pattern
		f.Principal, f.Host, f.Operation, f.PermissionType = &principal, &host, a.Operation, a.Permission
		req.Filters = append(req.Filters, f)
	}
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return nil, c.explain("ALTER", "the CLUSTER (to delete ACLs)", err)
	}
	codes := make([]int16, len(resp.Results))
	for i, r := range resp.Results {
		codes[i] = r.ErrorCode
	}
	return c.outcome("delete", acls, codes)
}
