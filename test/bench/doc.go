// Package bench holds geomesh's benchmark harness: the runner is the main
// package in cmd/geomesh-bench (run it with `make bench`), so nothing here
// runs under `go test ./...`. See docs/benchmarks.md for what it measures
// and the figures of the last full run.
package bench
