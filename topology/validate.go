package topology

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// checker runs the checks that need more than one value at a time, after
// decoding and defaults, and reports at the positions the decoder recorded.
type checker struct {
	*decoder
	m       *Mesh
	opts    options
	regions map[string]*Region // by name, the first of a name
}

// region is m.Region in constant time.
func (c *checker) region(name string) (*Region, bool) {
	r, ok := c.regions[name]
	return r, ok
}

// at is where the value at path is written or, for a value the file leaves
// out, where its nearest written ancestor is.
func (c *checker) at(path string) pos {
	for p := path; ; p = parent(p) {
		if pl, ok := c.places[p]; ok {
			return pl.val
		}
		if p == "" {
			return pos{1, 1}
		}
	}
}

// keyAt is like at but points at the key, for things that are missing.
func (c *checker) keyAt(path string) pos {
	for p := path; ; p = parent(p) {
		if pl, ok := c.places[p]; ok {
			return pl.key
		}
		if p == "" {
			return pos{1, 1}
		}
	}
}

func (c *checker) set(path string) bool { _, ok := c.places[path]; return ok }

// isBroken reports whether the decoder already complained about path or
// what contains it; a second message about the same mistake is noise.
func (c *checker) isBroken(path string) bool {
	for p := path; p != ""; p = parent(p) {
		if c.broken[p] {
			return true
		}
	}
	return false
}

// brokenWithin reports whether anything at or below path failed to decode.
func (c *checker) brokenWithin(path string) bool {
	if c.isBroken(path) {
		return true
	}
	for p := range c.broken {
		if strings.HasPrefix(p, path+".") || strings.HasPrefix(p, path+"[") {
			return true
		}
	}
	return false
}

func (c *checker) errorAt(path, format string, args ...any) {
	if c.isBroken(path) {
		return
	}
	if path != "" && !c.set(path) {
		// A default the file never wrote: say so, since the position is
		// only that of the nearest thing the file does write.
		format += " (" + path + " is not in the file: this is its default)"
	}
	c.errorf(c.at(path), format, args...)
}

func (c *checker) errorAtKey(path, format string, args ...any) {
	if !c.isBroken(path) {
		c.errorf(c.keyAt(path), format, args...)
	}
}

// firstSet picks, among values that together break a rule, the first one
// the file sets, so the message points at something the operator wrote.
func (c *checker) firstSet(paths ...string) string {
	for _, p := range paths {
		if c.set(p) {
			return p
		}
	}
	return paths[0]
}

func validate(d *decoder, m *Mesh, o options) {
	c := &checker{decoder: d, m: m, opts: o, regions: map[string]*Region{}}
	for i := range m.Regions {
		if _, dup := c.regions[m.Regions[i].Name]; !dup {
			c.regions[m.Regions[i].Name] = &m.Regions[i]
		}
	}
	c.meshName()
	c.sameClusters() // first: it marks the bootstrap it refuses, and checkRegions then says nothing more of it
	c.checkRegions()
	c.roles()
	c.replication()
	c.quorum()
	c.bounds(reflect.ValueOf(c.m.Failover), "failover")
	c.detection()
	c.controlPlane()
	c.hooks()
	ff := c.walkFlows()
	c.flows(ff)
	c.deadLetterTopic(ff)
	c.deadPatterns(ff)
	c.api()
	c.gossip()
	c.insecure()
	if c.opts.checkFiles {
		c.files(reflect.ValueOf(c.m.Regions), "regions")
		c.files(reflect.ValueOf(c.m.API), "api")
		c.files(reflect.ValueOf(c.m.Gossip), "gossip")
		c.files(reflect.ValueOf(c.m.ControlPlane), "control_plane")
	}
}

func (c *checker) gossip() {
	seen := map[string]int{}
	for i, k := range c.m.Gossip.Keys {
		if first, dup := seen[k.Ref]; dup {
			c.errorAt(fmt.Sprintf("gossip.keys[%d]", i), "gossip key %s is listed twice (first as key %d)", k, first+1)
			continue
		}
		seen[k.Ref] = i
	}
}

