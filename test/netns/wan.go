//go:build linux

package netns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Link is what a WAN link adds to traffic between two namespaces. The
// zero value adds nothing (traffic still passes the relay).
type Link struct {
	// Delay is added to every chunk of a TCP stream and every UDP
	// datagram, each way: a round trip over the link gains 2×Delay.
	Delay time.Duration
	// Jitter adds a further uniform random delay of up to Jitter. TCP
	// stays in order: a chunk never overtakes the one before it.
	Jitter time.Duration
	// Loss is the fraction of packets lost, 0 to 1. A lost UDP datagram
	// is dropped. TCP retransmits, so a stream sees loss as stalls: a
	// chunk holding a lost packet (each 1448-byte packet lost with
	// probability Loss) is held a further RTO, 200ms, Linux's minimum
	// retransmission timeout, and the stream behind it waits.
	Loss float64
}

// rto is the extra hold of a TCP chunk that lost a packet.
const rto = 200 * time.Millisecond

// mss is the payload of one TCP packet on a 1500-byte link.
const mss = 1448

func (l Link) validate() error {
	var errs []error
	if l.Delay < 0 || l.Jitter < 0 {
		errs = append(errs, fmt.Errorf("negative delay %s or jitter %s", l.Delay, l.Jitter))
	}
	if l.Loss < 0 || l.Loss > 1 || math.IsNaN(l.Loss) {
		errs = append(errs, fmt.Errorf("loss %v outside 0..1", l.Loss))
	}
	return errors.Join(errs...)
}

// hold returns how long a chunk of n bytes waits on l.
func (l Link) hold(n int, udp bool) (time.Duration, bool) {
	d := l.Delay
	if l.Jitter > 0 {
		d += rand.N(l.Jitter)
	}
	if l.Loss == 0 {
		return d, true
	}
	if udp {
		return d, rand.Float64() >= l.Loss
	}
	packets := (n + mss - 1) / mss
	if rand.Float64() < 1-math.Pow(1-l.Loss, float64(packets)) {
		d += rto
	}
	return d, true
}

// SetLink puts l on the traffic from sends to to: the TCP connections
// from opens to to, both ways, and the UDP datagrams from sends to to's
// Options.RelayUDPPorts, and their replies. It may be called again to
// change the link while traffic flows; chunks already held keep their
// time. Connections that to opens to from are from's link only if
// SetLink(to, from) gives one; WAN sets both.
func (n *Net) SetLink(from, to *NS, l Link) error {
	if err := l.validate(); err != nil {
		return fmt.Errorf("netns: link %s → %s: %w", from.Region, to.Region, err)
	}
	e, err := n.egressOf(from)
	if err != nil {
		return fmt.Errorf("netns: link %s → %s: %w", from.Region, to.Region, err)
	}
	if err := e.set(to, l); err != nil {
		return fmt.Errorf("netns: link %s → %s: %w", from.Region, to.Region, err)
	}
	return nil
}

// WAN puts l on the traffic between a and b, both ways.
func (n *Net) WAN(a, b *NS, l Link) error {
	return errors.Join(n.SetLink(a, b, l), n.SetLink(b, a, l))
}

func (n *Net) egressOf(s *NS) (*egress, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, errors.New("net closed")
	}
	if e := n.egress[s]; e != nil {
		return e, nil
	}
	e, err := startEgress(s, n.opts.RelayUDPPorts)
	if err != nil {
		return nil, err
	}
	n.egress[s] = e
	return e, nil
}

// egress is one namespace's relay for its outgoing WAN traffic. TCP
// connections to a linked address are redirected (nft) to one listener,
// which reads their original destination from conntrack; UDP datagrams
// to a linked address and relayed port are redirected to a socket per
// destination, since UDP keeps no original destination to read.
type egress struct {
	s        *NS
	udpPorts []int
	ln       net.Listener
	ctx      context.Context // cancelled by close
	cancel   context.CancelFunc
	done     <-chan struct{} // ctx.Done()
	wg       sync.WaitGroup  // every goroutine of the relay

	mu     sync.Mutex // guards below
	links  map[netip.Addr]Link
	conns  map[net.Conn]struct{}
	udp    []*udpRelay
	closed bool
}

