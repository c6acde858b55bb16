// Command geomesh-bench measures geomesh against Apache Kafka MirrorMaker 2
// and a raw franz-go copy loop on two real Kafka clusters, and writes
// docs/benchmarks.md, docs/benchmarks.json and SVG charts.
//
//	geomesh-bench [-quick] [-reps 3] [-scenarios throughput,latency,wan,resources] [-out docs]
//
// Every scenario runs every copier on the same two clusters in the same run,
// interleaved, at least -reps times; the report gives medians, spreads and
// ratios. Subcommands used by the runner itself:
//
//	geomesh-bench raw-copy ...   the raw consume → produce loop, as its own process
//	geomesh-bench agent ...      a geomesh agent in process, with a CPU profile
//
// and `geomesh-bench render` regenerates the report from benchmarks.json.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "raw-copy":
			exit(rawCopyMain(os.Args[2:]))
		case "agent":
			exit(agentMain(os.Args[2:]))
		case "render":
			exit(renderMain(os.Args[2:]))
		}
	}
	exit(runMain(os.Args[1:]))
}

func exit(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "geomesh-bench:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