func (c *checker) api() {
	a := c.m.API
	if a.ReadToken.Ref != "" && a.AdminToken.Ref == "" {
		c.errorAtKey("api.read_token", "api read_token needs admin_token: otherwise failover and other changes would need no token while reads do")
	}
	if a.ReadToken.Ref != "" && a.ReadToken.Ref == a.AdminToken.Ref {
		c.errorAt("api.admin_token", "api admin_token must differ from read_token, or a read token could fail a region over")
	}
}

// names go into topic names and NATS subjects, so they keep to the
// characters both accept, and leave '.' to separate a prefix from a topic.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// agentIDRE is the alphabet of agent ids. An id names the agent's
// control-plane store directory, its memberlist node and its NATS server,
// and appears in logs and on the status page, so it keeps to characters
// that are safe in all of them: no '/', no whitespace, no markup, and a
// letter or digit first, so that it is never "." or "..".
var agentIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

func (c *checker) meshName() {
	if c.set("mesh") && !nameRE.MatchString(c.m.Name) {
		c.errorAt("mesh", "mesh name %q must be lowercase letters, digits and '-', at most 63 characters, starting and ending with a letter or digit: it names topics and NATS subjects", c.m.Name)
	}
}

// listener is an address some process of the mesh listens on.
type listener struct {
	what string
	line int
}

func (c *checker) checkRegions() {
	if c.set("regions") && len(c.m.Regions) == 0 {
		c.errorAt("regions", "regions is empty; a mesh needs at least two regions")
	}
	names := map[string]int{}          // region name → line
	agentIDs := map[string]int{}       // agent id → line
	listeners := map[string]listener{} // host:port → first user
	listen := func(path, addr, what string) {
		key := strings.ToLower(addr)
		if first, dup := listeners[key]; dup {
			c.errorAt(path, "address %s is already used by %s (line %d)", addr, first.what, first.line)
			return
		}
		listeners[key] = listener{what, c.at(path).line}
	}
	for i, r := range c.m.Regions {
		p := fmt.Sprintf("regions[%d]", i)
		label := r.Name
		if r.Name != "" {
			switch {
			case !nameRE.MatchString(r.Name):
				c.errorAt(p+".name", "region name %q cannot be used as a topic prefix: use lowercase letters, digits and '-' (no '.'), at most 63 characters", r.Name)
			case r.Name == "geomesh":
				c.errorAt(p+".name", "region name \"geomesh\" is reserved: geomesh.* topics belong to geomesh itself")
			}
			if line, dup := names[r.Name]; dup {
				c.errorAt(p+".name", "duplicate region %q (first at line %d)", r.Name, line)
			} else {
				names[r.Name] = c.at(p + ".name").line
			}
		} else {
			label = fmt.Sprintf("#%d", i+1)
		}
		switch {
		case r.Witness && r.Kafka != nil:
			c.errorAtKey(p+".kafka", "witness region %q must not have kafka: a witness only votes; remove witness: true to make it a data region", label)
		case !r.Witness && r.Kafka == nil:
			c.errorAt(p, "region %q has no kafka; add kafka.bootstrap, or set witness: true for a region that only votes", label)
		case r.Kafka != nil:
			c.kafka(p+".kafka", r.Kafka)
			if r.Kafka.Embedded && len(r.Kafka.Bootstrap) > 0 {
				if _, err := splitAddr(r.Kafka.Bootstrap[0]); err == nil {
					listen(p+".kafka.bootstrap[0]", r.Kafka.Bootstrap[0], fmt.Sprintf("the embedded kafka of region %q", label))
				}
			}
		}
		if c.set(p+".agents") && len(r.Agents) == 0 {
			c.errorAtKey(p+".agents", "region %q has no agents; every region runs at least one", label)
		}
		for j, a := range r.Agents {
			ap := fmt.Sprintf("%s.agents[%d]", p, j)
			if a.ID != "" && !agentIDRE.MatchString(a.ID) {
				c.errorAt(ap+".id", "agent id %q must be lowercase letters, digits, '.', '_' and '-', at most 63 characters, starting with a letter or digit: it names the agent's directories, its gossip node and its NATS server", a.ID)
			} else if a.ID != "" {
				if line, dup := agentIDs[a.ID]; dup {
					c.errorAt(ap+".id", "duplicate agent id %q (first at line %d)", a.ID, line)
				} else {
					agentIDs[a.ID] = c.at(ap + ".id").line
				}
			}
			if a.Control == "" && c.m.ControlPlane.Embedded {
				c.errorAt(ap, "agent %q needs a control address: the control plane is embedded, so every agent runs a NATS node", a.ID)
			}
			for _, l := range []struct{ key, addr string }{{"gossip", a.Gossip}, {"api", a.API}, {"control", a.Control}} {
				if l.addr == "" {
					continue
				}
				lp := ap + "." + l.key
				if _, err := splitAddr(l.addr); err != nil {
					c.errorAt(lp, "%s address %q %v", l.key, l.addr, err)
					continue
				}
				listen(lp, l.addr, fmt.Sprintf("the %s address of agent %q", l.key, a.ID))
			}
		}
	}
}

