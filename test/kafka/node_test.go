package kafkatest

import (
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRaiseOpenFiles(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// Start from a low soft limit, as many shells give, so the raise has
	// something to do even where the hard limit may not grow.
	var before unix.Rlimit
	if err := unix.Prlimit(cmd.Process.Pid, unix.RLIMIT_NOFILE, nil, &before); err != nil {
		t.Fatal(err)
	}
	before.Cur = min(before.Cur, 1024)
	if err := unix.Prlimit(cmd.Process.Pid, unix.RLIMIT_NOFILE, &before, nil); err != nil {
		t.Fatal(err)
	}
	if err := raiseOpenFiles(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	var after unix.Rlimit
	if err := unix.Prlimit(cmd.Process.Pid, unix.RLIMIT_NOFILE, nil, &after); err != nil {
		t.Fatal(err)
	}
	// Where the hard limit may not be raised (no CAP_SYS_RESOURCE, as in
	// many containers), the soft limit must reach the hard one.
	want := min(uint64(brokerOpenFiles), before.Max)
	if after.Max > before.Max {
		want = brokerOpenFiles
	}
	if after.Cur < want {
		t.Errorf("open-files limit %d after raise (before %d/%d), want at least %d", after.Cur, before.Cur, before.Max, want)
	}
}
