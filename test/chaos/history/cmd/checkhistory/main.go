// Command checkhistory checks a history saved by a chaos run again:
//
//	go run ./test/chaos/history/cmd/checkhistory [-exactly-once=false] [-regions a,b] FILE
//
// It prints every finding and exits 1 if there is any, 2 if the file
// cannot be read.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/geomesh/geomesh/test/chaos/history"
)

func main() {
	fs := flag.NewFlagSet("checkhistory", flag.ExitOnError)
	exactlyOnce := fs.Bool("exactly-once", true, "report a record held twice in one region")
	regions := fs.String("regions", "", "comma-separated regions that must each read every acknowledged record (default: any one region)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: checkhistory [flags] FILE")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() != 1 {
		fs.Usage()
		os.Exit(2)
	}
	os.Exit(run(fs.Arg(0), *exactlyOnce, *regions))
}

func run(path string, exactlyOnce bool, regions string) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer f.Close()
	h, err := history.ReadJSONL(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
		return 2
	}
	opts := history.Options{ExactlyOnce: exactlyOnce}
	if regions != "" {
		opts.Regions = strings.Split(regions, ",")
	}
	findings := history.Check(h, opts)
	for _, fd := range findings {
		fmt.Println(fd)
	}
	fmt.Printf("%d produced, %d consumed, %d aborted, %d epoch events, %d stranded: %d findings\n",
		len(h.Produces), len(h.Consumes), len(h.Aborts), len(h.Epochs), len(h.Stranded), len(findings))
	if len(findings) > 0 {
		return 1
	}
	return 0
}
