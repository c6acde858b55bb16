package mirror

import (
	"errors"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Error classes: a small fixed set, so that metrics can carry the class as
// a label and alerts can tell an operator's problem (authorization, a
// cluster down) from a passing one.
const (
	ClassFenced        = "fenced"        // another owner took the shard
	ClassAuthorization = "authorization" // a permission is missing on a cluster
	ClassUnreachable   = "unreachable"   // a cluster does not answer
	ClassTooLarge      = "record-too-large"
	ClassOther         = "other"
)

// ErrorClass sorts an error of a shard into one of the classes above.
func ErrorClass(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, ErrFenced):
		return ClassFenced
	case errors.Is(err, kerr.TopicAuthorizationFailed),
		errors.Is(err, kerr.GroupAuthorizationFailed),
		errors.Is(err, kerr.ClusterAuthorizationFailed),
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed),
		errors.Is(err, kerr.SaslAuthenticationFailed):
		return ClassAuthorization
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return ClassTooLarge
	case errors.As(err, &netErr):
		return ClassUnreachable
	}
	return ClassOther
}
