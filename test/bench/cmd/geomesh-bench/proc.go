package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process in its own process group, optionally inside a
// network namespace, with stdout and stderr appended to a log file. It dies
// with the runner (Pdeathsig) so no copier outlives a crashed benchmark.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	// started is when the process was launched.
	started time.Time
	samp    *sampler
}

func startProc(name, netns, logPath string, argv ...string) (*proc, error) {
	if netns != "" {
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{}), started: time.Now()}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	// ip netns exec execs the command, so the pid is the copier's.
	p.samp = newSampler(cmd.Process.Pid)
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process when it runs profiled in the runner's
// binary (geomesh-bench agent -window), which takes SIGUSR1 and SIGUSR2 as
// the start and end of its profile.
func (p *proc) signal(sig syscall.Signal) {
	if p.name == geomeshIdleProfile {
		_ = p.cmd.Process.Signal(sig)
	}
}

// stop sends SIGTERM to the process group, waits up to 15 s and then kills
// it. It returns the process's resource samples.
func (p *proc) stop() {
	p.samp.stop()
	pg := -p.cmd.Process.Pid
	_ = syscall.Kill(pg, syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(15 * time.Second):
	}
	_ = syscall.Kill(pg, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// sample is one reading of a process's counters.
type sample struct {
	t   time.Time
	cpu float64 // user+system CPU seconds since start
	rss int64   // resident set size, bytes
}

// sampler reads /proc/<pid>/stat and /proc/<pid>/status every 250 ms.
type sampler struct {
	pid  int
	mu   sync.Mutex
	s    []sample
	quit chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// clockTicks is USER_HZ, which is 100 on every Linux the runner supports.
const clockTicks = 100

func newSampler(pid int) *sampler {
	s := &sampler{pid: pid, quit: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			s.read()
			select {
			case <-s.quit:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() {
	s.once.Do(func() { close(s.quit) })
	s.wg.Wait()
}

func (s *sampler) read() {
	cpu, ok := procCPU(s.pid)
	if !ok {
		return
	}
	rss := procRSS(s.pid)
	s.mu.Lock()
	s.s = append(s.s, sample{t: time.Now(), cpu: cpu, rss: rss})
	s.mu.Unlock()
}

// at returns the last sample taken at or before t (the first one if none).
func (s *sampler) at(t time.Time) sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.s) == 0 {
		return sample{}
	}
	best := s.s[0]
	for _, x := range s.s {
		if x.t.After(t) {
			break
		}
		best = x
	}
	return best
}

// peakRSS is the largest RSS seen up to t.
func (s *sampler) peakRSS(t time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m int64
	for _, x := range s.s {
		if x.t.After(t) {
			break
		}
		m = max(m, x.rss)
	}
	return m
}

func procCPU(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces; fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (u + st) / clockTicks, true
}

func procRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
