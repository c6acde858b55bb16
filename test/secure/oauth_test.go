package secure

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/geomesh/geomesh/internal/testkit"
	"github.com/geomesh/geomesh/test/internal/agenttest"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// TestOAuthTokenExpiry shows that the brokers hold OAUTHBEARER sessions
// to their tokens' expiry, and that geomesh's copies outlive their tokens.
//
// never-refreshed: a client that logs in with one token and never asks
// for another stops once it expires (the broker makes it re-authenticate,
// KIP-368, and refuses the expired token): what geomesh would do without
// its refresh.
//
// copy: an agent copies east → west, both reached over OAUTHBEARER as
// idp's client, while records are produced for three token lifetimes;
// west holds every record once, in order, and the identity provider
// issued geomesh new tokens during the copy, the first of them expired
// well before the last record was produced.
func TestOAuthTokenExpiry(t *testing.T) {
	t.Run("never-refreshed", func(t *testing.T) {
		const topic = "oauth-stale-token"
		testkit.CreateTopic(t, admin(t, east), 1, 1, nil, topic)
		const life = 3 * time.Second
		tok, err := idp.Sign(geomeshUser, life)
		if err != nil {
			t.Fatal(err)
		}
		expires := time.Unix(time.Now().Add(life).Unix(), 0)
		adm := kadm.NewClient(testkit.Client(t, kgo.SeedBrokers(east.OAuthBootstrap()...), kgo.DialTLSConfig(tlsTo(t, east)),
			kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()), kgo.RequestRetries(2)))
		// Offsets, not metadata: the client answers a repeated metadata
		// request from its cache, without asking the broker.
		describe := func() error {
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			offsets, err := adm.ListEndOffsets(ctx, topic)
			if err != nil {
				return err
			}
			return offsets.Error()
		}
		if err := describe(); err != nil {
			t.Fatalf("with a valid token: %v", err)
		}
		time.Sleep(time.Until(expires.Add(time.Second)))
		err = describe()
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("after the token expired: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
		t.Logf("a client that kept its token past expiry was refused: %v", err)
	})

	t.Run("copy", func(t *testing.T) {
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		const mesh = "oauth-copy"
		topic := mesh + "-orders"
		testkit.CreateTopic(t, admin(t, east), 3, 1, nil, topic)
		path := meshFile(t, mesh, "", func(c *kafkatest.Cluster) *topology.Kafka {
			return kafkaAs(t, c, "OAUTHBEARER", topology.Secret{})
		})
		begin := time.Now()
		agenttest.Start(t, path, log, "west")
		var want []*kgo.Record
		var last time.Time
		for time.Since(begin) < 3*tokenLifetime {
			want = append(want, produceNumbered(t, east, topic, "oauth", 20)...)
			last = time.Now()
			time.Sleep(250 * time.Millisecond)
		}
		slices.SortStableFunc(want, func(a, b *kgo.Record) int { return int(a.Partition - b.Partition) })
		got, arrived := consumeCommitted(t, west, topic, len(want), last.Add(replicateTimeout))
		checkCopies(t, want, got)

		var during []kafkatest.IssuedToken
		for _, tok := range idp.Issued() {
			if tok.Subject == geomeshUser && !tok.IssuedAt.Before(begin) && tok.IssuedAt.Before(arrived) {
				during = append(during, tok)
			}
		}
		if len(during) < 3 {
			t.Fatalf("idp issued geomesh %d tokens during the copy (%s), want at least 3 for %s of %s tokens",
				len(during), arrived.Sub(begin).Round(time.Millisecond), 3*tokenLifetime, tokenLifetime)
		}
		if first := during[0]; !first.Expiry.Before(last.Add(-tokenLifetime)) {
			t.Errorf("the first token expired at %s, not a lifetime before the last record was produced (%s)",
				first.Expiry.Format(time.TimeOnly), last.Format(time.TimeOnly))
		}
		t.Logf("%d records copied east → west over OAUTHBEARER in %s, once each, in order; %d tokens of %s issued to geomesh meanwhile, the first expired %s before the last record was produced",
			len(got), arrived.Sub(begin).Round(time.Millisecond), len(during), tokenLifetime, last.Sub(during[0].Expiry).Round(time.Millisecond))
	})
}
