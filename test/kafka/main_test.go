package kafkatest_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	kafkatest "github.com/geomesh/geomesh/test/kafka"
)

// shared is one single-broker cluster for the tests that do not stop
// brokers: a JVM start costs seconds, a topic of its own costs nothing.
var shared *kafkatest.Cluster

// sharedStart is how long the shared cluster took to start, for the log.
var sharedStart time.Duration

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	c, err := kafkatest.New(kafkatest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Room for a first-time download of the jars on top of the start.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	begin := time.Now()
	if err := c.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sharedStart = time.Since(begin)
	defer func() {
		if err := c.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	shared = c

	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "kafkatest: shared broker log %s, last 200 lines:\n%s\n", c.LogPath(0), c.LogTail(0, 200))
	}
	return code
}
