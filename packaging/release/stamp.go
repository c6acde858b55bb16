package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// stamp is what a release build writes into the binary (main.version,
// main.commit, main.date of cmd/geomesh) and into the image's labels.
type stamp struct {
	Version string
	Commit  string
	// Date is the commit's time, not the build's: two builds of one
	// commit give the same bytes.
	Date time.Time
}

// stampOf reads the commit and its time from the git checkout at root.
// version "" means `git describe --tags --always --dirty`.
func stampOf(ctx context.Context, root, version string) (stamp, error) {
	commit, err := git(ctx, root, "rev-parse", "HEAD")
	if err != nil {
		return stamp{}, err
	}
	when, err := git(ctx, root, "log", "-1", "--format=%cI")
	if err != nil {
		return stamp{}, err
	}
	date, err := time.Parse(time.RFC3339, when)
	if err != nil {
		return stamp{}, fmt.Errorf("commit time %q of %s: %w", when, commit, err)
	}
	if version == "" {
		if version, err = git(ctx, root, "describe", "--tags", "--always", "--dirty"); err != nil {
			return stamp{}, err
		}
	}
	return stamp{Version: version, Commit: commit, Date: date.UTC()}, nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return "", fmt.Errorf("git %s in %s: %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("git %s in %s: %w", strings.Join(args, " "), dir, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// ldflags stamp the binary and strip its symbol tables.
func (s stamp) ldflags() string {
	return fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s -X main.date=%s",
		s.Version, s.Commit, s.Date.Format(time.RFC3339))
}
