// Package testhygiene has no code of its own. Its tests read the
// repository's Go tests and shell scripts for three habits that make a
// test lie or flake, and fail with the file and line of each:
//
//   - a goroutine other than the test's that stops the test (t.Fatal,
//     t.Fatalf, t.FailNow, t.Skip...), directly or through a function of
//     the module that does it with the t it is given: the call ends only
//     that goroutine, and the test goes on or hangs;
//   - a fixed loopback port in a Go test (127.0.0.1:4222, localhost:8080,
//     [::1]:9092): two tests, or a test and whatever runs on the machine,
//     meet on it. Tests take free ports (testkit.FreeAddr), or
//     testkit.RefusedAddr for an address that must not answer; test/netns
//     and test/chaos, whose processes run in network namespaces of their
//     own, may fix ports there;
//   - a pipe into head or grep -q in a shell script under pipefail: the
//     reader exits early, the writer dies of SIGPIPE, and the script fails
//     with status 141 now and then.
//
// The goroutine check reads syntax, not types: it follows package-level
// functions through their testing.TB parameters, not methods or values
// that hold a t, so it misses some cases and raises no false alarm.
// `make lint` runs it.
package testhygiene
