package secure

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	kafkatest "github.com/geomesh/geomesh/test/kafka"
)

// Credentials of the shared clusters. The geomesh user is a super user
// for the connection tests; the ACL tests use principals without rights.
const (
	geomeshUser = "geomesh"
	geomeshPass = "gm-Secret-5f1c2a"
	appUser     = "app"
	appPass     = "app-Secret-93b7d0"
	// fencerUser may read ACLs but not change them.
	fencerUser = "fencer"
	fencerPass = "fencer-Secret-2d81e4"
	// oauthSecret is geomesh's client secret at idp; its tokens make it
	// User:geomesh, the same super user.
	oauthSecret = "oauth-Secret-7c4e19"
	// tokenLifetime is how long idp's tokens last: short, so that
	// copies outlive several tokens.
	tokenLifetime = 8 * time.Second
)

// east and west are single-broker secured clusters shared by the tests
// of this package, each test using its own topics. Both take GSSAPI
// from kdc, where geomesh's key is in geomeshKeytab.
var (
	east, west    *kafkatest.Cluster
	kdc           *kafkatest.KDC
	geomeshKeytab string
	// idp issues the tokens both clusters accept on their OAUTHBEARER
	// listeners.
	idp *kafkatest.IdP
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "secure-kdc-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "secure:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if kdc, err = kafkatest.NewKDC(ctx, dir); err != nil {
		fmt.Fprintln(os.Stderr, "secure: start kdc:", err)
		return 1
	}
	defer kdc.Close()
	if geomeshKeytab, err = kdc.AddPrincipal(ctx, geomeshUser); err != nil {
		fmt.Fprintln(os.Stderr, "secure:", err)
		return 1
	}
	if idp, err = kafkatest.NewIdP(map[string]string{geomeshUser: oauthSecret}, tokenLifetime); err == nil {
		err = idp.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "secure: start the identity provider:", err)
		return 1
	}
	defer idp.Close()
	opts := kafkatest.Options{Security: &kafkatest.Security{
		OAuth:      idp,
		Users:      map[string]string{geomeshUser: geomeshPass, appUser: appPass, fencerUser: fencerPass},
		SuperUsers: []string{"User:" + geomeshUser, "User:CN=" + geomeshUser},
		Kerberos:   kdc,
	}}
	cs := make([]*kafkatest.Cluster, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range cs {
		wg.Go(func() {
			c, err := kafkatest.New(opts)
			if err == nil {
				err = c.Start(ctx)
			}
			cs[i], errs[i] = c, err
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range cs {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, "secure: start kafka:", err)
		return 1
	}
	east, west = cs[0], cs[1]
	fmt.Printf("secure: 2 secured Apache Kafka %s clusters: east %v, west %v\n", east.Version(), east.Bootstrap(), west.Bootstrap())
	return m.Run()
}
