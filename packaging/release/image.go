package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// imageDir is the OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
// in the release folder: index.json names one multi-platform image index,
// tagged with the version (org.opencontainers.image.ref.name), so that
// `skopeo copy oci:dist/geomesh-image:<version> docker://…` or
// `crane push dist/geomesh-image …` publishes it.
const imageDir = "geomesh-image"

// The image is FROM scratch: the static binary, a passwd and group file
// that name its non-root user, the CA bundle of the build host (Kafka
// brokers behind public certificates, AWS endpoints) and the default
// state directory owned by that user.
const (
	imageBinary   = "/usr/local/bin/geomesh"
	imageUID      = 65532
	imageUser     = "65532:65532"
	imageStateDir = "/var/lib/geomesh"
	caBundle      = "/etc/ssl/certs/ca-certificates.crt"
)

// imagePorts are the agent's ports as mesh-config (deploy/terraform)
// defaults them: gossip over TCP and UDP, the embedded control plane,
// the API.
var imagePorts = []string{"7946/tcp", "7946/udp", "6222/tcp", "8080/tcp"}

// writeImage writes the image of the linux binaries in dir (platform →
// file name) to dir/imageDir.
func writeImage(dir string, st stamp, linux map[platform]string) error {
	ca, err := os.ReadFile(caBundle)
	if err != nil {
		return fmt.Errorf("image: the CA bundle the image carries: %w (Debian: apt-get install ca-certificates)", err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range releasePlatforms {
		name, ok := linux[p]
		if !ok {
			continue
		}
		bin, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		img, err := platformImage(st, p, bin, ca)
		if err != nil {
			return fmt.Errorf("image for %s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Arch}},
		})
	}
	out := filepath.Join(dir, imageDir)
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	lp, err := layout.Write(out, empty.Index)
	if err != nil {
		return fmt.Errorf("image: layout %s: %w", out, err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": st.Version,
	})); err != nil {
		return fmt.Errorf("image: layout %s: %w", out, err)
	}
	return nil
}

func platformImage(st stamp, p platform, bin, ca []byte) (v1.Image, error) {
	layer, err := rootfs(st.Date, bin, ca)
	if err != nil {
		return nil, err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, l); err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = p.OS, p.Arch
	cfg.Created = v1.Time{Time: st.Date}
	cfg.Config.Entrypoint = []string{imageBinary}
	cfg.Config.Cmd = []string{"--help"}
	cfg.Config.User = imageUser
	cfg.Config.WorkingDir = imageStateDir
	cfg.Config.Env = []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=" + caBundle}
	cfg.Config.ExposedPorts = map[string]struct{}{}
	for _, port := range imagePorts {
		cfg.Config.ExposedPorts[port] = struct{}{}
	}
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":    "geomesh",
		"org.opencontainers.image.version":  st.Version,
		"org.opencontainers.image.revision": st.Commit,
		"org.opencontainers.image.created":  st.Date.Format(time.RFC3339),
		"org.opencontainers.image.source":   "https://github.com/geomesh/geomesh",
	}
	return mutate.ConfigFile(img, cfg)
}

// rootfs is the image's one layer as a gzipped tar, every entry dated
// date so that one commit gives one digest.
func rootfs(date time.Time, bin, ca []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	dir := func(name string, uid int, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: date, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(b)), ModTime: date, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:geomesh:%s:/sbin/nologin\n", imageUID, imageUID, imageStateDir)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", imageUID)
	steps := []func() error{
		func() error { return dir("etc", 0, 0o755) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return dir("etc/ssl", 0, 0o755) },
		func() error { return dir("etc/ssl/certs", 0, 0o755) },
		func() error { return file("etc/ssl/certs/ca-certificates.crt", 0o644, ca) },
		func() error { return dir("tmp", 0, 0o1777) },
		func() error { return dir("usr", 0, 0o755) },
		func() error { return dir("usr/local", 0, 0o755) },
		func() error { return dir("usr/local/bin", 0, 0o755) },
		func() error { return file(imageBinary[1:], 0o755, bin) },
		func() error { return dir("var", 0, 0o755) },
		func() error { return dir("var/lib", 0, 0o755) },
		func() error { return dir(imageStateDir[1:], imageUID, 0o750) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
