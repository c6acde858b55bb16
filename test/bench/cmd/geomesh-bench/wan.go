package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// wan runs a throughput scenario (wan: random values, json-wan: JSON
// events) with every copier in a network namespace
// of its own whose loopback reaches the clusters only through proxies of
// this process: the source cluster's port with wanDelay each way, the
// target's without delay. Kafka advertises 127.0.0.1:<port>, and inside the
// namespace 127.0.0.1:<port> is the proxy, so clients keep using it after
// the metadata round trip. This kernel has no netem; the proxies delay in
// user space. The source's proxies count the bytes they carry from the
// source to the copier: what a copier fetches over the WAN link.
func (b *bench) wan(ctx context.Context, scenario string) error {
	ns := fmt.Sprintf("geomesh-bench-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s (needs root): %w: %s", ns, err, out)
	}
	defer func() { _ = exec.Command("ip", "netns", "del", ns).Run() }()
	if out, err := exec.Command("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("bring up lo in %s: %w: %s", ns, err, out)
	}
	var proxies []*proxy
	defer func() {
		for _, p := range proxies {
			p.close()
		}
		b.wanProxies = nil
	}()
	for _, c := range []struct {
		addrs []string
		delay time.Duration
	}{{b.src.Bootstrap(), b.opts.wanDelay}, {b.dst.Bootstrap(), 0}} {
		for _, a := range c.addrs {
			p, err := listenInNetns(ns, a, c.delay)
			if err != nil {
				return err
			}
			proxies = append(proxies, p)
			if c.delay > 0 {
				b.wanProxies = append(b.wanProxies, p)
			}
		}
	}
	b.netns = ns
	defer func() { b.netns = "" }()
	b.res.WANDelayMs = float64(b.opts.wanDelay.Milliseconds())
	return b.throughput(ctx, scenario, b.opts.wanRecords)
}

// wanBytes is the bytes the WAN link has carried from the source so far;
// zero outside WAN scenarios.
func (b *bench) wanBytes() int64 {
	var n int64
	for _, p := range b.wanProxies {
		n += p.down.Load()
	}
	return n
}

// proxy forwards connections accepted inside a network namespace to the
// same address in the runner's namespace, delaying every byte by delay in
// each direction.
type proxy struct {
	ln    net.Listener
	to    string
	delay time.Duration
	down  atomic.Int64 // bytes from the proxied address to the clients
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

// listenInNetns opens a listener on addr inside the named namespace. The
// socket belongs to the namespace it was created in, so only the thread
// creating it switches namespaces, and then switches back.
func listenInNetns(ns, addr string, delay time.Duration) (*proxy, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// If switching back fails the thread stays locked and dies with
		// the goroutine, so no other goroutine runs in the namespace.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		ln, lerr := net.Listen("tcp", addr)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: errors.Join(lerr, fmt.Errorf("setns back: %w", err))}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{ln: ln, err: lerr}
	}()
	r := <-ch
	if r.err != nil {
		return nil, fmt.Errorf("listen on %s in namespace %s: %w", addr, ns, r.err)
	}
	return newProxy(r.ln, addr, delay), nil
}

// newProxy serves ln, forwarding every connection to to.
func newProxy(ln net.Listener, to string, delay time.Duration) *proxy {
	p := &proxy{ln: ln, to: to, delay: delay}
	p.wg.Add(1)
	go p.serve()
	return p
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.to)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(up, c, nil)
		go p.pipe(c, up, &p.down)
	}
}

// pipe copies src to dst, holding each chunk until delay after it was read.
// The reader runs ahead of the writer (up to 1024 chunks), so the delay is
// latency, not a bandwidth limit. Written bytes are added to count when
// it is not nil.
func (p *proxy) pipe(dst, src net.Conn, count *atomic.Int64) {
	defer dst.Close()
	defer src.Close()
	if count != nil {
		dst = countingConn{dst, count}
	}
	if p.delay == 0 {
		_, _ = io.Copy(dst, src)
		return
	}
	type chunk struct {
		b   []byte
		due time.Time
	}
	ch := make(chan chunk, 1024)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{buf[:n], time.Now().Add(p.delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		if _, err := dst.Write(c.b); err != nil {
			// Unblock the reader: closing src ends its Read.
			src.Close()
			for range ch {
			}
			return
		}
	}
}

// countingConn adds what it writes to n.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	k, err := c.Conn.Write(b)
	c.n.Add(int64(k))
	return k, err
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
