package topology

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

// The checks in this file refuse files that validate as YAML and as a
// mesh, but would do harm at run time: a cluster copied onto itself,
// dead letters that are themselves replicated, and selections that can
// select nothing geomesh ever copies.

// internalPrefixes start the names of topics no flow ever copies: Kafka's
// own (__consumer_offsets, __transaction_state) and geomesh's
// (geomesh.progress, geomesh.heartbeats, the stranded settlements).
var internalPrefixes = []string{"__", "geomesh."}

// ReservedTopics are the topics geomesh itself writes in every data
// region's cluster: the copy progress (mirror.ProgressTopic) and the
// heartbeats (mirror/heartbeat.Topic). No flow copies any geomesh.* topic.
var ReservedTopics = []string{"geomesh.progress", "geomesh.heartbeats"}

// sameClusters refuses two regions whose bootstrap lists share a broker:
// they are one cluster, and a flow between them would copy every topic
// onto itself without end.
func (c *checker) sameClusters() {
	type first struct{ region, addr string }
	seen := map[string]first{}
	for i, r := range c.m.Regions {
		if r.Kafka == nil {
			continue
		}
		for j, addr := range r.Kafka.Bootstrap {
			host, port, err := net.SplitHostPort(strings.TrimSpace(addr))
			if err != nil {
				continue // reported as not host:port
			}
			key := net.JoinHostPort(strings.ToLower(strings.TrimSuffix(host, ".")), port)
			f, dup := seen[key]
			switch {
			case !dup:
				seen[key] = first{r.Name, addr}
			case f.region != r.Name:
				p := fmt.Sprintf("regions[%d].kafka.bootstrap[%d]", i, j)
				c.errorAt(p, "regions %s and %s name the same kafka cluster (%s): a flow between them would copy every topic onto itself; give each region its own cluster", f.region, r.Name, key)
				c.broken[p] = true
			}
		}
	}
}

// flowFacts is what one pass over the planned flows finds for the checks
// that need them.
type flowFacts struct {
	// planned holds the routes of the file's flow overrides that the
	// topology plans.
	planned map[Route]bool
	// targets are the regions some flow writes into, which hold the dead
	// letter topic.
	targets map[string]bool
	// users are, for each selection of the file, the blocked prefixes of
	// the flows that use it, by key: "*" for prefix naming (every region's
	// prefix), else the target's name.
	users map[string]map[string]bool
	// deadLetter is the first flow found that copies the dead letter
	// topic, and how.
	deadLetter struct {
		found       bool
		flow        Route
		sourceTopic string // the topic the flow copies into it
	}
	// deadLetterOut is, by source region, the first flow found that
	// copies the dead letter topic out of it.
	deadLetterOut map[string]Route
}

// walkFlows makes one pass over the flows the file plans. An
// active-active mesh of n regions plans n(n-1) of them; the pass holds
// none and does constant work for each.
func (c *checker) walkFlows() *flowFacts {
	ff := &flowFacts{
		planned:       map[Route]bool{},
		targets:       map[string]bool{},
		users:         map[string]map[string]bool{},
		deadLetterOut: map[string]Route{},
	}
	overrides := map[Route]bool{}
	for _, o := range c.m.Flows {
		overrides[Route{o.Source, o.Target}] = true
	}
	// Region names hold no '.', so a topic is a region's copy when what
	// comes before its first dot is a region's name.
	copied := func(topic string) bool {
		i := strings.IndexByte(topic, '.')
		_, ok := c.regions[topic[:max(i, 0)]]
		return i > 0 && ok
	}
	dlq := c.m.Replication.DeadLetterTopic
	if c.isBroken("replication.dead_letter_topic") {
		dlq = ""
	}
	// The dead letter topic can be copied out of a cluster as itself, or
	// written into one as the copy of a source topic: the same name under
	// identity naming, the name after its region prefix under prefix
	// naming. Whether a selection picks either depends on the selection
	// alone, so each is matched once.
	dlqSource := ""
	if i := strings.IndexByte(dlq, '.'); i > 0 {
		dlqSource = dlq[:i]
	}
	matches := map[string][2]bool{} // from → match of dlq, of dlq after its prefix
	match := func(f *Flow, from string) [2]bool {
		if m, ok := matches[from]; ok && from != "" {
			return m
		}
		m := [2]bool{f.Topics.Match(dlq), dlqSource != "" && f.Topics.Match(dlq[len(dlqSource)+1:])}
		matches[from] = m
		return m
	}
	eachFlow(c.m, c.m.Roles, func(f *Flow, from string) {
		route := f.Route()
		if overrides[route] {
			ff.planned[route] = true
		}
		ff.targets[f.Target] = true
		if from != "" {
			key := f.Target
			if f.Naming == NamingPrefix && f.Kind != FlowStandby {
				key = "*"
			}
			if ff.users[from] == nil {
				ff.users[from] = map[string]bool{}
			}
			ff.users[from][key] = true
		}
		if dlq == "" {
			return
		}
		selects := func(topic string, matched bool) bool {
			return matched && f.passes(topic, copied)
		}
		m := match(f, from)
		if _, done := ff.deadLetterOut[f.Source]; !done && selects(dlq, m[0]) {
			ff.deadLetterOut[f.Source] = route
		}
		if ff.deadLetter.found {
			return
		}
		switch {
		case f.Naming == NamingIdentity && selects(dlq, m[0]):
			ff.deadLetter.found, ff.deadLetter.flow, ff.deadLetter.sourceTopic = true, route, dlq
		case f.Naming == NamingPrefix && f.Source == dlqSource && selects(dlq[len(dlqSource)+1:], m[1]):
			ff.deadLetter.found, ff.deadLetter.flow, ff.deadLetter.sourceTopic = true, route, dlq[len(dlqSource)+1:]
		}
	})
	return ff
}

