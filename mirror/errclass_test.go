package mirror

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestErrorClass(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connection refused")}
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("shard x: %w: %w", ErrFenced, kerr.ProducerFenced), ClassFenced},
		{fmt.Errorf("begin: %w", kerr.TransactionalIDAuthorizationFailed), ClassAuthorization},
		{fmt.Errorf("produce: %w", kerr.TopicAuthorizationFailed), ClassAuthorization},
		{fmt.Errorf("produce: %w", kerr.MessageTooLarge), ClassTooLarge},
		{fmt.Errorf("cluster us-east: unable to dial: %w", dial), ClassUnreachable},
		{context.DeadlineExceeded, ClassUnreachable}, // a request that timed out: nobody answered
		{fmt.Errorf("something else"), ClassOther},
	} {
		if got := ErrorClass(c.err); got != c.want {
			t.Errorf("ErrorClass(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
