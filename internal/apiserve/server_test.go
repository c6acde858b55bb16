package apiserve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/geomesh/geomesh/topology"
	"github.com/prometheus/client_golang/prometheus"
)

// floodConns is how many unauthenticated connections TestAPIFlood holds
// open at once: issue 22's acceptance figure.
const floodConns = 1000

// The kinds of connection of the flood, one in four each.
const (
	floodBody    = iota // complete headers of a POST, and a body that never comes
	floodIdle           // one answered GET /healthz, then idle keep-alive
	floodTrickle        // headers that never end, a line every 500ms
	floodSilent         // nothing at all after the connect
	floodKinds
)

var floodKindName = [floodKinds]string{"body never sent", "idle keep-alive", "trickled headers", "silent"}

// TestAPIFlood holds 1,000 connections without a token open against the
// API, a quarter of each kind (a POST whose announced body never comes,
// idle keep-alive after a /healthz, headers trickled a line at a time,
// nothing sent at all), while a fresh client asks /healthz every 50ms.
// Every /healthz must be answered within 1s, and every held connection
// closed by the server within the timeout that applies to it: at once
// after the 401 for the unread body, the header timeout for the trickle
// and the silent ones, the idle timeout for keep-alive. With the
// default bound on pending connections, the server never holds more
// than it, sheds the oldest, and leaves a client with a token alone;
// with a bound above the flood, it holds every connection until its
// timeout. The timeouts are scaled down so the test waits seconds, not
// a minute; TestAPILimits pins the real ones.
func TestAPIFlood(t *testing.T) {
	n := raiseOpenFiles(t, floodConns)
	scaled := DefaultLimits()
	scaled.ReadHeaderTimeout, scaled.ReadTimeout, scaled.IdleTimeout = 2*time.Second, 3*time.Second, 3*time.Second
	held := scaled
	held.MaxPending = 2 * n
	t.Run("shed", func(t *testing.T) { flood(t, n, scaled) })
	t.Run("held", func(t *testing.T) { flood(t, n, held) })
}

// raiseOpenFiles raises the soft open-files limit to what want client
// connections and as many server ends need, up to the hard limit, and
// returns how many connections the limit allows, want unless the hard
// limit is too low.
func raiseOpenFiles(t *testing.T, want int) int {
	t.Helper()
	const spare = 256 // the test binary's own files and the probes
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	need := uint64(2*want + spare)
	if lim.Cur < need {
		old := lim.Cur
		lim.Cur = min(need, lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatalf("setrlimit open files %d → %d: %v", old, lim.Cur, err)
		}
		t.Logf("open-files limit raised from %d to %d", old, lim.Cur)
	}
	if lim.Cur < need {
		n := int(lim.Cur-spare) / 2
		t.Logf("open-files hard limit %d (ulimit -Hn) is too low for %d connections and their server ends: the flood holds %d", lim.Max, want, n)
		return n
	}
	return want
}

// floodConn is one held connection and what became of it.
type floodConn struct {
	kind   int
	opened time.Time
	closed time.Time // when the client saw the server close it
	status string    // the status line of an answer, if one came
	err    error     // an unexpected failure of the client side
}

