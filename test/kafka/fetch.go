package kafkatest

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"
)

// The pom and script are embedded rather than located on disk so that a
// test binary of any package importing kafkatest can assemble Kafka, not
// only one run from this directory.
var (
	//go:embed pom.xml
	pomXML []byte
	//go:embed fetch.sh
	fetchScript []byte
	//go:embed log4j2.properties
	log4j2Properties []byte
)

// fetchTimeout bounds a first-time download; a warm Maven repository
// needs seconds, a cold one on a slow mirror a few minutes.
const fetchTimeout = 10 * time.Minute

var pomVersion = regexp.MustCompile(`<kafka\.version>([^<]+)</kafka\.version>`)

// home returns the directory holding libs/, computed exactly as fetch.sh
// computes it so that a hand-run fetch.sh warms the cache Go uses.
func home() (string, error) {
	if h := os.Getenv("GEOMESH_KAFKA_HOME"); h != "" {
		return h, nil
	}
	m := pomVersion.FindSubmatch(pomXML)
	if m == nil {
		return "", errors.New("kafkatest: no <kafka.version> in embedded pom.xml")
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("kafkatest: locate jar cache: %w", err)
	}
	return filepath.Join(h, ".cache", "geomesh", "kafka-"+string(m[1])), nil
}

// fetched reports whether dir holds the jars of the embedded pom. fetch.sh
// writes the marker last, as a copy of the pom it fetched for.
func fetched(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ".fetched"))
	return err == nil && bytes.Equal(b, pomXML)
}

// ensureJars makes dir/libs hold the jars of the embedded pom, running
// fetch.sh if needed. Test binaries of several packages run in parallel,
// so a file lock next to dir makes one of them fetch while the others
// wait and then find the marker.
func ensureJars(ctx context.Context, dir string) error {
	if fetched(dir) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("kafkatest: create jar cache: %w", err)
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	if fetched(dir) {
		return nil
	}

	src, err := os.MkdirTemp("", "kafkatest-fetch-")
	if err != nil {
		return fmt.Errorf("kafkatest: fetch jars: %w", err)
	}
	defer os.RemoveAll(src)
	for name, b := range map[string][]byte{"pom.xml": pomXML, "fetch.sh": fetchScript} {
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			return fmt.Errorf("kafkatest: fetch jars: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", filepath.Join(src, "fetch.sh"))
	cmd.Env = append(os.Environ(), "GEOMESH_KAFKA_HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kafkatest: fetch jars into %s with Maven: %w\n%s", dir, err, out)
	}
	if !fetched(dir) {
		return fmt.Errorf("kafkatest: fetch.sh finished but %s/.fetched does not match pom.xml", dir)
	}
	return nil
}

// lockFile takes an exclusive flock on path, polling so that ctx can
// cancel the wait; flock itself has no timeout.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: open lock %s: %w", path, err)
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("kafkatest: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("kafkatest: wait for lock %s held by another fetch: %w", path, ctx.Err())
		case <-tick.C:
		}
	}
}

var kafkaJar = regexp.MustCompile(`^kafka_2\.\d+-(.+)\.jar$`)

// jarVersion reads the Kafka version from the core jar's file name, so
// the version is pinned only in pom.xml.
func jarVersion(libs string) (string, error) {
	entries, err := os.ReadDir(libs)
	if err != nil {
		return "", fmt.Errorf("kafkatest: read jars: %w", err)
	}
	for _, e := range entries {
		if m := kafkaJar.FindStringSubmatch(e.Name()); m != nil {
			return m[1], nil
		}
	}
	return "", fmt.Errorf("kafkatest: no kafka_2.*.jar in %s", libs)
}
