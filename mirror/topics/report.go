package topics

import (
	"fmt"
	"time"
)

// Report is the outcome of one pass.
type Report struct {
	Started time.Time
	Took    time.Duration

	// Selected is how many source topics the flow selected.
	Selected int
	// Created lists target topics created this pass.
	Created []Created
	// Grown lists target topics whose partitions were added.
	Grown []Grown
	// Surplus lists target topics with more partitions than their source
	// (a source re-created smaller, or grown by hand). Not an error: the
	// extra partitions receive no copies.
	Surplus []Surplus
	// Configs lists config keys set or deleted on target topics.
	Configs []ConfigChange
	// Orphaned lists target topics whose source topic is gone and that
	// were kept (DeleteOff, not created by this Syncer, or missing for
	// only one pass so far).
	Orphaned []Orphan
	// Deleted lists target topics deleted under DeleteFollow.
	Deleted []string
	// Errors are the failures of this pass, each a *TopicError (or a
	// *ClusterError when a listing failed and the pass stopped early).
	Errors []error
}

// Changed reports whether the pass changed the target.
func (r *Report) Changed() bool {
	return len(r.Created)+len(r.Grown)+len(r.Configs)+len(r.Deleted) > 0
}

// Created is a topic created on the target.
type Created struct {
	Source, Target    string
	Partitions        int32
	ReplicationFactor int16
	Configs           map[string]string
}

// Grown is a target topic whose partition count was raised.
type Grown struct {
	Topic    string
	From, To int
}

// Surplus is a target topic with more partitions than its source.
type Surplus struct {
	Topic                              string
	SourcePartitions, TargetPartitions int
}

// Orphan is a target topic whose source is gone.
type Orphan struct {
	Source, Target string
	// MissingPasses counts consecutive passes without the source topic.
	MissingPasses int
	// Owned reports whether this Syncer created the target topic, which
	// DeleteFollow requires.
	Owned bool
}

// TopicError is a failure concerning one topic on one cluster.
type TopicError struct {
	Cluster string // region name of the cluster where it failed
	Topic   string
	Op      string // what was attempted: "create", "grow partitions 3 -> 6", "set config retention.ms", ...
	Err     error
}

func (e *TopicError) Error() string {
	return fmt.Sprintf("cluster %s topic %s: %s: %v", e.Cluster, e.Topic, e.Op, e.Err)
}

func (e *TopicError) Unwrap() error { return e.Err }

// ClusterError is a failure of a request about a whole cluster, such as
// listing its topics.
type ClusterError struct {
	Cluster string
	Op      string
	Err     error
}

func (e *ClusterError) Error() string {
	return fmt.Sprintf("cluster %s: %s: %v", e.Cluster, e.Op, e.Err)
}

func (e *ClusterError) Unwrap() error { return e.Err }

// Status is a snapshot of a Syncer, for the status API.
type Status struct {
	Source string `json:"source"`
	Target string `json:"target"`
	// LastSync is when the last pass finished, successful or not; zero
	// before the first.
	LastSync time.Time `json:"last_sync"`
	// LastPassError is the last pass's first error text, "" if it was clean.
	LastPassError string `json:"last_pass_error,omitempty"`
	Passes        uint64 `json:"passes"`
	// ErrorsTotal counts errors over all passes.
	ErrorsTotal uint64 `json:"errors_total"`
	// Topics is keyed by target topic name.
	Topics map[string]TopicStatus `json:"topics"`
}

// TopicStatus is the state of one mirrored topic.
type TopicStatus struct {
	Source     string `json:"source"`
	Target     string `json:"target"`
	Partitions int    `json:"partitions"`
	// Owned reports whether this Syncer created the target topic.
	Owned bool `json:"created_by_geomesh"`
	// LastSync is the end of the last pass that brought the topic in
	// line with its source without error.
	LastSync time.Time `json:"last_sync"`
	// LastError is the text of the latest error for this topic, cleared
	// by a clean pass.
	LastError string `json:"last_error,omitempty"`
}
