package apiserve

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/geomesh/geomesh/api"
	"github.com/prometheus/client_golang/prometheus"
)

// Limits bound what a client of the API can hold without a token:
// how long each part of a request may take, how large it may be, and how
// many connections that have shown no valid token may be open at once.
// DefaultLimits holds the values, with the reason for each.
type Limits struct {
	// ReadHeaderTimeout bounds the request line and headers, from the
	// accept (a TLS handshake included) or from the first byte of a
	// keep-alive connection's next request. It is a deadline, not an
	// idle gap: headers trickled a byte at a time (slowloris) are cut
	// off at it all the same.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the whole request, headers and body. A request
	// refused for its token never has its body read: the 401 closes the
	// connection. Only an admitted request's body is read, up to MaxBody.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the
	// end of its response, and so every handler: it must exceed the
	// longest, a translation (30s), and an operator command (10s).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no next
	// request within it.
	IdleTimeout time.Duration
	// MaxPending bounds the connections open at once that have not shown
	// a valid token (with no token configured, every connection): a new
	// one beyond it closes the oldest of them that waits for a request
	// (new or idle), else the oldest, so that a flood of idle or
	// trickling connections cannot use up the process's open files and
	// starve /healthz, the control plane's store or the Kafka clients.
	MaxPending int
	// MaxBody bounds an admitted request's body (the API's bodies are
	// small JSON objects); a larger one is refused with 413.
	MaxBody int64
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int
}

// DefaultLimits are the API server's limits.
func DefaultLimits() Limits {
	return Limits{
		// Headers take one round trip; 5s covers a lossy WAN link.
		ReadHeaderTimeout: 5 * time.Second,
		// The largest body, 64 KiB, within a second on any link.
		ReadTimeout: 10 * time.Second,
		// Above translate's 30s, with time to write the answer.
		WriteTimeout: 45 * time.Second,
		// Prometheus scrapes every 15–60s and probes come every 10s:
		// keeping their connections helps a little, holding them long
		// helps nobody.
		IdleTimeout: 30 * time.Second,
		// Clients without a token are probes (kubelet, load balancers)
		// and, without API tokens, Prometheus and the CLI: tens at most.
		MaxPending:     256,
		MaxBody:        64 << 10,
		MaxHeaderBytes: 16 << 10,
	}
}

// Server owns the listener and the serving goroutine.
type Server struct {
	srv   *http.Server
	ln    net.Listener
	guard *connGuard
	done  chan error
}

// Start serves h on addr, over TLS when tc is not nil, within lim;
// shed counts the connections the guard closes (nil: not counted). The
// agent's h is the token check around admit around the endpoints.
func Start(addr string, h http.Handler, tc *tls.Config, lim Limits, shed prometheus.Counter) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("api listener %s: %w", addr, err)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	g := newConnGuard(lim.MaxPending, shed)
	s := &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: lim.ReadHeaderTimeout,
			ReadTimeout:       lim.ReadTimeout,
			WriteTimeout:      lim.WriteTimeout,
			IdleTimeout:       lim.IdleTimeout,
			MaxHeaderBytes:    lim.MaxHeaderBytes,
			ConnContext:       g.connContext,
			ConnState:         g.connState,
		},
		ln:    ln,
		guard: g,
		done:  make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

func (s *Server) Addr() string { return s.ln.Addr().String() }

// close stops accepting, lets in-flight requests finish within the
// context's time, and waits for the serving goroutine.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serveErr := <-s.done; err == nil {
		err = serveErr
	}
	return err
}

