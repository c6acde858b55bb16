package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/geomesh/geomesh/topology"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/kerberos"
)

// kerberosMechanism logs in with the keytab on every authentication, as
// the password mechanisms resolve their secret each time: a keytab
// replaced after a key rotation (kvno bump) is used on the next
// connection without a restart.
func kerberosMechanism(s *topology.SASL) sasl.Mechanism {
	return kerberosLogin{kerberos.Kerberos(func(context.Context) (kerberos.Auth, error) {
		cfg, err := config.Load(s.Krb5Conf)
		if err != nil {
			return kerberos.Auth{}, fmt.Errorf("krb5.conf %s: %w", s.Krb5Conf, err)
		}
		kt, err := keytab.Load(s.Keytab)
		if err != nil {
			return kerberos.Auth{}, fmt.Errorf("keytab %s: %w", s.Keytab, err)
		}
		// FAST is off: MIT and Active Directory KDCs both accept a keytab
		// login without it, and gokrb5 does not implement it.
		cl := client.NewWithKeytab(s.Username, s.Realm, kt, cfg, client.DisablePAFXFAST(true))
		return kerberos.Auth{
			ClientFn: func(context.Context) *client.Client { return cl },
			Service:  s.ServiceName,
		}, nil
	})}
}

// errKerberos marks a GSSAPI login that failed on the client's side, with
// the KDC or the keytab, before the broker saw a credential: franz-go
// returns such errors as gokrb5 gave them, and Explain needs to know that
// they are the credential's fault.
var errKerberos = errors.New("kerberos login")

// kerberosLogin marks the errors of franz-go's GSSAPI mechanism with
// errKerberos.
type kerberosLogin struct{ sasl.Mechanism }

func (m kerberosLogin) Authenticate(ctx context.Context, host string) (sasl.Session, []byte, error) {
	s, first, err := m.Mechanism.Authenticate(ctx, host)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errKerberos, err)
	}
	return s, first, nil
}
