package loopback

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeNeverRepeats draws more addresses than a mesh of many agents
// needs, none bound meanwhile, as local.Start does: no port may come
// twice (two agents would bind one), none from the kernel's ephemeral
// range while others remain, and none that Take marked.
func TestFreeNeverRepeats(t *testing.T) {
	Take(10000)
	low := ephemeralLow()
	seen := map[string]bool{}
	for range 3000 {
		addr, err := Free()
		if err != nil {
			t.Fatal(err)
		}
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
		_, p, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(p)
		if port == 10000 || port >= low {
			t.Fatalf("%s: want a port in [10001, %d), not taken", addr, low)
		}
	}
}
