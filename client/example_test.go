package client_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/geomesh/geomesh/client"
	"github.com/geomesh/geomesh/local/meshtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Example moves a consumer group from the primary of an active-passive
// mesh to its standby in the middle of a stream: it reads the first 40
// records in us-east and the next 60 in eu-west, each exactly once. The
// mesh is local (meshtest: embedded clusters and agents); against real
// clusters, load the topology file with topology.Load instead.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tb := &exampleTB{}
	defer tb.cleanup()
	mesh := meshtest.Start(tb, "../configs/examples/active-passive.yaml")
	m := mesh.Topology()
	if _, err := kadm.NewClient(mesh.Client(tb, "us-east")).CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		panic(err)
	}

	prod, err := client.NewProducer(m) // writes to the primary, us-east
	if err != nil {
		panic(err)
	}
	defer prod.Close()
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			r := &kgo.Record{Topic: "orders", Value: []byte(strconv.Itoa(i))}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				panic(err)
			}
		}
	}
	produce(0, 40)

	cons, err := client.NewConsumer(m, "billing", client.Topics("orders"))
	if err != nil {
		panic(err)
	}
	defer cons.Close()
	var got []string
	read := func(n int) {
		for len(got) < n {
			rs, err := cons.Poll(ctx)
			if err != nil {
				panic(err)
			}
			for _, r := range rs {
				got = append(got, string(r.Value))
			}
		}
	}
	read(40)
	// Switch commits what Poll returned in us-east, has the agent of
	// eu-west translate it, and joins the group there.
	if err := cons.Switch(ctx, "eu-west"); err != nil {
		panic(err)
	}
	produce(40, 100) // still to the primary; the mesh copies them
	read(100)
	distinct := map[string]bool{}
	for _, v := range got {
		distinct[v] = true
	}
	fmt.Println("region:", cons.Region())
	fmt.Println("records:", len(got), "distinct:", len(distinct), "first:", got[0], "last:", got[len(got)-1])
	// Output:
	// region: eu-west
	// records: 100 distinct: 100 first: 0 last: 99
}

// exampleTB lets an example run meshtest, which wants a testing.TB: a test
// passes its *testing.T instead.
type exampleTB struct {
	testing.TB
	cleanups []func()
}

func (*exampleTB) Helper()                   {}
func (*exampleTB) Log(...any)                {}
func (*exampleTB) Errorf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (*exampleTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (tb *exampleTB) Cleanup(f func())       { tb.cleanups = append(tb.cleanups, f) }

func (tb *exampleTB) cleanup() {
	for i := len(tb.cleanups) - 1; i >= 0; i-- {
		tb.cleanups[i]()
	}
}