func flood(t *testing.T, n int, lim Limits) {
	const readTok = "read-Tok-flood"
	reg := prometheus.NewRegistry()
	au, err := NewAuthenticator(topology.API{ReadToken: tokenFile(t, readTok), AdminToken: tokenFile(t, "admin-Tok-flood")}, reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	srv, err := Start("127.0.0.1:0", au.Wrap(Admit(mux, lim)), nil, lim, au.shed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	addr := srv.Addr()

	// A client with the read token keeps one connection through the
	// flood; the guard must never count it, nor shed it.
	authed := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	t.Cleanup(authed.CloseIdleConnections)
	var authedConns sync.Map
	authedGet := func() error {
		var local string
		ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() },
		})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/status", nil)
		req.Header.Set("Authorization", "Bearer "+readTok)
		resp, err := authed.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /v1/status with the read token: %s", resp.Status)
		}
		authedConns.Store(local, true)
		return nil
	}
	if err := authedGet(); err != nil {
		t.Fatal(err)
	}

	// /healthz from a fresh connection every 50ms, from before the flood
	// until it is over.
	probeCtx, stopProbes := context.WithCancel(t.Context())
	var (
		probeMu    sync.Mutex
		latencies  []time.Duration
		probeFails []string
	)
	var probes sync.WaitGroup
	probes.Go(func() {
		cl := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			start := time.Now()
			resp, err := cl.Get("http://" + addr + "/healthz")
			d := time.Since(start)
			probeMu.Lock()
			switch {
			case err != nil:
				probeFails = append(probeFails, err.Error())
			case resp.StatusCode != http.StatusOK:
				probeFails = append(probeFails, resp.Status)
			default:
				latencies = append(latencies, d)
			}
			probeMu.Unlock()
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			select {
			case <-probeCtx.Done():
				return
			case <-tick.C:
			}
		}
	})
	// The authenticated client asks every 500ms, on its one connection.
	var authedErrs []error
	probes.Go(func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-probeCtx.Done():
				return
			case <-tick.C:
			}
			if err := authedGet(); err != nil {
				authedErrs = append(authedErrs, err)
			}
		}
	})

	conns := make([]*floodConn, n)
	var readers sync.WaitGroup
	start := time.Now()
	for i := range n {
		fc := &floodConn{kind: i % floodKinds}
		conns[i] = fc
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d of the flood: %v", i, err)
		}
		fc.opened = time.Now()
		t.Cleanup(func() { _ = c.Close() })
		readers.Go(func() { hold(c, fc) })
	}
	t.Logf("%d connections opened in %v", n, time.Since(start).Round(time.Millisecond))
	open, pending := srv.guard.counts()
	t.Logf("server side: %d connections open, %d of them without a token", open, pending)
	if pending > lim.MaxPending {
		t.Errorf("%d connections without a token open on the server, the bound is %d", pending, lim.MaxPending)
	}

	// Keep probing until every held connection is closed, at most the
	// longest timeout and a margin for a loaded machine.
	done := make(chan struct{})
	go func() { readers.Wait(); close(done) }()
	longest := max(lim.IdleTimeout, lim.ReadHeaderTimeout) + 5*time.Second
	select {
	case <-done:
	case <-time.After(longest + 10*time.Second):
		t.Errorf("connections still open %v after the flood", longest+10*time.Second)
	}
	stopProbes()
	probes.Wait()

	probeMu.Lock()
	slices.Sort(latencies)
	if len(probeFails) > 0 {
		t.Errorf("%d of %d /healthz failed during the flood, first: %s", len(probeFails), len(probeFails)+len(latencies), probeFails[0])
	}
	if len(latencies) == 0 {
		t.Fatal("no /healthz answered")
	}
	worst := latencies[len(latencies)-1]
	t.Logf("/healthz during the flood: %d answered, median %v, 99th percentile %v, worst %v",
		len(latencies), latencies[len(latencies)/2], latencies[len(latencies)*99/100], worst)
	if worst > time.Second {
		t.Errorf("/healthz took %v during the flood, want under 1s", worst)
	}
	probeMu.Unlock()

	bound := [floodKinds]time.Duration{
		floodBody:    time.Second, // the 401 closes at once
		floodIdle:    lim.IdleTimeout,
		floodTrickle: lim.ReadHeaderTimeout,
		floodSilent:  lim.ReadHeaderTimeout,
	}
	const margin = 2 * time.Second // scheduling on a loaded machine
	var worstBy [floodKinds]time.Duration
	var answered [floodKinds]int
	for i, fc := range conns {
		if fc.err != nil {
			t.Errorf("connection %d (%s): %v", i, floodKindName[fc.kind], fc.err)
			continue
		}
		if fc.closed.IsZero() {
			t.Errorf("connection %d (%s) was never closed", i, floodKindName[fc.kind])
			continue
		}
		d := fc.closed.Sub(fc.opened)
		worstBy[fc.kind] = max(worstBy[fc.kind], d)
		if d > bound[fc.kind]+margin {
			t.Errorf("connection %d (%s) held for %v, want at most %v", i, floodKindName[fc.kind], d.Round(time.Millisecond), bound[fc.kind])
		}
		if fc.status != "" {
			answered[fc.kind]++
		}
	}
	for k := range floodKinds {
		t.Logf("%s: held at most %v (bound %v), %d answered", floodKindName[k], worstBy[k].Round(time.Millisecond), bound[k], answered[k])
	}
	shed := counterValue(t, au.shed)
	t.Logf("shed by the guard: %v", shed)
	if lim.MaxPending < n && shed < float64(n/2-lim.MaxPending) {
		// Half the flood (idle and body ones aside) waits for a request.
		t.Errorf("%v connections shed, want at least %d", shed, n/2-lim.MaxPending)
	}
	if lim.MaxPending >= 2*n && shed != 0 {
		t.Errorf("%v connections shed under a bound of %d", shed, lim.MaxPending)
	}
	if len(authedErrs) > 0 {
		t.Errorf("the client with a token failed %d times, first: %v", len(authedErrs), authedErrs[0])
	}
	var used int
	authedConns.Range(func(any, any) bool { used++; return true })
	if used != 1 {
		t.Errorf("the client with a token used %d connections, want its one kept through the flood", used)
	}
}