func (c *checker) kafka(p string, k *Kafka) {
	if len(k.Bootstrap) == 0 {
		c.errorAtKey(p+".bootstrap", "kafka needs at least one bootstrap address")
	}
	for i, addr := range k.Bootstrap {
		bp := fmt.Sprintf("%s.bootstrap[%d]", p, i)
		host, err := splitAddr(addr)
		if err != nil {
			c.errorAt(bp, "bootstrap address %q %v", addr, err)
			continue
		}
		if k.Embedded && !isLoopback(host) {
			c.errorAt(bp, "embedded kafka must listen on a loopback address, not %q: it runs inside the agent, for local mode only", addr)
		}
	}
	if t := k.TLS; t != nil {
		switch {
		case t.CertFile != "" && t.KeyFile == "":
			c.errorAt(p+".tls.cert_file", "tls cert_file needs key_file, the private key of the certificate")
		case t.KeyFile != "" && t.CertFile == "":
			c.errorAt(p+".tls.key_file", "tls key_file needs cert_file, the certificate of the key")
		}
	}
	if s := k.SASL; s != nil && s.Mechanism != "" {
		sp := p + ".sasl"
		switch {
		case !contains(saslMechanisms, s.Mechanism):
			c.errorAt(sp+".mechanism", "unknown sasl mechanism %q; want %s", s.Mechanism, oneOf(saslMechanisms))
		case s.Mechanism == "OAUTHBEARER", s.Mechanism == "AWS_MSK_IAM":
			c.tokenSASL(sp, k, s)
		case s.Mechanism == "GSSAPI":
			if s.Keytab == "" {
				c.errorAtKey(sp, "sasl mechanism GSSAPI needs keytab, the file holding the key of %s@realm", s.Username)
			}
			if s.Realm == "" {
				c.errorAtKey(sp, "sasl mechanism GSSAPI needs realm, the Kerberos realm of %s", s.Username)
			}
			if c.set(sp + ".password") {
				c.errorAtKey(sp+".password", "sasl mechanism GSSAPI takes a keytab, not a password")
			}
		default:
			if s.Password.Ref == "" && !c.isBroken(sp+".password") {
				c.errorAtKey(sp, "sasl mechanism %s needs password (env:VARIABLE or file:/path)", s.Mechanism)
			}
			for _, key := range []string{"keytab", "realm", "krb5_conf", "service_name"} {
				if c.set(sp + "." + key) {
					c.errorAtKey(sp+"."+key, "%s applies only to sasl mechanism GSSAPI, not %s", key, s.Mechanism)
				}
			}
		}
	}
	if s := k.SASL; s != nil && s.Mechanism != "" {
		sp := p + ".sasl"
		if contains(userMechanisms, s.Mechanism) && s.Username == "" && !c.isBroken(sp+".username") {
			c.errorAtKey(sp, "sasl mechanism %s needs username", s.Mechanism)
		}
		if s.OAuth != nil && s.Mechanism != "OAUTHBEARER" {
			c.errorAtKey(sp+".oauth", "oauth applies only to sasl mechanism OAUTHBEARER, not %s", s.Mechanism)
		}
		if s.AWS != nil && s.Mechanism != "AWS_MSK_IAM" {
			c.errorAtKey(sp+".aws", "aws applies only to sasl mechanism AWS_MSK_IAM, not %s", s.Mechanism)
		}
	}
	c.principals(p+".principals", k.Principals)
}

