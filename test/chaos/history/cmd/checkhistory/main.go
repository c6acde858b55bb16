// Command checkhistory checks a history saved by a chaos run again:
//
//	go run ./test/chaos/history/cmd/checkhistory [-exactly-once=false] [-read-once] [-regions a,b] [-mirror SRC=DST[,quarantine=TOPIC]]... FILE
//
// Each -mirror judges the history's logs: SRC and DST are REGION/TOPIC,
// as in -mirror us-east/orders=eu-west/orders,quarantine=orders.stranded.
// It prints every finding and exits 1 if there is any, 2 if the file or a
// flag cannot be read.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/geomesh/geomesh/test/chaos/history"
)

func main() {
	fs := flag.NewFlagSet("checkhistory", flag.ExitOnError)
	exactlyOnce := fs.Bool("exactly-once", true, "report a record held twice in one region")
	readOnce := fs.Bool("read-once", false, "report a record the consumers, one application, read more than once")
	regions := fs.String("regions", "", "comma-separated regions that must each read every acknowledged record (default: any one region)")
	var mirrors []history.Mirror
	fs.Func("mirror", "a copy to judge on the logs: `SRC=DST[,quarantine=TOPIC]`, each side REGION/TOPIC (repeatable)", func(v string) error {
		m, err := parseMirror(v)
		mirrors = append(mirrors, m)
		return err
	})
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: checkhistory [flags] FILE")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() != 1 {
		fs.Usage()
		os.Exit(2)
	}
	opts := history.Options{ExactlyOnce: *exactlyOnce, ReadOnce: *readOnce, Mirrors: mirrors}
	if *regions != "" {
		opts.Regions = strings.Split(*regions, ",")
	}
	os.Exit(run(fs.Arg(0), opts))
}

// parseMirror reads SRC=DST[,quarantine=TOPIC].
func parseMirror(v string) (history.Mirror, error) {
	var m history.Mirror
	head, rest, _ := strings.Cut(v, ",")
	src, dst, ok := strings.Cut(head, "=")
	if !ok {
		return m, errors.New("want SRC=DST")
	}
	var err error
	if m.Source, err = parsePlace(src); err != nil {
		return m, err
	}
	if m.Target, err = parsePlace(dst); err != nil {
		return m, err
	}
	if rest != "" {
		q, ok := strings.CutPrefix(rest, "quarantine=")
		if !ok || q == "" {
			return m, fmt.Errorf("%q: want quarantine=TOPIC", rest)
		}
		m.Quarantine = q
	}
	return m, nil
}

// parsePlace reads REGION/TOPIC; topic names cannot hold a slash.
func parsePlace(v string) (history.Place, error) {
	region, topic, ok := strings.Cut(v, "/")
	if !ok || region == "" || topic == "" {
		return history.Place{}, fmt.Errorf("%q: want REGION/TOPIC", v)
	}
	return history.Place{Region: region, Topic: topic}, nil
}

func run(path string, opts history.Options) int {
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
	findings := history.Check(h, opts)
	for _, fd := range findings {
		fmt.Println(fd)
	}
	logged := 0
	for _, l := range h.Logs {
		logged += len(l.Records)
	}
	fmt.Printf("%d produced, %d consumed, %d aborted, %d unresolved, %d epoch events, %d stranded, %d records in %d logs: %d findings\n",
		len(h.Produces), len(h.Consumes), len(h.Aborts), len(h.Unresolved), len(h.Epochs), len(h.Stranded), logged, len(h.Logs), len(findings))
	if len(findings) > 0 {
		return 1
	}
	return 0
}
