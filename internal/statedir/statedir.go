// Package statedir holds where an agent keeps its control-plane state
// and the lock that keeps two agents out of one directory.
//
// A mesh's state directory (control_plane.state_dir) holds one node
// directory per agent, <dir>/<agent id>, where the agent's embedded NATS
// node keeps its JetStream files. Its defaults, in one place:
//
//	geomesh agent (the service)   /var/lib/geomesh/<mesh>            [Service]
//	geomesh up                    $XDG_STATE_HOME/geomesh/<mesh>     [User]
//	                              (~/.local/state/geomesh/<mesh>)
//	demo, meshtest, tests         a directory per run, removed after it (package local)
//
// Two agents in one node directory would each believe the other's
// decisions were their own: with two meshes of one name on a host the
// second mesh's primary fenced itself seconds after its promotion. [Lock]
// takes an exclusive flock on <node dir>/geomesh.lock for as long as the
// agent runs; a second agent, in this process or another, fails at once
// with an [InUseError] that names the directory and the holder's pid.
package statedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ServiceRoot is the parent of the service's state directories: the
// directory the systemd unit of deploy/systemd creates and keeps
// (StateDirectory=geomesh).
const ServiceRoot = "/var/lib/geomesh"

// LockFile is the name of the lock file in a node directory.
const LockFile = "geomesh.lock"

// Service is the default state directory of mesh under `geomesh agent`:
// /var/lib/geomesh/<mesh>.
func Service(mesh string) string { return filepath.Join(ServiceRoot, mesh) }

// User is the default state directory of mesh under `geomesh up`:
// $XDG_STATE_HOME/geomesh/<mesh>, else ~/.local/state/geomesh/<mesh>
// (the XDG base directory specification's place for state that should
// outlive a restart but is not worth a backup).
func User(mesh string) (string, error) {
	base := os.Getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(base) {
		// The specification says to ignore a relative value.
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("state directory of mesh %s: no $XDG_STATE_HOME and %w", mesh, err)
		}
		base = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(base, "geomesh", mesh), nil
}

// Node is the directory of agent id's control-plane node in the mesh's
// state directory dir.
func Node(dir, id string) string { return filepath.Join(dir, id) }

// InUseError is the error of Lock on a node directory that another agent
// holds.
type InUseError struct {
	Dir string
	// PID is the process that holds the lock, as it wrote it into the
	// lock file; 0 if unknown.
	PID int
}

func (e *InUseError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("state dir %s is in use by another agent (pid %d)", e.Dir, e.PID)
	}
	return fmt.Sprintf("state dir %s is in use by another agent", e.Dir)
}

// A Locked node directory stays locked until Unlock, or until the process
// ends, whatever ends it: the kernel drops a flock with the last file
// descriptor.
type Locked struct {
	f *os.File
}

// Lock creates the node directory dir (mode 0750, with its parents) if it
// is missing and takes an exclusive lock on dir/geomesh.lock, without
// waiting. It writes this process's pid into the file for the error of
// the next one. If another agent holds the lock, the error is an
// *InUseError; every error names dir.
func Lock(dir string) (*Locked, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	if err := flock(f); err != nil {
		var pid int
		if b, rerr := os.ReadFile(path); rerr == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, &InUseError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("state dir %s: lock %s: %w", dir, LockFile, err)
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("state dir %s: write %s: %w", dir, LockFile, err)
	}
	return &Locked{f: f}, nil
}

// Unlock releases the lock. The file stays: removing it could let a
// third agent lock a new file while a second still holds the old one.
// It is idempotent.
func (l *Locked) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
