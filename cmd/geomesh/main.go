// Command geomesh validates and plans topology files, runs regions'
// agents and the local demo. Each subcommand lives in a file of its own.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	if err := rootCmd().Execute(); err != nil {
		var quiet exitError
		if !errors.As(err, &quiet) {
			fmt.Fprintln(os.Stderr, "geomesh:", err)
		}
		var st exitStatus
		if errors.As(err, &st) {
			os.Exit(st.code)
		}
		os.Exit(1)
	}
}