// admit runs after the token check (Authenticator.wrap): it reads an
// admitted request's body, at most lim.MaxBody, within what is left of
// the read timeout, before the handler runs. Requests to the open
// endpoints never have a body read: one that announces a body is
// answered and its connection closed.
func Admit(h http.Handler, lim Limits) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			if classify(r) == accessOpen {
				hangUp(w)
			} else {
				body, err := io.ReadAll(io.LimitReader(r.Body, lim.MaxBody+1))
				switch {
				case err != nil:
					hangUp(w)
					WriteJSON(w, http.StatusBadRequest, api.ErrorResponse{Error: "reading the request body: " + err.Error()})
					return
				case int64(len(body)) > lim.MaxBody:
					hangUp(w)
					WriteJSON(w, http.StatusRequestEntityTooLarge, api.ErrorResponse{Error: fmt.Sprintf("request body over %d bytes", lim.MaxBody)})
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
		}
		// With the body read to its end, net/http watches the connection
		// for the client's going away without a deadline: the read
		// timeout does not end a long handler's context (TestAPIAdmission).
		h.ServeHTTP(w, r)
	})
}

// hangUp makes the answer being written the connection's last, and
// keeps the server from reading a body the request announced and nobody
// read: after a handler, net/http drains up to 256 KiB of it to reuse
// the connection, and would wait the read timeout for a body that never
// comes. Call it before writing the answer; the answer's write is not
// affected.
func hangUp(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// connGuard bounds the connections that have not shown a valid token
// (Limits.MaxPending). The server calls connContext from its accept
// loop and connState from there and from its connection goroutines; they
// hold the guard's lock for a scan of the open connections and the close
// of a shed one's socket, which does not block, never for other I/O.
type connGuard struct {
	max  int
	shed prometheus.Counter

	mu      sync.Mutex
	conns   map[net.Conn]*guardedConn
	pending int // open, not authenticated, not shed
}

// guardedConn is one connection as the guard sees it.
type guardedConn struct {
	g      *connGuard
	conn   net.Conn
	state  http.ConnState
	since  time.Time // of the last state change
	authed bool      // a request on it carried a valid token
	shed   bool      // the guard closed it
}

type guardKey struct{}

func newConnGuard(max int, shed prometheus.Counter) *connGuard {
	return &connGuard{max: max, shed: shed, conns: map[net.Conn]*guardedConn{}}
}

// connContext registers a connection the server has just accepted, and
// sheds the oldest pending ones while their number is over the bound.
func (g *connGuard) connContext(ctx context.Context, c net.Conn) context.Context {
	gc := &guardedConn{g: g, conn: c, state: http.StateNew, since: time.Now()}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.conns[c] = gc
	g.pending++
	for g.pending > g.max {
		var victim *guardedConn
		for _, o := range g.conns {
			if !o.authed && !o.shed && (victim == nil || shedsBefore(o, victim)) {
				victim = o
			}
		}
		if victim == nil {
			break
		}
		victim.shed = true
		g.pending--
		if g.shed != nil {
			g.shed.Inc()
		}
		closeNow(victim.conn)
	}
	return context.WithValue(ctx, guardKey{}, gc)
}

// connState follows a connection's state.
func (g *connGuard) connState(c net.Conn, state http.ConnState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gc := g.conns[c]
	if gc == nil {
		return
	}
	switch state {
	case http.StateClosed, http.StateHijacked:
		delete(g.conns, c)
		if !gc.authed && !gc.shed {
			g.pending--
		}
	default:
		gc.state, gc.since = state, time.Now()
	}
}

// shedsBefore reports whether o goes before v when the guard sheds: a
// connection that waits for a request (new, idle) before one in a
// request, then the one in its state for longer.
func shedsBefore(o, v *guardedConn) bool {
	ow, vw := o.state != http.StateActive, v.state != http.StateActive
	if ow != vw {
		return ow
	}
	return o.since.Before(v.since)
}

// authenticated marks the connection of r as one that showed a valid
// token: it no longer counts against the bound.
func authenticated(r *http.Request) {
	gc, ok := r.Context().Value(guardKey{}).(*guardedConn)
	if !ok {
		return
	}
	g := gc.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if !gc.authed && !gc.shed {
		gc.authed = true
		g.pending--
	}
}

// counts reports the open connections the guard knows and how many of
// them are pending.
func (g *connGuard) counts() (open, pending int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns), g.pending
}

// closeNow closes c's socket without a TLS close alert, which could
// wait on a client that reads nothing.
func closeNow(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	_ = c.Close()
}
