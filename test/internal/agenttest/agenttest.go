// Package agenttest runs geomesh agents in the test's own process for the
// tests under test/, which point them at real clusters (test/kafka): one
// copy of the start and stop that test/e2e and test/secure share. Agents
// that run as processes of their own are built with
// testkit.BuildGeomesh; a whole mesh on embedded clusters is
// local/meshtest's.
package agenttest

import (
	"log/slog"
	"testing"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/topology"
)

// Start loads the topology file at path and starts the first agent of
// each of regions, in that order, logging to log. They keep their
// control-plane state in a directory of the test's. Each is closed when
// the test ends, and an error closing it fails the test.
func Start(tb testing.TB, path string, log *slog.Logger, regions ...string) []*agent.Agent {
	tb.Helper()
	m, err := topology.Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	var out []*agent.Agent
	for _, r := range regions {
		a, err := agent.New(agent.Config{Mesh: m, Region: r, Logger: log, ControlDir: dir})
		if err != nil {
			tb.Fatal(err)
		}
		if err := a.Start(tb.Context()); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() {
			if err := a.Close(); err != nil {
				tb.Error(err)
			}
		})
		out = append(out, a)
	}
	return out
}
