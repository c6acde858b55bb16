package secure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/poll"
	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/mirror/acls"
	"github.com/geomesh/geomesh/test/internal/agenttest"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

const passwordEnv = "GEOMESH_SECURE_TEST_PASSWORD"

// scram512 reaches a cluster as geomesh with SCRAM-SHA-512 and the
// password from passwordEnv.
func scram512(c *kafkatest.Cluster) *topology.Kafka {
	return saslKafka(c, "SCRAM-SHA-512", geomeshUser, topology.Secret{Ref: "env:" + passwordEnv})
}

// admin is an admin client of c as its admin user, closed when the test
// ends.
func admin(t testing.TB, c *kafkatest.Cluster) *kadm.Client {
	t.Helper()
	return testkit.Admin(t, c.ClientOptions()...)
}

// aclsOf lists a cluster's topic and group ACLs as acls.ACL strings.
func aclsOf(t testing.TB, adm *kadm.Client) []string {
	t.Helper()
	res, err := adm.DescribeACLs(t.Context(), kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).
		Operations(kadm.OpAny).Allow().AllowHosts().Deny().DenyHosts())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		for _, d := range r.Described {
			out = append(out, acls.ACL{ResourceType: d.Type, Name: d.Name, Pattern: d.Pattern, Principal: d.Principal,
				Host: d.Host, Operation: d.Operation, Permission: d.Permission}.String())
		}
	}
	slices.Sort(out)
	return out
}

func grant(t testing.TB, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	res, err := adm.CreateACLs(t.Context(), b)
	if err == nil {
		for _, r := range res {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	// A broker serves an ACL only after it has replayed the controller's
	// record of it, so the next describe may not show it yet.
	waitFor(t, 10*time.Second, "granted ACLs visible", func() error {
		have := aclsOf(t, adm)
		for _, r := range res {
			a := acls.ACL{ResourceType: r.Type, Name: r.Name, Pattern: r.Pattern, Principal: r.Principal,
				Host: r.Host, Operation: r.Operation, Permission: r.Permission}.String()
			if !slices.Contains(have, a) {
				return fmt.Errorf("%s not described yet", a)
			}
		}
		return nil
	})
}

// produceAs writes one record as a SCRAM user and returns the error.
func produceAs(t testing.TB, c *kafkatest.Cluster, user, pass, topic string) error {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.DialTLSConfig(tlsTo(t, c)),
		kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()), kgo.DisableIdempotentWrite(),
		kgo.RecordRetries(1), kgo.RecordDeliveryTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("from " + user)}).FirstErr()
}

