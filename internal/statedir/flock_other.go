//go:build !unix

package statedir

import (
	"errors"
	"os"
)

var errLocked = errors.New("locked")

// flock does not lock where flock(2) does not exist: geomesh's agents
// run on Linux; this keeps the module building elsewhere.
func flock(*os.File) error { return nil }
