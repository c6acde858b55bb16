//go:build linux

package netns

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// fwmark tags the sockets of the relays, so their own connections to
// other namespaces pass the redirect rules that sent traffic to them.
const fwmark = 0x676d

// baseRules is every namespace's nft table. cut_to holds the addresses
// the namespace may not send to: the plain rule drops packets addressed
// to them, the conntrack rule also those a relay redirected (their
// original destination is the cut address). wan_to holds the addresses
// whose TCP connections go through the namespace's delaying relay; the
// rules that redirect to it are added when the relay starts.
var baseRules = fmt.Sprintf(`table ip geomesh {
	set cut_to { type ipv4_addr; }
	set wan_to { type ipv4_addr; }
	chain out {
		type filter hook output priority 0; policy accept;
		ip daddr @cut_to drop
		ct original ip daddr @cut_to drop
	}
	chain wan {
		type nat hook output priority -100; policy accept;
		meta mark %#x return
	}
}
`, fwmark)

// nft runs an nft script inside s, as one transaction.
func (s *NS) nft(script string) error {
	if err := run([]byte(script), "ip", "netns", "exec", s.Name, "nft", "-f", "-"); err != nil {
		return fmt.Errorf("nft in %s: %w", s.Region, err)
	}
	return nil
}

// Cut partitions a and b from each other, both ways: every packet
// between them is dropped, on open connections too, until Heal.
func (n *Net) Cut(a, b *NS) error {
	return errors.Join(a.setCut(b, true), b.setCut(a, true))
}

// CutOneWay drops what from sends to to, and only that: to's packets
// still reach from. A TCP connection cannot work one way (its
// acknowledgements are lost), so this shows in UDP gossip, where to
// still hears from and from no longer hears to's replies.
func (n *Net) CutOneWay(from, to *NS) error { return from.setCut(to, true) }

// Isolate cuts s from every other namespace of the Net, as a region
// whose WAN links all failed (a witness cut off).
func (n *Net) Isolate(s *NS) error {
	var errs []error
	for _, o := range n.Spaces() {
		if o != s {
			errs = append(errs, n.Cut(s, o))
		}
	}
	return errors.Join(errs...)
}

// Heal undoes every cut between a and b, both ways.
func (n *Net) Heal(a, b *NS) error {
	return errors.Join(a.setCut(b, false), b.setCut(a, false))
}

// HealAll undoes every cut of the Net.
func (n *Net) HealAll() error {
	var errs []error
	for _, s := range n.Spaces() {
		s.mu.Lock()
		s.cuts = nil
		errs = append(errs, s.writeCuts())
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// setCut adds or removes to in s's cut set, rewriting the set in one
// transaction.
func (s *NS) setCut(to *NS, cut bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cuts == nil {
		s.cuts = map[netip.Addr]struct{}{}
	}
	if cut {
		s.cuts[to.Addr] = struct{}{}
	} else {
		delete(s.cuts, to.Addr)
	}
	return s.writeCuts()
}

// writeCuts replaces s's cut set with s.cuts; s.mu is held.
func (s *NS) writeCuts() error {
	script := "flush set ip geomesh cut_to\n"
	if len(s.cuts) > 0 {
		var addrs []string
		for _, a := range slices.SortedFunc(maps.Keys(s.cuts), netip.Addr.Compare) {
			addrs = append(addrs, a.String())
		}
		script += fmt.Sprintf("add element ip geomesh cut_to { %s }\n", strings.Join(addrs, ", "))
	}
	return s.nft(script)
}