// tokenSASL checks OAUTHBEARER and AWS_MSK_IAM, which log in without a
// user name and password.
func (c *checker) tokenSASL(sp string, k *Kafka, s *SASL) {
	for _, key := range []string{"username", "password", "keytab", "realm", "krb5_conf", "service_name"} {
		if c.set(sp + "." + key) {
			c.errorAtKey(sp+"."+key, "sasl mechanism %s takes no %s", s.Mechanism, key)
		}
	}
	if s.Mechanism == "AWS_MSK_IAM" {
		if k.TLS == nil {
			c.errorAtKey(sp+".mechanism", "sasl mechanism AWS_MSK_IAM needs tls: Amazon MSK serves IAM access control over TLS only (port 9098); add tls: {} to use the system's roots")
		}
		return
	}
	o := s.OAuth
	if o == nil {
		c.errorAtKey(sp, "sasl mechanism OAUTHBEARER needs oauth: {token_endpoint, client_id, client_secret}")
		return
	}
	if o.TokenEndpoint == "" || c.isBroken(sp+".oauth.token_endpoint") {
		return
	}
	u, err := url.Parse(o.TokenEndpoint)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		c.errorAt(sp+".oauth.token_endpoint", "oauth token_endpoint %q is not an http(s) URL with a host", o.TokenEndpoint)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		c.errorAt(sp+".oauth.token_endpoint", "oauth token_endpoint %q must be https://: the client secret and the tokens travel to it (http:// only on a loopback address)", o.TokenEndpoint)
	}
}

