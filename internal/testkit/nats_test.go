package testkit_test

import (
	"net"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/nats-io/nats-server/v2/server"
)

// TestNATSServer: the server takes connections when NATSServer returns,
// and is gone when the test that started it ends.
func TestNATSServer(t *testing.T) {
	var srv *server.Server
	t.Run("running", func(t *testing.T) {
		srv = testkit.NATSServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true})
		c, err := net.DialTimeout("tcp", srv.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", srv.Addr(), err)
		}
		c.Close()
	})
	if srv.Running() {
		t.Error("server still running after the test that started it")
	}
}
