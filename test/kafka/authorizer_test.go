package kafkatest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/geomesh/geomesh/internal/testkit"
	kafkatest "github.com/geomesh/geomesh/test/kafka"
)

// TestAuthorizer checks what Options.Authorizer promises: a user may write
// to a topic no ACL names; once ACLs name it, only whom they allow, and a
// DENY beats that user's ALLOW; a wrong password is refused; the
// plaintext listener (ClientOptions) stays allowed everything.
func TestAuthorizer(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Options{Authorizer: &kafkatest.Authorizer{
		Users: map[string]string{"app": "app-pw", "other": "other-pw"},
	}})
	adm := testkit.Admin(t, c.ClientOptions()...)
	testkit.CreateTopic(t, adm, 1, -1, nil, "open")
	testkit.CreateTopic(t, adm, 1, -1, nil, "guarded")
	write := func(opts []kgo.Opt, topic string) error {
		cl, err := kgo.NewClient(append(opts, kgo.RequestRetries(0), kgo.RecordRetries(1))...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr()
	}
	app, other := c.UserOptions("app"), c.UserOptions("other")
	alter := func(b *kadm.ACLBuilder, remove bool) {
		t.Helper()
		var err error
		if remove {
			var res kadm.DeleteACLsResults
			res, err = adm.DeleteACLs(t.Context(), b)
			for _, r := range res {
				err = errors.Join(err, r.Err)
			}
		} else {
			var res kadm.CreateACLsResults
			res, err = adm.CreateACLs(t.Context(), b)
			for _, r := range res {
				err = errors.Join(err, r.Err)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// The broker applies an ACL a moment after CreateACLs answers, and a
	// fresh cluster loads its producer-id coordinator a moment after it
	// serves.
	waitWrite := func(opts []kgo.Opt, topic, who string, want error) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := write(opts, topic)
			if errors.Is(err, want) || (want == nil && err == nil) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s writing to %s: %v, want %v", who, topic, err, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitWrite(app, "open", "app on a topic no ACL names", nil)
	alter(kadm.NewACLs().Topics("guarded").Allow("User:app").Operations(kadm.OpWrite, kadm.OpDescribe), false)
	waitWrite(app, "guarded", "app with an ALLOW", nil)
	waitWrite(other, "guarded", "other, not named by the topic's ACLs", kerr.TopicAuthorizationFailed)
	alter(kadm.NewACLs().Topics("guarded").Deny("User:app").Operations(kadm.OpWrite), false)
	waitWrite(app, "guarded", "app with an ALLOW and a DENY", kerr.TopicAuthorizationFailed)
	if err := write(c.ClientOptions(), "guarded"); err != nil {
		t.Errorf("the plaintext listener (User:ANONYMOUS, super user) with app denied: %v", err)
	}
	alter(kadm.NewACLs().Topics("guarded").Deny("User:app").DenyHosts().Operations(kadm.OpWrite), true)
	waitWrite(app, "guarded", "app after the DENY was deleted", nil)

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.SASLBootstrap()...), kgo.SASL(plain.Auth{User: "app", Pass: "wrong"}.AsMechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).ListTopics(t.Context()); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
}

func TestAuthorizerRejected(t *testing.T) {
	for _, tc := range []struct {
		opts kafkatest.Options
		want []string
	}{
		{kafkatest.Options{Authorizer: &kafkatest.Authorizer{}}, []string{"Authorizer.Users is empty"}},
		{kafkatest.Options{Authorizer: &kafkatest.Authorizer{Users: map[string]string{"a b": "x"}, SuperUsers: []string{"bob"}}},
			[]string{`user "a b"`, `"bob" is not a principal`}},
		{kafkatest.Options{Security: &kafkatest.Security{}, Authorizer: &kafkatest.Authorizer{Users: map[string]string{"a": "b"}}},
			[]string{"Security and Authorizer exclude each other"}},
	} {
		_, err := kafkatest.New(tc.opts)
		if err == nil {
			t.Errorf("New(%+v) accepted", tc.opts.Authorizer)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
	}
}