// hold plays one connection of the flood and notes when the server
// closed it.
func hold(c net.Conn, fc *floodConn) {
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReader(c)
	switch fc.kind {
	case floodBody:
		_, fc.err = io.WriteString(c, "POST /v1/failover HTTP/1.1\r\nHost: geomesh\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	case floodIdle:
		if _, fc.err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: geomesh\r\n\r\n"); fc.err == nil {
			var resp *http.Response
			if resp, fc.err = http.ReadResponse(br, nil); fc.err == nil {
				fc.status = resp.Status
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	case floodTrickle:
		go func() {
			for i := 0; ; i++ {
				msg := "GET /v1/status HTTP/1.1\r\n"
				if i > 0 {
					msg = fmt.Sprintf("X-Slow-%d: x\r\n", i)
				}
				if _, err := io.WriteString(c, msg); err != nil {
					return
				}
				time.Sleep(500 * time.Millisecond)
			}
		}()
	}
	if fc.err != nil {
		if isClosed(fc.err) {
			// Shed by the guard before it was even answered.
			fc.err, fc.closed = nil, time.Now()
		}
		return
	}
	// Read until the server closes: an answer may come first (the 401).
	if fc.kind == floodBody {
		if resp, err := http.ReadResponse(br, nil); err == nil {
			fc.status = resp.Status
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	_, err := io.Copy(io.Discard, br)
	switch {
	case err == nil, isClosed(err):
		fc.closed = time.Now()
	default:
		fc.err = err
	}
}

// isClosed reports whether err is the server closing the connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// TestAPIAdmission: a handler that runs past the read timeout keeps its
// request's context, with or without a body (translate waits up to 30s
// and commands 10s, beyond the 10s read timeout); an admitted body over
// the limit is refused with 413; a refused request's body is never read.
func TestAPIAdmission(t *testing.T) {
	const adminTok = "admin-Tok-adm"
	au, err := NewAuthenticator(topology.API{AdminToken: tokenFile(t, adminTok)}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	lim := DefaultLimits()
	lim.ReadHeaderTimeout, lim.ReadTimeout, lim.MaxBody = 300*time.Millisecond, 500*time.Millisecond, 1024
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case <-time.After(2 * lim.ReadTimeout):
			WriteJSON(w, http.StatusOK, map[string]any{"body": len(body)})
		case <-r.Context().Done():
			WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "context ended: " + r.Context().Err().Error()})
		}
	})
	srv, err := Start("127.0.0.1:0", au.Wrap(Admit(slow, lim)), nil, lim, au.shed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	do := func(method, token, body string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), method, "http://"+srv.Addr()+"/v1/slow", strings.NewReader(body))
		if body == "" {
			req.Body = http.NoBody
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s with a %d-byte body: %v", method, len(body), err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := do(http.MethodGet, adminTok, ""); code != http.StatusOK {
		t.Errorf("GET past the read timeout: %d %s", code, body)
	}
	if code, body := do(http.MethodPost, adminTok, `{"to":"eu-west"}`); code != http.StatusOK || !strings.Contains(body, `"body": 16`) {
		t.Errorf("POST with a body past the read timeout: %d %s", code, body)
	}
	if code, body := do(http.MethodPost, adminTok, strings.Repeat("x", 2000)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("POST with a 2000-byte body over a 1024-byte limit: %d %s", code, body)
	}

	// A refused request that announces a body and sends none: the 401
	// comes and the connection closes at once, without the read timeout.
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, _ = io.WriteString(c, "POST /v1/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := io.Copy(io.Discard, br); err != nil && !isClosed(err) {
		t.Fatal(err)
	}
	if d := time.Since(start); resp.StatusCode != http.StatusUnauthorized || d >= lim.ReadTimeout {
		t.Errorf("refused POST without its body: %s, closed after %v; want 401 and closed before the read timeout (%v)", resp.Status, d, lim.ReadTimeout)
	}
}
