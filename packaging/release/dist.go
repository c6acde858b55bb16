package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// platform is one GOOS/GOARCH a release is built for.
type platform struct{ OS, Arch string }

func (p platform) String() string { return p.OS + "/" + p.Arch }

// binary is the file name of geomesh for p in the release folder; the
// aws-region Terraform module downloads the linux ones by these names.
func (p platform) binary() string { return "geomesh-" + p.OS + "-" + p.Arch }

// releasePlatforms are what `make dist` builds.
var releasePlatforms = []platform{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}}

func parsePlatforms(s string) ([]platform, error) {
	var ps []platform
	for f := range strings.SplitSeq(s, ",") {
		os, arch, ok := strings.Cut(strings.TrimSpace(f), "/")
		p := platform{os, arch}
		if !ok || !slices.Contains(releasePlatforms, p) {
			return nil, fmt.Errorf("platform %q: want one of %v", f, releasePlatforms)
		}
		if !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	return ps, nil
}

// extraFiles go into every release next to the binaries: the systemd
// unit and its environment files (docs/deploy.md).
var extraFiles = []string{
	"deploy/systemd/geomesh-agent.service",
	"deploy/systemd/geomesh.env.example",
	"deploy/systemd/secrets.env.example",
}

// sumsFile lists the SHA-256 of every other file of the release, in the
// format `sha256sum -c` reads.
const sumsFile = "SHA256SUMS"

// build compiles cmd/geomesh of the module at root for p into out:
// static (cgo off), without local paths, stamped with st.
func build(ctx context.Context, goCmd, root string, st stamp, p platform, out string) error {
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-buildvcs=true", "-ldflags", st.ldflags(), "-o", out, "./cmd/geomesh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build geomesh for %s: %w\n%s", p, err, b)
	}
	return nil
}

// writeSums writes sumsFile in dir over every regular file directly in
// it, sorted by name.
func writeSums(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == sumsFile {
			continue
		}
		sum, err := fileSHA256(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, e.Name())
	}
	return os.WriteFile(filepath.Join(dir, sumsFile), []byte(b.String()), 0o644)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
