// Package loopback hands out loopback addresses to code that must know
// its listeners' ports before it binds them: a mesh on embedded clusters
// (local.Start), whose agents join each other's addresses, and the
// tests' topology files.
package loopback

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// taken holds the ports Free returned, and those Take marked, in this
// process.
var taken = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// Free returns a 127.0.0.1 host:port that nobody listens on right now
// and that this process has not been given before.
//
// It draws below the kernel's ephemeral port range: a port the kernel
// hands out for port 0 may, between this call and the bind, become the
// local end of an outgoing connection (a Kafka or NATS client) or another
// listener's port 0, and an agent restarted on its address later finds
// it taken. A port drawn twice would go to two listeners, since several
// are named before any binds. A race with another process choosing the
// same way remains and is reported by the listener.
func Free() (string, error) {
	taken.Lock()
	defer taken.Unlock()
	try := func(port int) string {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return ""
		}
		p := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if taken.ports[p] {
			return ""
		}
		taken.ports[p] = true
		return ln.Addr().String()
	}
	if low := ephemeralLow(); low > 11000 {
		for range 100 {
			if addr := try(10000 + rand.IntN(low-10000)); addr != "" {
				return addr, nil
			}
		}
	}
	for range 100 {
		if addr := try(0); addr != "" {
			return addr, nil
		}
	}
	return "", fmt.Errorf("loopback: no free port in 200 tries")
}

// Take marks port as given, so that Free never returns it: a port bound
// by other means (a socket held to refuse connections).
func Take(port int) {
	taken.Lock()
	taken.ports[port] = true
	taken.Unlock()
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default where it cannot be read).
func ephemeralLow() int {
	const linuxDefault = 32768
	bs, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return linuxDefault
	}
	f := strings.Fields(string(bs))
	if len(f) == 0 {
		return linuxDefault
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return linuxDefault
	}
	return n
}
