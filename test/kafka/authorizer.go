package kafkatest

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// Authorizer turns on Kafka's StandardAuthorizer on a plaintext cluster,
// for tests that need ACLs to take effect where a secured cluster cannot
// run: inside a network namespace (Options.Host), where TLS certificates
// for 127.0.0.1 do not fit. Nothing is encrypted.
//
//   - The plaintext listeners stay as they are. Everyone on them is
//     User:ANONYMOUS, a super user: the nodes, the harness and clients
//     built from ClientOptions are allowed everything, as on a cluster
//     without an authorizer.
//   - A second client listener, SASL_PLAINTEXT with the PLAIN mechanism
//     (Cluster.SASLBootstrap, Cluster.UserOptions), authenticates Users,
//     and the authorizer judges their requests with
//     allow.everyone.if.no.acl.found=true: a resource no ACL names is open
//     to every user, one that ACLs name is open to whom they allow and
//     closed to whom a DENY names.
//
// So a test gives an application user ACLs on its topics, and a DENY
// geomesh adds refuses that user's writes there, while geomesh's agents
// and the test's own clients on the plaintext listener are not affected.
// Options.Security and Authorizer exclude each other.
type Authorizer struct {
	// Users are the SASL PLAIN users, name → password. Names and
	// passwords are letters, digits and "-_.@!#%+" only, since they
	// travel through the properties file. At least one is required.
	Users map[string]string

	// SuperUsers are further principals allowed everything, "User:name".
	SuperUsers []string
}

func (a *Authorizer) validate() []error {
	var errs []error
	if len(a.Users) == 0 {
		errs = append(errs, fmt.Errorf("kafkatest: Authorizer.Users is empty: no one could use its SASL listener"))
	}
	for _, name := range slices.Sorted(maps.Keys(a.Users)) {
		if !credentialRE.MatchString(name) || !credentialRE.MatchString(a.Users[name]) {
			errs = append(errs, fmt.Errorf("kafkatest: Authorizer.Users: user %q: name and password must match %s", name, credentialRE))
		}
	}
	for _, p := range a.SuperUsers {
		if !strings.HasPrefix(p, "User:") || strings.Contains(p, ";") {
			errs = append(errs, fmt.Errorf("kafkatest: Authorizer.SuperUsers: %q is not a principal such as User:name", p))
		}
	}
	return errs
}

// properties returns the listener, SASL and authorizer properties of
// node n.
func (a *Authorizer) properties(n *node) map[string]string {
	controller := net.JoinHostPort(n.host, strconv.Itoa(n.controllerPort))
	var jaas strings.Builder
	jaas.WriteString("org.apache.kafka.common.security.plain.PlainLoginModule required")
	for _, name := range slices.Sorted(maps.Keys(a.Users)) {
		fmt.Fprintf(&jaas, ` user_%s="%s"`, name, a.Users[name])
	}
	jaas.WriteString(";")
	return map[string]string{
		"listeners":                      fmt.Sprintf("PLAINTEXT://%s,SASL_PLAINTEXT://%s,CONTROLLER://%s", n.addr(), n.saslAddr(), controller),
		"advertised.listeners":           fmt.Sprintf("PLAINTEXT://%s,SASL_PLAINTEXT://%s", n.addr(), n.saslAddr()),
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
		"sasl.enabled.mechanisms":        "PLAIN",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas.String(),
		"authorizer.class.name":                               "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"allow.everyone.if.no.acl.found":                      "true",
		"super.users":                                         strings.Join(append([]string{"User:ANONYMOUS"}, a.SuperUsers...), ";"),
	}
}

func (n *node) saslAddr() string { return net.JoinHostPort(n.host, strconv.Itoa(n.saslPort)) }

// SASLBootstrap returns every node's address on the SASL_PLAINTEXT
// listener of Options.Authorizer; nil without it.
func (c *Cluster) SASLBootstrap() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts.Authorizer == nil {
		return nil
	}
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.saslAddr()
	}
	return addrs
}

// UserOptions returns the kgo options that reach the cluster as user, one
// of Options.Authorizer's Users, on the SASL_PLAINTEXT listener (with
// Options.Dial if set). It panics on a cluster without Authorizer or an
// unknown user: a test that asks for either is wrong.
func (c *Cluster) UserOptions(user string) []kgo.Opt {
	c.mu.Lock()
	az := c.opts.Authorizer
	c.mu.Unlock()
	if az == nil {
		panic("kafkatest: UserOptions needs Options.Authorizer")
	}
	pass, ok := az.Users[user]
	if !ok {
		panic(fmt.Sprintf("kafkatest: UserOptions: no user %q in Options.Authorizer.Users", user))
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.SASLBootstrap()...), kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism())}
	if c.opts.Dial != nil {
		opts = append(opts, kgo.Dialer(c.opts.Dial))
	}
	return opts
}
