package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Options returns the kgo options that connect to a region's cluster:
// seed brokers, TLS and SASL. region names the cluster in errors.
// Callers append their own options (producer or consumer settings).
func Options(region string, k *topology.Kafka) ([]kgo.Opt, error) {
	if k == nil {
		return nil, fmt.Errorf("region %s: no kafka cluster configured", region)
	}
	if len(k.Bootstrap) == 0 {
		return nil, fmt.Errorf("region %s: kafka bootstrap list is empty", region)
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.Bootstrap...),
		kgo.ClientID("geomesh"),
		// A region that is down must surface as an error within seconds so
		// that health probes and status pages report it, instead of
		// franz-go's default of retrying for a minute.
		kgo.DialTimeout(5 * time.Second),
	}
	if k.TLS != nil {
		tc, err := tlsConfig(k.TLS)
		if err != nil {
			return nil, fmt.Errorf("region %s: kafka tls: %w", region, err)
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if k.SASL != nil {
		m, err := mechanism(k.SASL)
		if err != nil {
			return nil, fmt.Errorf("region %s: kafka sasl: %w", region, err)
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// NewClient builds a client for a region's cluster. It does no I/O:
// franz-go connects lazily on the first request.
func NewClient(region string, k *topology.Kafka, extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := Options(region, k)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("region %s: kafka client: %w", region, err)
	}
	return cl, nil
}

// mechanism resolves the password on every authentication so that a
// secret rotated in its file or environment is used without a restart.
func mechanism(s *topology.SASL) (sasl.Mechanism, error) {
	user := s.Username
	pass := s.Password
	switch s.Mechanism {
	case "PLAIN":
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			p, err := pass.Resolve()
			return plain.Auth{User: user, Pass: p}, err
		}), nil
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		auth := func(context.Context) (scram.Auth, error) {
			p, err := pass.Resolve()
			return scram.Auth{User: user, Pass: p}, err
		}
		if s.Mechanism == "SCRAM-SHA-256" {
			return scram.Sha256(auth), nil
		}
		return scram.Sha512(auth), nil
	case "GSSAPI":
		return kerberosMechanism(s), nil
	case "OAUTHBEARER":
		if s.OAuth == nil {
			return nil, errors.New("mechanism OAUTHBEARER needs oauth settings")
		}
		return shared(s, func() login { return newTokenSource(s.OAuth) }).mechanism(), nil
	case "AWS_MSK_IAM":
		return shared(s, func() login { return newAWSSigner(s.AWS) }).mechanism(), nil
	default:
		return nil, fmt.Errorf("unsupported mechanism %q (want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI, OAUTHBEARER or AWS_MSK_IAM)", s.Mechanism)
	}
}

// login is a mechanism that keeps what it logs in with (a token, AWS
// credentials) between connections.
type login interface{ mechanism() sasl.Mechanism }

// logins holds one login per SASL setting of a loaded topology: the
// clients of one cluster (mirror shards, admin, probes) then share one
// token and ask the identity provider once per refresh, not once each.
var logins sync.Map // *topology.SASL → login

func shared(s *topology.SASL, mk func() login) login {
	if l, ok := logins.Load(s); ok {
		return l.(login)
	}
	l, _ := logins.LoadOrStore(s, mk())
	return l.(login)
}

// Ping asks the cluster for its metadata and returns an error naming
// the region when no broker answers before ctx ends.
func Ping(ctx context.Context, region string, adm *kadm.Client) (kadm.BrokerDetails, error) {
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("region %s: kafka unreachable: %w", region, err)
	}
	return md.Brokers, nil
}
