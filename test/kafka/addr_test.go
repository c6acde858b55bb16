package kafkatest_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	kafkatest "github.com/geomesh/geomesh/test/kafka"
)

// TestRefusedAddr: a dial to the address is refused at once, nothing can
// listen there while the test runs, and the port is free again after it.
func TestRefusedAddr(t *testing.T) {
	var addr string
	t.Run("held", func(t *testing.T) {
		addr = kafkatest.RefusedAddr(t)
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			c.Close()
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s: %v, want connection refused", addr, err)
		}
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("listen on %s: %v, want address in use", addr, err)
		}
	})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s after the test that held it: %v", addr, err)
	}
	l.Close()
}