func startEgress(s *NS, udpPorts []int) (*egress, error) {
	ln, err := s.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := s.nft(fmt.Sprintf("add rule ip geomesh wan ip daddr @wan_to meta l4proto tcp redirect to :%d\n", port)); err != nil {
		ln.Close()
		return nil, err
	}
	e := &egress{
		s: s, udpPorts: udpPorts, ln: ln,
		links: map[netip.Addr]Link{}, conns: map[net.Conn]struct{}{},
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.done = e.ctx.Done()
	e.wg.Go(e.accept)
	return e, nil
}

func (e *egress) link(to netip.Addr) Link {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.links[to]
}

func (e *egress) set(to *NS, l Link) error {
	e.mu.Lock()
	_, known := e.links[to.Addr]
	e.links[to.Addr] = l
	e.mu.Unlock()
	if known {
		return nil
	}
	var script strings.Builder
	fmt.Fprintf(&script, "add element ip geomesh wan_to { %s }\n", to.Addr)
	for _, port := range e.udpPorts {
		r, err := e.startUDP(netip.AddrPortFrom(to.Addr, uint16(port)))
		if err != nil {
			return err
		}
		fmt.Fprintf(&script, "add rule ip geomesh wan ip daddr %s udp dport %d dnat to %s\n", to.Addr, port, r.in.LocalAddr())
	}
	return e.s.nft(script.String())
}

func (e *egress) close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.cancel()
	err := e.ln.Close()
	for c := range e.conns {
		c.Close()
	}
	for _, r := range e.udp {
		r.close()
	}
	e.mu.Unlock()
	e.wg.Wait()
	return err
}

// track registers c to be closed by close; false if the relay is
// closing already.
func (e *egress) track(c net.Conn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.conns[c] = struct{}{}
	return true
}

func (e *egress) untrack(c net.Conn) {
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
	c.Close()
}

func (e *egress) accept() {
	for {
		c, err := e.ln.Accept()
		if err != nil {
			return // closed
		}
		if !e.track(c) {
			c.Close()
			return
		}
		e.wg.Go(func() { e.relay(c) })
	}
}

// relay copies between an accepted connection and its original
// destination.
func (e *egress) relay(c net.Conn) {
	defer e.untrack(c)
	dst, err := originalDst(c)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	up, err := e.s.dial(ctx, "tcp4", dst.String(), fwmark)
	cancel()
	if err != nil {
		return // the caller sees its connection closed, as on a reset
	}
	if !e.track(up) {
		up.Close()
		return
	}
	defer e.untrack(up)
	var wg sync.WaitGroup
	wg.Go(func() { e.pipe(up, c, dst.Addr()) })
	wg.Go(func() { e.pipe(c, up, dst.Addr()) })
	wg.Wait()
}

type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst, each chunk held by the link to peer. It ends
// when either side fails; at src's clean end it half-closes dst.
func (e *egress) pipe(dst, src net.Conn, peer netip.Addr) {
	q := make(chan chunk, 64)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(q)
		var last time.Time
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				d, _ := e.link(peer).hold(n, false)
				due := time.Now().Add(d)
				if due.Before(last) {
					due = last
				}
				last = due
				select {
				case q <- chunk{buf[:n], due}:
				case <-stop:
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	defer wg.Wait()
	defer close(stop)
	for c := range q {
		if !sleepUntil(c.due, e.done) {
			dst.Close()
			return
		}
		if _, err := dst.Write(c.b); err != nil {
			src.Close()
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// sleepUntil waits until t; false if done closed first.
func sleepUntil(t time.Time, done <-chan struct{}) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-done:
		return false
	}
}

// originalDst reads the destination a redirected connection had before
// nft redirected it (SO_ORIGINAL_DST).
func originalDst(c net.Conn) (netip.AddrPort, error) {
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var mreq *syscall.IPv6Mreq
	var serr error
	if err := rc.Control(func(fd uintptr) {
		// sockaddr_in fits the 20 bytes of this struct; Go has no
		// getsockopt for it by name.
		mreq, serr = syscall.GetsockoptIPv6Mreq(int(fd), syscall.SOL_IP, soOriginalDst)
	}); err != nil {
		return netip.AddrPort{}, err
	}
	if serr != nil {
		return netip.AddrPort{}, fmt.Errorf("SO_ORIGINAL_DST: %w", serr)
	}
	b := mreq.Multiaddr
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:4])), nil
}

