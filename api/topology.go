package api

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// TopologyVersion is one stored version of a mesh's topology: the body of
// GET /v1/topology and what the control plane keeps for each version.
type TopologyVersion struct {
	// Version counts from 1; each apply stores the next one.
	Version uint64 `json:"version"`
	// SHA256 is the hex digest of Source.
	SHA256 string `json:"sha256"`
	// AppliedAt and AppliedBy say when and by whom (the request's "by",
	// else the agent that stored it) the version was stored.
	AppliedAt time.Time `json:"applied_at"`
	AppliedBy string    `json:"applied_by,omitempty"`
	// RollbackOf is the version this one rolled back (its Source is that
	// of RollbackOf-1); 0 for an ordinary apply.
	RollbackOf uint64 `json:"rollback_of,omitempty"`
	// Source is the topology file as applied, secrets by reference.
	Source string `json:"source"`
}

// Digest returns the hex SHA-256 of a topology file's bytes, as
// TopologyVersion.SHA256 holds it.
func Digest(source []byte) string {
	sum := sha256.Sum256(source)
	return hex.EncodeToString(sum[:])
}

// ApplyRequest is the body of POST /v1/topology.
type ApplyRequest struct {
	// Source is the new topology file.
	Source string `json:"source"`
	// Expected is the version the change was reviewed against: the apply
	// is refused (409) if another version was stored since. 0: none is
	// stored yet, and the agent's own topology is the old side.
	Expected uint64 `json:"expected"`
	// DryRun only validates and lists the changes; nothing is stored.
	DryRun bool `json:"dry_run,omitempty"`
	// By names who applies, for the record.
	By string `json:"by,omitempty"`
	// RollbackOf marks a rollback (see TopologyVersion.RollbackOf).
	RollbackOf uint64 `json:"rollback_of,omitempty"`
}

// TopologyChange is one difference between two topology versions.
type TopologyChange struct {
	Path string `json:"path"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
	// Live is false for a change the agents take only at their next
	// restart (their own listeners, the gossip and control-plane
	// settings).
	Live bool `json:"live"`
	// Refused says why a running mesh cannot take the change.
	Refused string `json:"refused,omitempty"`
}

// ApplyResponse answers POST /v1/topology: the changes from the stored
// version (or the agent's own file when none is stored), and the version
// stored (0 for a dry run or a refusal).
type ApplyResponse struct {
	Version uint64           `json:"version"`
	From    uint64           `json:"from"`
	Changes []TopologyChange `json:"changes"`
	// Errors are the new file's problems as file:line:col: message.
	Errors []string `json:"errors,omitempty"`
	// Error says why the apply was refused; empty when it was not.
	Error string `json:"error,omitempty"`
}

// TopologyStatus is the topology an agent runs, in /v1/status.
type TopologyStatus struct {
	// Version is the stored version the agent runs; 0 while it runs its
	// topology file (none stored, or the control plane not read yet).
	Version uint64 `json:"version"`
	SHA256  string `json:"sha256"`
	// Source is "file" or "control-plane".
	Source string `json:"source"`
	// PendingRestart lists the settings of the running version that the
	// agent takes only when it restarts.
	PendingRestart []string `json:"pending_restart,omitempty"`
	// Rejected says why the agent could not take the newest stored
	// version, which it keeps watching.
	Rejected string `json:"rejected,omitempty"`
}
