// Command geomesh validates and plans topology files, runs regions'
// agents and the local demo. Each subcommand lives in a file of its own;
// docs/cli.md describes the grammar they share, the exit statuses and
// the JSON they print.
package main

import "os"

func main() {
	os.Exit(execute(rootCmd(), os.Args[1:], os.Stderr))
}
