package topology

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Insecure names a setting that exposes a mesh to anyone on its network.
// Parse refuses each one in use unless the file lists its name under
// allow_insecure, and the agent warns of each one at every start. Traffic
// that stays on loopback addresses exposes nothing, so local meshes need
// no allowance.
type Insecure string

const (
	// InsecureSASLPlainWithoutTLS: a region's kafka uses SASL PLAIN
	// without tls, so the password crosses the network in the clear.
	InsecureSASLPlainWithoutTLS Insecure = "sasl-plain-without-tls"
	// InsecureSkipVerifyWithPassword: a region's kafka skips certificate
	// verification (insecure_skip_verify) and authenticates with a
	// password, which anyone who can pose as a broker then receives.
	InsecureSkipVerifyWithPassword Insecure = "insecure-skip-verify-with-password"
	// InsecureControlPlaneWithoutTLS: the control plane is reached on a
	// non-loopback address without tls: embedded nodes accept any host
	// as a peer, or decisions and credentials of an external one cross
	// the network in the clear.
	InsecureControlPlaneWithoutTLS Insecure = "control-plane-without-tls"
	// InsecureAPIWithoutToken: an agent serves its API on a non-loopback
	// address with no admin_token, so anyone who reaches it can fail
	// regions over.
	InsecureAPIWithoutToken Insecure = "api-without-token"
)

func (Insecure) values() []string {
	return []string{string(InsecureSASLPlainWithoutTLS), string(InsecureSkipVerifyWithPassword),
		string(InsecureControlPlaneWithoutTLS), string(InsecureAPIWithoutToken)}
}

// insecureUse is one insecure setting in a mesh: its kind, the path of the
// value that makes it so, and a sentence saying what it exposes.
type insecureUse struct {
	kind Insecure
	path string
	what string
}

// insecureUses lists the insecure settings of m, at most one of each kind
// per region or mesh-wide setting, in file order.
func insecureUses(m *Mesh) []insecureUse {
	var uses []insecureUse
	for i, r := range m.Regions {
		k := r.Kafka
		if k == nil || k.SASL == nil || allLoopback(k.Bootstrap) {
			continue
		}
		p := fmt.Sprintf("regions[%d].kafka", i)
		if k.SASL.Mechanism == "PLAIN" && k.TLS == nil {
			uses = append(uses, insecureUse{InsecureSASLPlainWithoutTLS, p + ".sasl.mechanism",
				fmt.Sprintf("region %s sends its kafka password in the clear (sasl PLAIN without tls)", r.Name)})
		}
		if k.TLS != nil && k.TLS.InsecureSkipVerify && k.SASL.Mechanism != "GSSAPI" {
			uses = append(uses, insecureUse{InsecureSkipVerifyWithPassword, p + ".tls.insecure_skip_verify",
				fmt.Sprintf("region %s sends its kafka password to brokers whose certificates it does not verify (insecure_skip_verify)", r.Name)})
		}
	}
	cp := m.ControlPlane
	if cp.TLS == nil {
		if cp.Embedded {
			if p, addr, ok := firstExposed(m, func(a Agent) string { return a.Control }, "control"); ok {
				uses = append(uses, insecureUse{InsecureControlPlaneWithoutTLS, p,
					fmt.Sprintf("the embedded control plane listens on %s without tls: any host that reaches it can join it as a peer and have its writes acknowledged", addr)})
			}
		}
		for i, raw := range cp.URLs {
			if u, err := url.Parse(raw); err == nil && u.Scheme == "nats" && !isLoopback(u.Hostname()) {
				uses = append(uses, insecureUse{InsecureControlPlaneWithoutTLS, fmt.Sprintf("control_plane.urls[%d]", i),
					fmt.Sprintf("the control plane at %s is reached without tls: its decisions and the agents' credentials cross the network in the clear", raw)})
				break
			}
		}
	}
	if m.API.AdminToken.Ref == "" {
		if p, addr, ok := firstExposed(m, func(a Agent) string { return a.API }, "api"); ok {
			uses = append(uses, insecureUse{InsecureAPIWithoutToken, p,
				fmt.Sprintf("agents serve their API on non-loopback addresses such as %s without tokens: anyone who reaches one can fail regions over", addr)})
		}
	}
	return uses
}

// firstExposed finds the first agent address that is not on loopback.
func firstExposed(m *Mesh, addr func(Agent) string, key string) (path, a string, ok bool) {
	for i, r := range m.Regions {
		for j, ag := range r.Agents {
			if v := addr(ag); v != "" && !allLoopback([]string{v}) {
				return fmt.Sprintf("regions[%d].agents[%d].%s", i, j, key), v, true
			}
		}
	}
	return "", "", false
}

// allLoopback reports whether every host:port in addrs is on a loopback
// address; one that does not parse counts as exposed.
func allLoopback(addrs []string) bool {
	for _, a := range addrs {
		host, err := splitAddr(a)
		if err != nil || !isLoopback(host) {
			return false
		}
	}
	return len(addrs) > 0
}

// Insecure describes each insecure setting the mesh uses, all of them
// allowed by its allow_insecure list (Parse refuses the others), one
// sentence each, for the agent to warn of at every start.
func (m *Mesh) Insecure() []string {
	var out []string
	for _, u := range insecureUses(m) {
		out = append(out, fmt.Sprintf("%s: %s", u.kind, u.what))
	}
	return out
}

// insecure refuses each insecure setting the file does not allow.
func (c *checker) insecure() {
	for _, u := range insecureUses(c.m) {
		if slices.Contains(c.m.AllowInsecure, u.kind) || c.brokenWithin(u.path) {
			continue
		}
		if cp := c.m.ControlPlane; u.kind == InsecureControlPlaneWithoutTLS && cp.Embedded && len(cp.URLs) > 0 {
			continue // embedded and urls both: already refused, and which one is meant is unknown
		}
		c.errorAt(u.path, "%s; %s, or accept the risk with allow_insecure: [%s]", u.what, fixOf(u.kind), u.kind)
	}
}

// fixOf says how to make a setting safe.
func fixOf(k Insecure) string {
	switch k {
	case InsecureSASLPlainWithoutTLS:
		return "add kafka tls, or use SCRAM-SHA-512"
	case InsecureSkipVerifyWithPassword:
		return "give tls a ca_file that signs the brokers' certificates instead"
	case InsecureControlPlaneWithoutTLS:
		return "add control_plane tls (docs/security.md)"
	case InsecureAPIWithoutToken:
		return "set api read_token and admin_token, or listen on loopback"
	}
	return strings.ToUpper(string(k))
}