// hasPrefixDot reports whether topic starts with region and a dot,
// without building the prefix.
func hasPrefixDot(topic, region string) bool {
	return len(topic) > len(region) && topic[len(region)] == '.' && topic[:len(region)] == region
}

// deadLetterTopic refuses a dead letter topic that geomesh or Kafka owns,
// or that a flow copies: dead letters would be replicated on, or copies
// written among them.
func (c *checker) deadLetterTopic(ff *flowFacts) {
	const p = "replication.dead_letter_topic"
	dlq := c.m.Replication.DeadLetterTopic
	if dlq == "" || c.isBroken(p) {
		return
	}
	switch {
	case strings.HasPrefix(dlq, "__"):
		c.errorAt(p, "dead_letter_topic %q is a name of Kafka's internal topics (__…, such as __consumer_offsets and __transaction_state): name a topic of your own", dlq)
		return
	case slices.Contains(ReservedTopics, dlq):
		c.errorAt(p, "dead_letter_topic %q is a topic geomesh writes itself (%s): name a topic of your own", dlq, strings.Join(ReservedTopics, ", "))
		return
	}
	if d := ff.deadLetter; d.found {
		c.errorAt(p, "dead_letter_topic %q is a replicated topic: the flow %s → %s copies %s's topic %q into it on %s; exclude that topic or name another dead letter topic",
			dlq, d.flow.Source, d.flow.Target, d.flow.Source, d.sourceTopic, d.flow.Target)
		return
	}
	for _, r := range c.m.Regions {
		if route, ok := ff.deadLetterOut[r.Name]; ok && ff.targets[r.Name] {
			c.errorAt(p, "dead_letter_topic %q is a replicated topic: %s holds dead letters as a target, and the flow %s → %s copies them out of it; exclude %q from the topics or name another dead letter topic",
				dlq, r.Name, route.Source, route.Target, dlq)
			return
		}
	}
}

// deadPatterns refuses an include pattern that can only select topics no
// flow copies: Kafka's and geomesh's own, or topics whose name starts
// with a region's prefix, which geomesh takes for copies from that region
// (a region named like the topics' prefix).
func (c *checker) deadPatterns(ff *flowFacts) {
	check := func(path, from string) {
		s := c.selectionAt(path)
		if s == nil {
			return
		}
		for i, pat := range s.Include {
			pp := fmt.Sprintf("%s.include[%d]", path, i)
			if c.isBroken(pp) {
				continue
			}
			if onlyPrefixed(pat, internalPrefixes) != "" {
				c.errorAt(pp, "include pattern %q can only select Kafka's internal topics (__…) or geomesh's own (geomesh.…), which are never replicated", pat)
				continue
			}
			users := ff.users[from]
			if len(users) == 0 {
				continue
			}
			dead, region := true, ""
			for key := range users {
				prefixes := append([]string{key + "."}, internalPrefixes...)
				if key == "*" {
					prefixes = append([]string(nil), internalPrefixes...)
					for _, r := range c.m.Regions {
						prefixes = append(prefixes, r.Name+".")
					}
				}
				got := onlyPrefixed(pat, prefixes)
				if got == "" {
					dead = false
					break
				}
				if !slices.Contains(internalPrefixes, got) && (region == "" || got < region) {
					region = got
				}
			}
			switch {
			case !dead:
			case region != "":
				c.errorAt(pp, "include pattern %q can only select topics named %s…, which geomesh takes for copies from region %s and never replicates: rename the region or the topics", pat, region, strings.TrimSuffix(region, "."))
			default:
				c.errorAt(pp, "include pattern %q can only select topics that are never replicated", pat)
			}
		}
	}
	check("topics", "topics")
	check("topology.broadcast", "topology.broadcast")
	for i := range c.m.Flows {
		p := fmt.Sprintf("flows[%d].topics", i)
		if c.set(p + ".include") {
			check(p, p)
		}
	}
}

// selectionAt is the selection the file writes at path, or nil when the
// file writes none there.
func (c *checker) selectionAt(path string) *Selection {
	if !c.set(path) {
		return nil
	}
	switch path {
	case "topics":
		return &c.m.Topics
	case "topology.broadcast":
		return &c.m.Roles.Broadcast
	}
	var i int
	if _, err := fmt.Sscanf(path, "flows[%d].topics", &i); err == nil && i < len(c.m.Flows) {
		return &c.m.Flows[i].Topics
	}
	return nil
}
