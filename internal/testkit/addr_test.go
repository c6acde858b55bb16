package testkit_test

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
)

// TestFreeAddr: each address is a new one, and a listener can take it.
func TestFreeAddr(t *testing.T) {
	a, b := testkit.FreeAddr(t), testkit.FreeAddr(t)
	if a == b {
		t.Fatalf("FreeAddr gave %s twice", a)
	}
	for _, addr := range []string{a, b} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on %s: %v", addr, err)
		}
		l.Close()
	}
}

// TestRefusedAddr: a dial to the address is refused at once, nothing can
// listen there while the test runs, and the port is free again after it.
func TestRefusedAddr(t *testing.T) {
	var addr string
	t.Run("held", func(t *testing.T) {
		addr = testkit.RefusedAddr(t)
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

// TestSilentAddr: a dial succeeds and nothing ever answers; once the test
// that took the address ends, the connection is closed and a dial is
// refused.
func TestSilentAddr(t *testing.T) {
	var addr string
	var c net.Conn
	if !t.Run("held", func(t *testing.T) {
		addr = testkit.SilentAddr(t)
		var err error
		if c, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		if _, err := c.Write([]byte("hello?")); err != nil {
			t.Fatalf("write to %s: %v", addr, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read from %s: %d bytes, %v; want no answer", addr, n, err)
		}
	}) {
		return
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read from %s after the test that held it: %v, want the connection closed", addr, err)
	}
	d, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		d.Close()
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s after the test that held it: %v, want connection refused", addr, err)
	}
}

// TestTempFile: the file holds the content, for this user's eyes only.
func TestTempFile(t *testing.T) {
	path := testkit.TempFile(t, "secret", "s3cret\n")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "s3cret\n" {
		t.Errorf("%s holds %q, want %q", path, b, "s3cret\n")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
}
