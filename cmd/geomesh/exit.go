package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/geomesh/geomesh/api"
	"github.com/spf13/cobra"
)

// Exit statuses: the table of docs/cli.md and of geomesh --help.
const (
	// exitFailure: any failure the other statuses do not name.
	exitFailure = 1
	// exitUsage: bad flags or arguments, no topology file, an unknown
	// command: nothing was done.
	exitUsage = 2
	// exitRefused: the mesh or an agent refused the request (an agent's
	// 409 or other 4xx answer, an aborted planned switch, translate
	// --apply refused).
	exitRefused = 3
	// exitNotFound: no such region, flow or consumer group in the mesh.
	exitNotFound = 4
	// exitBehind: translate did not answer with a current, exact
	// translation: a partition is behind (the copier has not reached the
	// group's offset; try again), or the source region did not answer
	// and the offsets shown are what the target holds.
	exitBehind = 5
)

// exitError makes the command exit 1 without printing anything more:
// the command has already reported what went wrong in its own format.
type exitError struct{ msg string }

func (e exitError) Error() string { return e.msg }

// exitStatus makes the command exit with code after main prints err.
type exitStatus struct {
	code int
	err  error
}

func (e exitStatus) Error() string { return e.err.Error() }
func (e exitStatus) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return exitStatus{code: exitUsage, err: fmt.Errorf(format, a...)}
}

func notFoundf(format string, a ...any) error {
	return exitStatus{code: exitNotFound, err: fmt.Errorf(format, a...)}
}

func refusedf(format string, a ...any) error {
	return exitStatus{code: exitRefused, err: fmt.Errorf(format, a...)}
}

// ranError marks an error that a command's RunE returned, once cobra had
// accepted the command line. Every other error of Execute is cobra's own
// (an unknown command or flag, wrong arguments, a required flag not set)
// or the global flags' check: a usage error.
type ranError struct{ error }

func (e ranError) Unwrap() error { return e.error }

// markRun wraps the RunE of cmd and of every command below it so that
// their errors are marked ranError.
func markRun(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if err := run(c, args); err != nil {
				return ranError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		markRun(sub)
	}
}

// exitCode is the exit status for what Execute returned.
func exitCode(err error) int {
	var st exitStatus
	var quiet exitError
	var ran ranError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &st):
		return st.code
	case errors.As(err, &quiet):
		return exitFailure
	case refusedByAgent(err):
		return exitRefused
	case !errors.As(err, &ran):
		return exitUsage
	default:
		return exitFailure
	}
}

// refusedByAgent tells an agent's refusal of a request (a 4xx answer other
// than 404, which names a missing endpoint) from the agent not answering.
func refusedByAgent(err error) bool {
	s := api.StatusOf(err)
	return s/100 == 4 && s != http.StatusNotFound
}

// execute runs the command line args and returns the exit status. It
// prints the error on stderr unless the command reported it already, and
// after a usage error where to find the usage.
func execute(root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var quiet exitError
	if !errors.As(err, &quiet) {
		fmt.Fprintln(stderr, "geomesh:", err)
	}
	code := exitCode(err)
	if code == exitUsage {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}
