package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/geomesh/geomesh/topology"
	"github.com/twmb/franz-go/pkg/sasl"
	awssasl "github.com/twmb/franz-go/pkg/sasl/aws"
)

// errAWSCredentials marks an AWS_MSK_IAM login that failed before the
// broker saw it: no credentials in the chain.
var errAWSCredentials = errors.New("aws credentials")

// awsSigner signs AWS_MSK_IAM logins with credentials from the standard
// AWS chain. The chain is read on the first login, not when the client is
// built, and its credentials are cached and refreshed before they expire
// by the SDK.
type awsSigner struct {
	cfg *topology.AWSIAM
	// load reads the chain; awsconfig.LoadDefaultConfig outside tests.
	load func(ctx context.Context, opts ...func(*awsconfig.LoadOptions) error) (aws.Config, error)

	mu    sync.Mutex
	creds aws.CredentialsProvider
}

func newAWSSigner(cfg *topology.AWSIAM) *awsSigner {
	if cfg == nil {
		cfg = &topology.AWSIAM{}
	}
	return &awsSigner{cfg: cfg, load: awsconfig.LoadDefaultConfig}
}

func (a *awsSigner) mechanism() sasl.Mechanism {
	return awssasl.ManagedStreamingIAM(func(ctx context.Context) (awssasl.Auth, error) {
		c, err := a.credentials(ctx)
		if err != nil {
			return awssasl.Auth{}, err
		}
		return awssasl.Auth{AccessKey: c.AccessKeyID, SecretKey: c.SecretAccessKey, SessionToken: c.SessionToken, UserAgent: "geomesh"}, nil
	})
}

func (a *awsSigner) credentials(ctx context.Context) (aws.Credentials, error) {
	a.mu.Lock()
	if a.creds == nil {
		var opts []func(*awsconfig.LoadOptions) error
		if a.cfg.Profile != "" {
			opts = append(opts, awsconfig.WithSharedConfigProfile(a.cfg.Profile))
		}
		cfg, err := a.load(ctx, opts...)
		if err != nil {
			a.mu.Unlock()
			return aws.Credentials{}, fmt.Errorf("%w: %w", errAWSCredentials, err)
		}
		a.creds = cfg.Credentials
	}
	creds := a.creds
	a.mu.Unlock()
	if creds == nil {
		return aws.Credentials{}, fmt.Errorf("%w: the AWS chain found none (environment, shared files, web identity, container or instance role)", errAWSCredentials)
	}
	c, err := creds.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("%w: %w", errAWSCredentials, err)
	}
	return c, nil
}
