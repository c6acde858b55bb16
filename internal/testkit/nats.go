package testkit

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsReady bounds how long NATSServer waits for the server to take
// connections: seconds on a loaded machine, with JetStream.
const natsReady = 10 * time.Second

// NATSServer starts an in-process NATS server with opts, returns once it
// takes connections, and shuts it down when the test ends: a control
// plane of the test's own, an external one as an operator runs it. opts
// should say Port: server.RANDOM_PORT and NoSigs; srv.Addr() tells the
// port.
func NATSServer(tb testing.TB, opts *server.Options) *server.Server {
	tb.Helper()
	srv, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("testkit: nats server: %v", err)
	}
	srv.Start()
	tb.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(natsReady) {
		tb.Fatalf("testkit: nats server not ready within %v", natsReady)
	}
	return srv
}