// soOriginalDst is SO_ORIGINAL_DST from linux/netfilter_ipv4.h.
const soOriginalDst = 80

// udpRelay forwards the datagrams local senders address to one remote
// endpoint, through one outgoing socket per sender so that replies find
// their way back.
type udpRelay struct {
	e      *egress
	target netip.AddrPort
	in     net.PacketConn // 127.0.0.1:port, what nft redirects to
	q      chan datagram

	mu     sync.Mutex // guards below; taken after egress.mu where both are
	outs   map[netip.AddrPort]net.PacketConn
	closed bool
}

type datagram struct {
	b    []byte
	due  time.Time
	send func([]byte)
}

func (e *egress) startUDP(target netip.AddrPort) (*udpRelay, error) {
	in, err := e.s.listenPacket("udp4", "127.0.0.1:0", 0)
	if err != nil {
		return nil, err
	}
	r := &udpRelay{e: e, target: target, in: in, q: make(chan datagram, 1024), outs: map[netip.AddrPort]net.PacketConn{}}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		in.Close()
		return nil, errors.New("relay closed")
	}
	e.udp = append(e.udp, r)
	e.mu.Unlock()
	e.wg.Go(r.readIn)
	e.wg.Go(r.send)
	return r, nil
}

// close closes the sockets; the relay's goroutines then end. e.mu is
// held.
func (r *udpRelay) close() {
	r.in.Close()
	r.mu.Lock()
	r.closed = true
	for _, o := range r.outs {
		o.Close()
	}
	r.mu.Unlock()
}

// hold queues b for sending, or drops it as the link loses it.
func (r *udpRelay) hold(b []byte, send func([]byte)) {
	d, ok := r.e.link(r.target.Addr()).hold(len(b), true)
	if !ok {
		return
	}
	select {
	case r.q <- datagram{b, time.Now().Add(d), send}:
	default: // a full queue drops, as a router's would
	}
}

func (r *udpRelay) readIn() {
	for {
		buf := make([]byte, 64<<10)
		n, from, err := r.in.ReadFrom(buf)
		if err != nil {
			return
		}
		src := from.(*net.UDPAddr).AddrPort()
		out, err := r.out(src)
		if err != nil {
			continue
		}
		r.hold(buf[:n], func(b []byte) { _, _ = out.WriteTo(b, net.UDPAddrFromAddrPort(r.target)) })
	}
}

// out returns the outgoing socket for local sender src, opening it and
// its reply reader on first use.
func (r *udpRelay) out(src netip.AddrPort) (net.PacketConn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("relay closed")
	}
	if o := r.outs[src]; o != nil {
		return o, nil
	}
	o, err := r.e.s.listenPacket("udp4", netip.AddrPortFrom(r.e.s.Addr, 0).String(), fwmark)
	if err != nil {
		return nil, err
	}
	r.outs[src] = o
	r.e.wg.Go(func() {
		for {
			buf := make([]byte, 64<<10)
			n, _, err := o.ReadFrom(buf)
			if err != nil {
				return
			}
			// Sent from the redirect address, conntrack gives the reply
			// the remote endpoint's source, as the sender expects.
			r.hold(buf[:n], func(b []byte) { _, _ = r.in.WriteTo(b, net.UDPAddrFromAddrPort(src)) })
		}
	})
	return o, nil
}

// send writes queued datagrams when they are due.
func (r *udpRelay) send() {
	for {
		select {
		case d := <-r.q:
			if !sleepUntil(d.due, r.e.done) {
				return
			}
			d.send(d.b)
		case <-r.e.done:
			return
		}
	}
}
