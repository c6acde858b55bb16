package main

import (
	"errors"
	"fmt"

	"github.com/geomesh/geomesh/topology"
	"github.com/spf13/cobra"
)

// validateResult is one file's result; validate --json prints a list of
// them (docs/cli.md).
type validateResult struct {
	File   string        `json:"file"`
	OK     bool          `json:"ok"`
	Kind   string        `json:"kind,omitempty"`
	Flows  int           `json:"flows,omitempty"`
	Errors []errorRecord `json:"errors,omitempty"`

	errs topology.Errors
}

type errorRecord struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Message string `json:"message"`
}

func validateCmd() *cobra.Command {
	var checkFiles bool
	cmd := &cobra.Command{
		Use:   "validate [FILE...]",
		Short: "Check topology files and report every error as file:line:col: message",
		Long: `validate reads each topology file strictly (an unknown key is an error),
applies defaults and checks the mesh as a whole. Every problem in every file is
reported at once; the exit status is 1 when any file has one. Without
FILE it checks the file of -t or $GEOMESH_TOPOLOGY.

Every file the topology names (CA bundles, certificates, keys, keytabs,
krb5.conf, nkey seeds and file: secrets) must be readable on this host,
as it must be on the agents' hosts; --check-files=false skips that where
a file is checked elsewhere, as in CI.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := topologyArgs(cmd, args)
			if err != nil {
				return err
			}
			results := []validateResult{}
			failed := 0
			for _, f := range files {
				r := validateFile(f, checkFiles)
				if !r.OK {
					failed++
				}
				results = append(results, r)
			}
			if jsonOutput(cmd) {
				if err := writeJSON(cmd.OutOrStdout(), results); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					if r.OK {
						fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%s, %s)\n", r.File, r.Kind, plural(r.Flows, "flow"))
						continue
					}
					for _, e := range r.errs {
						fmt.Fprintln(cmd.ErrOrStderr(), e.Error())
					}
				}
			}
			if failed > 0 {
				return exitError{fmt.Sprintf("%d of %d files invalid", failed, len(files))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&checkFiles, "check-files", true, "check that every file the topology names can be read on this host")
	return cmd
}

func validateFile(path string, checkFiles bool) validateResult {
	var opts []topology.Option
	if checkFiles {
		opts = append(opts, topology.CheckFiles())
	}
	m, err := topology.Load(path, opts...)
	if err == nil {
		return validateResult{File: path, OK: true, Kind: string(m.Kind), Flows: topology.FlowCount(m)}
	}
	r := validateResult{File: path}
	if !errors.As(err, &r.errs) {
		r.errs = topology.Errors{{File: path, Msg: err.Error()}}
	}
	for _, e := range r.errs {
		r.Errors = append(r.Errors, errorRecord{File: e.File, Line: e.Line, Col: e.Col, Message: e.Msg})
	}
	return r
}

func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