// principalRE is Kafka's principal form, type:name (User:alice,
// User:CN=app,O=corp).
var principalRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*:.+$`)

// principals checks a principal map; it must be one to one, or an ACL
// copied back could land on a principal it was never granted to.
func (c *checker) principals(p string, m map[string]string) {
	owner := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kp := fmt.Sprintf("%s[%q]", p, k)
		v := m[k]
		switch {
		case !principalRE.MatchString(k):
			c.errorAtKey(kp, "principal %q must be type:name, such as User:alice", k)
		case !principalRE.MatchString(v):
			c.errorAt(kp, "principal %q must be type:name, such as User:alice", v)
		case owner[v] != "":
			c.errorAt(kp, "principals %q and %q both map to %q; the mapping must be one to one", owner[v], k, v)
		default:
			owner[v] = k
		}
	}
}

// splitAddr checks a host:port and returns the host.
func splitAddr(addr string) (string, error) {
	if scheme, _, ok := strings.Cut(addr, "://"); ok {
		return "", fmt.Errorf("starts with %s://; write host:port alone: the listener's security comes from the region's tls and sasl settings", scheme)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", fmt.Errorf("is not host:port: %s", ae.Err)
		}
		return "", fmt.Errorf("is not host:port: %v", err)
	}
	if host == "" {
		return "", errors.New("has no host; peers in other regions need one to dial")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("has port %q; want a number from 1 to 65535", port)
	}
	return host, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// roleRegion checks that a role names a data region.
func (c *checker) roleRegion(path, role, name string) {
	r, ok := c.region(name)
	switch {
	case !ok:
		c.errorAt(path, "%s %q names no region", role, name)
	case r.Witness:
		c.errorAt(path, "%s %q is a witness region; roles need a region with kafka", role, name)
	}
}

// roleList checks a list of regions for one role; in is the role each name
// must not also hold.
func (c *checker) roleList(path, role string, names []string, others map[string]string) {
	seen := map[string]bool{}
	for i, n := range names {
		p := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case seen[n]:
			c.errorAt(p, "%s lists %q twice", role, n)
		case others[n] != "":
			c.errorAt(p, "region %q is both %s and %s", n, others[n], role)
		default:
			c.roleRegion(p, role, n)
		}
		seen[n] = true
	}
}

func (c *checker) roles() {
	r, kind := c.m.Roles, c.m.Kind
	for _, f := range []struct {
		key  string
		set  bool
		kind Kind
	}{
		{"primary", r.Primary != "", KindActivePassive},
		{"standby", len(r.Standby) > 0, KindActivePassive},
		{"hub", r.Hub != "", KindHubSpoke},
		{"standby_hub", r.StandbyHub != "", KindHubSpoke},
		{"spokes", len(r.Spokes) > 0, KindHubSpoke},
		{"broadcast", len(r.Broadcast.Include)+len(r.Broadcast.Exclude) > 0, KindHubSpoke},
	} {
		if f.set && kind != "" && kind != f.kind {
			c.errorAtKey("topology."+f.key, "%s applies only to %s topologies, not %s", f.key, f.kind, kind)
		}
	}
	hasRole := map[string]bool{}
	var listUnder string
	switch kind {
	case KindActivePassive:
		listUnder = "topology.standby"
		if r.Primary == "" {
			c.errorAtKey("topology.primary", "active-passive topology needs a primary region")
		} else {
			c.roleRegion("topology.primary", "primary", r.Primary)
		}
		if len(r.Standby) == 0 {
			c.errorAtKey("topology.standby", "active-passive topology needs at least one standby region")
		}
		c.roleList("topology.standby", "standby", r.Standby, map[string]string{r.Primary: "primary"})
		hasRole[r.Primary] = true
		for _, s := range r.Standby {
			hasRole[s] = true
		}
	case KindActiveActive:
		if len(c.m.Regions) > 0 && len(c.m.DataRegions()) < 2 {
			c.errorAtKey("regions", "active-active topology needs at least two regions with kafka")
		}
		return
	case KindHubSpoke:
		listUnder = "topology.spokes"
		if r.Hub == "" {
			c.errorAtKey("topology.hub", "hub-spoke topology needs a hub region")
		} else {
			c.roleRegion("topology.hub", "hub", r.Hub)
		}
		if r.StandbyHub != "" {
			if r.StandbyHub == r.Hub {
				c.errorAt("topology.standby_hub", "standby_hub %q must differ from hub", r.StandbyHub)
			} else {
				c.roleRegion("topology.standby_hub", "standby_hub", r.StandbyHub)
			}
		}
		if len(r.Spokes) == 0 {
			c.errorAtKey("topology.spokes", "hub-spoke topology needs at least one spoke")
		}
		c.roleList("topology.spokes", "spoke", r.Spokes, map[string]string{r.Hub: "hub", r.StandbyHub: "standby_hub"})
		hasRole[r.Hub], hasRole[r.StandbyHub] = true, true
		for _, s := range r.Spokes {
			hasRole[s] = true
		}
	default:
		return // no kind, or an unknown one: already reported
	}
	for i, reg := range c.m.Regions {
		if !reg.Witness && reg.Name != "" && !hasRole[reg.Name] {
			c.errorAt(fmt.Sprintf("regions[%d].name", i), "region %q has no role in the %s topology; list it under %s or make it a witness", reg.Name, kind, listUnder)
		}
	}
}

// topicRE is what Kafka accepts as a topic name.
var topicRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func (c *checker) replication() {
	r := c.m.Replication
	if r.OnError == OnErrorDeadLetter && r.DeadLetterTopic == "" {
		c.errorAt("replication.on_error", "on_error: dead-letter needs dead_letter_topic, the topic in the target cluster that takes records which cannot be written")
	}
	if r.DeadLetterTopic != "" && (!topicRE.MatchString(r.DeadLetterTopic) || r.DeadLetterTopic == "." || r.DeadLetterTopic == "..") {
		c.errorAt("replication.dead_letter_topic", "dead_letter_topic %q is not a valid kafka topic name: use letters, digits, '.', '_' and '-', at most 249 characters", r.DeadLetterTopic)
	}
}

func (c *checker) quorum() {
	f := c.m.Failover
	voters := map[string]bool{}
	witness, unknown := false, false
	for i, v := range f.Quorum.Voters {
		p := fmt.Sprintf("failover.quorum.voters[%d]", i)
		r, ok := c.region(v)
		switch {
		case voters[v]:
			c.errorAt(p, "quorum lists %q twice", v)
		case !ok:
			c.errorAt(p, "quorum voter %q names no region", v)
			unknown = true
		default:
			voters[v] = true
			witness = witness || r.Witness
		}
	}
	// With a voter that names no region, counting the rest would guess at
	// what the file meant.
	if f.Mode != FailoverAutomatic || len(voters) >= 3 || len(c.m.Regions) == 0 || unknown {
		return
	}
	msg := fmt.Sprintf("automatic failover needs at least three voting regions, so that a majority survives the loss of any one region; the quorum has %d", len(voters))
	if len(c.m.DataRegions()) == 2 && !witness {
		msg += "; with two data regions, add a witness region (witness: true, agents only) to vote"
	}
	c.errorAt(c.firstSet("failover.quorum.voters", "failover.mode"), "%s, or set mode: manual", msg)
}

func (c *checker) detection() {
	const dp = "failover.detection"
	if c.brokenWithin(dp) {
		return // a default stands in for a broken value; comparing it would mislead
	}
	d := c.m.Failover.Detection
	if d.ProbeTimeout >= d.ProbeInterval {
		c.errorAt(c.firstSet(dp+".probe_timeout", dp+".probe_interval"),
			"probe_timeout (%s) must be shorter than probe_interval (%s): a probe has to time out before the next one starts", d.ProbeTimeout, d.ProbeInterval)
	}
	agents := c.m.Agents()
	if g := d.GossipDetection(agents); d.DownAfter < g {
		c.errorAt(c.firstSet(dp+".down_after", dp+".probe_interval", dp+".suspicion_mult", dp+".probe_timeout"),
			"down_after (%s) is shorter than gossip detection (%s = probe_interval + probe_timeout + suspicion_mult × max(1, log10(%d agents)) × probe_interval): a region would count as down before gossip could agree",
			d.DownAfter, g, agents)
	} else if d.DownAfter < 2*d.KafkaProbeInterval {
		c.errorAt(c.firstSet(dp+".down_after", dp+".kafka_probe_interval"),
			"down_after (%s) must span at least two kafka_probe_interval (%s), so that one lost probe cannot fail a region over", d.DownAfter, d.KafkaProbeInterval)
	}
}

func (c *checker) controlPlane() {
	cp := c.m.ControlPlane
	switch {
	case c.brokenWithin("control_plane.embedded") || c.brokenWithin("control_plane.urls"):
		// embedded or urls could not be read; either check would guess
	case cp.Embedded && len(cp.URLs) > 0:
		c.errorAtKey("control_plane", "control_plane takes embedded: true or urls, not both")
	case !cp.Embedded && len(cp.URLs) == 0:
		c.errorAtKey("control_plane", "control_plane needs embedded: true or the urls of an existing NATS cluster")
	}
	for i, raw := range cp.URLs {
		u, err := url.Parse(raw)
		if err == nil && (u.Scheme == "nats" || u.Scheme == "tls") && u.Path == "" {
			if _, err = splitAddr(u.Host); err == nil {
				continue
			}
		}
		c.errorAt(fmt.Sprintf("control_plane.urls[%d]", i), "control plane url %q must be nats://host:port or tls://host:port", raw)
	}
	switch d := cp.StateDir; {
	case d == "":
	case !cp.Embedded && len(cp.URLs) > 0:
		c.errorAt("control_plane.state_dir", "control_plane state_dir applies only to an embedded control plane: an external cluster's servers keep the state")
	case !filepath.IsAbs(d):
		c.errorAt("control_plane.state_dir", "control_plane state_dir %q must be an absolute path: each agent would resolve it against its own working directory", d)
	}
	const tp = "control_plane.tls"
	if t := cp.TLS; t != nil && !c.brokenWithin(tp) {
		if cp.Embedded {
			for _, f := range []struct{ key, val, why string }{
				{"ca_file", t.CAFile, "each node accepts only routes whose certificate this CA signed"},
				{"cert_file", t.CertFile, "each node shows it to the peers it routes to and to those that route to it"},
				{"key_file", t.KeyFile, "the private key of cert_file"},
			} {
				if f.val == "" {
					c.errorAtKey(tp, "control_plane tls needs %s when the control plane is embedded: %s", f.key, f.why)
				}
			}
		} else {
			switch {
			case t.CertFile != "" && t.KeyFile == "":
				c.errorAt(tp+".cert_file", "control_plane tls cert_file needs key_file, the private key of the certificate")
			case t.KeyFile != "" && t.CertFile == "":
				c.errorAt(tp+".key_file", "control_plane tls key_file needs cert_file, the certificate of the key")
			}
		}
	}
	const cr = "control_plane.credentials"
	if k := cp.Credentials; k != nil && !c.brokenWithin(cr) {
		switch {
		case len(k.AcceptPasswords) > 0 && !cp.Embedded:
			c.errorAtKey(cr+".accept_passwords", "control_plane credentials accept_passwords applies only to an embedded control plane: an external cluster's servers decide which passwords they take")
		case k.NkeySeedFile != "" && cp.Embedded:
			c.errorAt(cr+".nkey_seed_file", "control_plane credentials nkey_seed_file applies only to an external control plane (urls): embedded nodes authenticate their routes with user and password")
		case k.NkeySeedFile != "" && (k.User != "" || k.Password.Ref != ""):
			c.errorAtKey(cr, "control_plane credentials take user and password or nkey_seed_file, not both")
		case k.NkeySeedFile != "":
		case cp.Embedded && cp.TLS == nil:
			c.errorAtKey(cr, "control_plane credentials need tls when the control plane is embedded: without it a node sends its password in the clear to whatever listens on a peer's control address, and accepts the route from it")
		case k.User == "" && k.Password.Ref == "":
			c.errorAtKey(cr, "control_plane credentials need user and password (env:VARIABLE or file:/path), or nkey_seed_file for an external control plane")
		case k.User == "":
			c.errorAtKey(cr, "control_plane credentials password needs user, the NATS user it belongs to")
		case k.Password.Ref == "":
			c.errorAtKey(cr, "control_plane credentials user %q needs password (env:VARIABLE or file:/path)", k.User)
		}
		for i, a := range k.AcceptPasswords {
			if a.Ref == k.Password.Ref {
				c.errorAt(fmt.Sprintf("%s.accept_passwords[%d]", cr, i), "control_plane credentials accept_passwords lists %s, which is already the password", a)
			}
		}
	}
}

func (c *checker) flows(ff *flowFacts) {
	planned := ff.planned
	seen := map[Route]bool{}
	for i, f := range c.m.Flows {
		p := fmt.Sprintf("flows[%d]", i)
		pair := Route{Source: f.Source, Target: f.Target}
		_, srcOK := c.region(f.Source)
		_, dstOK := c.region(f.Target)
		if f.Source != "" && !srcOK {
			c.errorAt(p+".source", "flow source %q names no region", f.Source)
		}
		if f.Target != "" && !dstOK {
			c.errorAt(p+".target", "flow target %q names no region", f.Target)
		}
		switch {
		case !srcOK || !dstOK:
		case seen[pair]:
			c.errorAt(p, "flows lists %s → %s twice", f.Source, f.Target)
		case !planned[pair]:
			c.errorAt(p, "the %s topology plans no flow from %s to %s; flows can only change the topics of planned flows", c.m.Kind, f.Source, f.Target)
		}
		seen[pair] = true
	}
}

func (c *checker) hooks() {
	for i, h := range c.m.Failover.Hooks {
		p := fmt.Sprintf("failover.hooks[%d]", i)
		if c.brokenWithin(p) {
			continue
		}
		switch {
		case len(h.Exec) > 0 && h.Webhook != "":
			c.errorAtKey(p, "a hook takes exec or webhook, not both: list them as two hooks")
		case len(h.Exec) == 0 && h.Webhook == "":
			c.errorAtKey(p, "a hook needs exec (a command and its arguments) or webhook (a URL)")
		case len(h.Exec) > 0 && h.Exec[0] == "":
			c.errorAt(p+".exec[0]", "hook command is empty")
		case h.Webhook != "":
			u, err := url.Parse(h.Webhook)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				c.errorAt(p+".webhook", "hook webhook %q must be an http:// or https:// URL", h.Webhook)
			}
		}
	}
}
