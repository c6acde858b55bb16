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
	"sync"
	"syscall"

	"github.com/geomesh/geomesh/agent"
	"github.com/geomesh/geomesh/topology"
)

// agentMain runs a geomesh agent in this process exactly as `geomesh agent`
// does (agent.New with the topology and region, default settings), and
// writes a CPU profile of the whole process from start to SIGTERM, or, with
// -window, from SIGUSR1 to SIGUSR2. The measured runs use the real geomesh
// binary; this one exists because the agent's HTTP API has no /debug/pprof.
func agentMain(args []string) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	file := fs.String("topology", "", "topology file")
	region := fs.String("region", "", "region the agent serves")
	cpu := fs.String("cpuprofile", "", "write a CPU profile here")
	window := fs.Bool("window", false, "profile from SIGUSR1 to SIGUSR2 only")
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
	if *window {
		stopWindow := profileWindow(f)
		defer stopWindow()
	} else {
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

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

// profileWindow profiles the process between SIGUSR1 and SIGUSR2, so a
// profile can cover one phase of a run (the idle phase of the scale
// scenario) without its start. The returned function stops the watcher and
// any profile still running.
func profileWindow(f *os.File) func() {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		running := false
		defer func() {
			if running {
				pprof.StopCPUProfile()
			}
		}()
		for {
			select {
			case <-quit:
				return
			case s := <-sig:
				switch {
				case s == syscall.SIGUSR1 && !running:
					running = pprof.StartCPUProfile(f) == nil
				case s == syscall.SIGUSR2 && running:
					pprof.StopCPUProfile()
					running = false
				}
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(quit)
		wg.Wait()
	}
}
