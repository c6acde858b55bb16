// Command release builds geomesh's release into one folder (`make dist`):
//
//	geomesh-<os>-<arch>   static binaries for linux and darwin, amd64 and
//	                      arm64, stamped with version, commit and the
//	                      commit's date (`geomesh version`)
//	geomesh.spdx.json     the SBOM: every Go module linked into each binary
//	geomesh-agent.service, geomesh.env.example, secrets.env.example
//	                      the systemd unit and its environment files
//	geomesh-image/        with -image: the OCI image layout of the linux
//	                      binaries, static and non-root (`make image`)
//	SHA256SUMS            of the files above (the aws-region Terraform
//	                      module's binary_sha256 comes from here)
//
// No Docker daemon is involved: the image is assembled with
// go-containerregistry. Everything is dated with the commit, so one
// commit builds the same bytes twice.
//
//	go run ./packaging/release [-out dist] [-version v1.2.3] [-platforms linux/amd64,...] [-image]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
)

// options are the release's flags.
type options struct {
	// root is the module to build (the folder with go.mod). Default: ".".
	root string
	// out is the release folder, emptied first. Default: "dist".
	out string
	// version is stamped into the binaries and tags the image. Default:
	// `git describe --tags --always --dirty`.
	version string
	// platforms are those to build. Default: all of releasePlatforms.
	platforms []platform
	// image adds the OCI image of the linux platforms built.
	image bool
	// goCmd is the go command. Default: $GO, else "go".
	goCmd string
}

func main() {
	var o options
	var platforms string
	flag.StringVar(&o.root, "root", ".", "the geomesh module to build")
	flag.StringVar(&o.out, "out", "dist", "the release folder (emptied first)")
	flag.StringVar(&o.version, "version", "", "version to stamp (default: git describe --tags --always --dirty)")
	flag.StringVar(&platforms, "platforms", joinPlatforms(releasePlatforms), "comma-separated GOOS/GOARCH to build")
	flag.BoolVar(&o.image, "image", false, "also write the OCI image layout of the linux binaries")
	flag.Parse()
	var err error
	if o.platforms, err = parsePlatforms(platforms); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(2)
	}
	o.goCmd = os.Getenv("GO")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := release(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func joinPlatforms(ps []platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// release builds o.platforms into o.out, then the SBOM, the image and
// the checksums, and prints what it wrote.
func release(ctx context.Context, o options) error {
	if o.goCmd == "" {
		o.goCmd = "go"
	}
	st, err := stampOf(ctx, o.root, o.version)
	if err != nil {
		return err
	}
	if !validVersion(st.Version) {
		return fmt.Errorf("version %q: want letters, digits and . _ + - only", st.Version)
	}
	if err := os.RemoveAll(o.out); err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	var bins []string
	linux := map[platform]string{}
	for _, p := range o.platforms {
		name := p.binary()
		if err := build(ctx, o.goCmd, o.root, st, p, filepath.Join(o.out, name)); err != nil {
			return err
		}
		bins = append(bins, name)
		if p.OS == "linux" {
			linux[p] = name
		}
	}
	for _, f := range extraFiles {
		if err := copyFile(filepath.Join(o.root, f), filepath.Join(o.out, filepath.Base(f))); err != nil {
			return err
		}
	}
	if err := writeSBOM(o.out, st, bins); err != nil {
		return err
	}
	if o.image {
		if len(linux) == 0 {
			return fmt.Errorf("image: no linux platform among %s", joinPlatforms(o.platforms))
		}
		if err := writeImage(o.out, st, linux); err != nil {
			return err
		}
	}
	if err := writeSums(o.out); err != nil {
		return err
	}
	fmt.Printf("geomesh %s (commit %s, %s) in %s: %s\n", st.Version, st.Commit, st.Date.Format("2006-01-02T15:04:05Z"), o.out, joinPlatforms(o.platforms))
	return nil
}

func validVersion(v string) bool {
	if v == "" {
		return false
	}
	for _, r := range v {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._+-", r)
		if !ok {
			return false
		}
	}
	return true
}
