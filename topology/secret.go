package topology

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Secret points at a credential kept outside the topology file, so the file
// can live in version control: "env:NAME" reads an environment variable,
// "file:/path" reads a file (a Kubernetes secret volume, say).
type Secret struct {
	Ref string
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// check explains what is wrong with the reference without quoting it, since
// a malformed reference is most often the password itself pasted inline.
func (s Secret) check() error {
	switch {
	case strings.HasPrefix(s.Ref, "env:"):
		if !envName.MatchString(strings.TrimPrefix(s.Ref, "env:")) {
			return errors.New("env: needs an environment variable name of letters, digits and '_'")
		}
	case strings.HasPrefix(s.Ref, "file:"):
		if strings.TrimPrefix(s.Ref, "file:") == "" {
			return errors.New("file: needs a path")
		}
	default:
		return errors.New("must be a reference to a secret, not the secret itself: write env:VARIABLE or file:/path/to/secret and keep the value there")
	}
	return nil
}

// String shows the reference, never a value; a malformed reference may be a
// pasted password, so it is hidden too.
func (s Secret) String() string {
	if s.check() != nil {
		return "[redacted]"
	}
	return s.Ref
}

// GoString keeps %#v from printing the Ref field of a pasted password.
func (s Secret) GoString() string { return fmt.Sprintf("topology.Secret{%q}", s.String()) }

// Resolve reads the secret. A trailing newline, which editors and
// `echo > file` add, is not part of it.
func (s Secret) Resolve() (string, error) {
	if err := s.check(); err != nil {
		return "", fmt.Errorf("secret %s: %w", s, err)
	}
	if name, ok := strings.CutPrefix(s.Ref, "env:"); ok {
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("secret %s: environment variable %s is not set", s.Ref, name)
		}
		return v, nil
	}
	path := strings.TrimPrefix(s.Ref, "file:")
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("secret %s: %w", s.Ref, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
