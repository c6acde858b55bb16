package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geomesh/geomesh/internal/statedir"
	"github.com/geomesh/geomesh/internal/testkit"
)

// TestAgentStateDir: the agent's control-plane state directory is
// --state-dir (made absolute), else the file's control_plane.state_dir;
// an agent whose node directory another holds stops at start with exit
// 1, naming the directory and the holder's pid. --state-dir is a usage
// error with an external control plane, or naming nothing.
func TestAgentStateDir(t *testing.T) {
	hold := func(dir string) string {
		node := filepath.Join(dir, "east-1")
		l, err := statedir.Lock(node)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Unlock() })
		return node
	}
	inUse := func(node string) string {
		return fmt.Sprintf("state dir %s is in use by another agent (pid %d)", node, os.Getpid())
	}
	fileDir, flagDir := t.TempDir(), t.TempDir()
	fileNode, flagNode := hold(fileDir), hold(flagDir)
	base, err := os.ReadFile(meshFile(t, "sd", meshRegion{name: "east"}, meshRegion{name: "west"}))
	if err != nil {
		t.Fatal(err)
	}
	withDir := testkit.TempFile(t, "with-dir.yaml", string(base)+"control_plane: {embedded: true, state_dir: "+fileDir+"}\n")
	external := testkit.TempFile(t, "external.yaml", string(base)+"control_plane: {urls: [nats://"+testkit.RefusedAddr(t)+"]}\n")
	t.Chdir(filepath.Dir(flagDir))

	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"file", []string{"agent", "-t", withDir, "--region", "east"}, exitFailure, inUse(fileNode)},
		{"flag over file", []string{"agent", "-t", withDir, "--region", "east", "--state-dir", flagDir}, exitFailure, inUse(flagNode)},
		{"relative flag", []string{"agent", "-t", withDir, "--region", "east", "--state-dir", filepath.Base(flagDir)}, exitFailure, inUse(flagNode)},
		{"empty flag", []string{"agent", "-t", withDir, "--region", "east", "--state-dir", ""}, exitUsage, "--state-dir names no directory"},
		{"external", []string{"agent", "-t", external, "--region", "east", "--state-dir", flagDir}, exitUsage,
			"--state-dir applies to an embedded control plane; mesh sd uses the NATS cluster of control_plane.urls"},
	} {
		_, _, err := run(t, c.args...)
		if exitCode(err) != c.code || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("%s: %v: exit %d (%v); want %d and %q", c.name, c.args, exitCode(err), err, c.code, c.want)
		}
	}
}