// waitFor is poll.Until with a name for what it waits for, which a
// failure begins with.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	return poll.Until(t, timeout, func() error {
		if err := cond(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

// TestACLSync replicates between two secured clusters and mirrors topic
// (literal and prefixed) and group ACLs from the primary to the standby:
// within 10 s, with the principal mapped, and without WRITE until the
// standby is made primary.
func TestACLSync(t *testing.T) {
	t.Setenv(passwordEnv, geomeshPass)
	const mesh = "aclsync"
	topic := mesh + "-orders"
	eastAdm, westAdm := admin(t, east), admin(t, west)
	testkit.CreateTopic(t, eastAdm, 2, 1, nil, topic)
	path := meshFile(t, mesh, "", scram512)
	a := agenttest.Start(t, path, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), "west")[0]

	// Records cross over SASL_SSL with SCRAM-SHA-512.
	grant(t, eastAdm, kadm.NewACLs().Topics(topic).Allow("User:"+appUser).Operations(kadm.OpWrite, kadm.OpRead, kadm.OpDescribe))
	// A new ACL reaches the brokers' authorizer through the metadata log,
	// a moment after CreateAcls answers.
	waitFor(t, 10*time.Second, "app write on the primary", func() error {
		return produceAs(t, east, appUser, appPass, topic)
	})
	begin := time.Now()
	grant(t, eastAdm, kadm.NewACLs().Topics(mesh+"-pay.").ResourcePatternType(kadm.ACLPatternPrefixed).
		Allow("User:"+appUser).Operations(kadm.OpAll))
	grant(t, eastAdm, kadm.NewACLs().Groups(mesh+"-billing").Allow("User:reporter").Operations(kadm.OpRead))
	grant(t, eastAdm, kadm.NewACLs().Topics(topic).Deny("User:mallory").DenyHosts("*").Operations(kadm.OpRead))

	want := []string{
		"ALLOW User:app DESCRIBE on TOPIC:LITERAL:" + topic + " from *",
		"ALLOW User:app DESCRIBE on TOPIC:PREFIXED:" + mesh + "-pay. from *",
		"ALLOW User:app DESCRIBE_CONFIGS on TOPIC:PREFIXED:" + mesh + "-pay. from *",
		"ALLOW User:app READ on TOPIC:LITERAL:" + topic + " from *",
		"ALLOW User:app READ on TOPIC:PREFIXED:" + mesh + "-pay. from *",
		"ALLOW User:reporter-west READ on GROUP:LITERAL:" + mesh + "-billing from *",
		"DENY User:mallory READ on TOPIC:LITERAL:" + topic + " from *",
	}
	took := waitFor(t, 10*time.Second, "acls on the standby", func() error {
		if got := aclsOf(t, westAdm); !slices.Equal(got, want) {
			return fmt.Errorf("west has\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		return nil
	})
	t.Logf("ACLs created on the primary appeared on the standby %s after the last was created (%s after the first)",
		took.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))

	// The copy exists (topic sync) but the app may not write to it.
	waitFor(t, 20*time.Second, "copy of "+topic, func() error {
		td, err := westAdm.ListTopics(t.Context(), topic)
		if err == nil {
			err = td.Error()
		}
		if err == nil && len(td) == 0 {
			err = errors.New("not yet")
		}
		return err
	})
	if err := produceAs(t, west, appUser, appPass, topic); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("app on the standby: got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	// The primary's record crossed over SASL_SSL to the standby.
	cl, err := kgo.NewClient(append(west.ClientOptions(), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitFor(t, 30*time.Second, "copy of the record", func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		if fs := cl.PollFetches(ctx); fs.NumRecords() > 0 {
			if v := string(fs.Records()[0].Value); v != "from "+appUser {
				return fmt.Errorf("copy holds %q", v)
			}
			return nil
		}
		return errors.New("no copy yet")
	})

	// Promotion grants WRITE on the new primary; demotion withdraws it.
	a.SetWritePrimary("west")
	waitFor(t, 10*time.Second, "write on the promoted standby", func() error {
		return produceAs(t, west, appUser, appPass, topic)
	})
	a.SetWritePrimary("east")
	waitFor(t, 10*time.Second, "write withdrawn on the demoted region", func() error {
		if err := produceAs(t, west, appUser, appPass, topic); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			return fmt.Errorf("app on the demoted region: got %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		return nil
	})
	// The ACLs the operator made on the target are never touched: not by
	// two passes of the sync that end after the grant, the second of
	// which started after the first had ended, so after the grant.
	grant(t, westAdm, kadm.NewACLs().Topics("operator-owned").Allow("User:ops").Operations(kadm.OpRead))
	granted := time.Now()
	var passes []time.Time
	waitFor(t, 15*time.Second, "two ACL sync passes after the operator's grant", func() error {
		for _, f := range a.Status().Flows {
			if f.Target != "west" {
				continue
			}
			if f.ACLs.Error != "" {
				return fmt.Errorf("acl sync pass of %s→%s: %s", f.Source, f.Target, f.ACLs.Error)
			}
			if last := f.ACLs.LastRun; last.After(granted) && (len(passes) == 0 || last.After(passes[len(passes)-1])) {
				passes = append(passes, last)
			}
		}
		if len(passes) < 2 {
			return fmt.Errorf("%d passes ended since the grant", len(passes))
		}
		return nil
	})
	if got := aclsOf(t, westAdm); !slices.Contains(got, "ALLOW User:ops READ on TOPIC:LITERAL:operator-owned from *") {
		t.Errorf("operator's ACL deleted: %v", got)
	}
}

func tlsTo(t testing.TB, c *kafkatest.Cluster) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(c.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool}
}
