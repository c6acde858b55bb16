package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/topology"
)

// agentMain runs a geomesh agent in this process exactly as `geomesh agent`
// does (agent.New with the topology and region, default settings), and
// writes a CPU profile of the whole process from start to SIGTERM. The
// measured runs use the real geomesh binary; this one exists because the
// agent's HTTP API has no /debug/pprof.
func agentMain(args []string) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	file := fs.String("topology", "", "topology file")
	region := fs.String("region", "", "region the agent serves")
	cpu := fs.String("cpuprofile", "", "write a CPU profile here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" || *region == "" || *cpu == "" {
		return errors.New("agent: -topology, -region and -cpuprofile are required")
	}
	m, err := topology.Load(*file)
	if err != nil {
		return err
	}
	f, err := os.Create(*cpu)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := agent.New(agent.Config{Mesh: m, Region: *region, Logger: log})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := a.Start(ctx); err != nil {
		return errors.Join(err, a.Close())
	}
	fmt.Println("agent started")
	<-ctx.Done()
	return a.Close()
}
