package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

const testVersion = "v9.8.7-test"

// TestRelease builds a release of this checkout for the host's platform,
// linux/arm64 and darwin/arm64, with the image, and checks each artifact
// with tools other than the one that wrote it: sha256sum for the sums,
// the go command's module list for the SBOM, debug/elf and debug/macho
// for the binaries, the image layout's own digests, and the binaries run.
func TestRelease(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Fatalf("the release is built and its linux binary run on linux, not %s", runtime.GOOS)
	}
	host := platform{runtime.GOOS, runtime.GOARCH}
	platforms := []platform{host}
	for _, p := range []platform{{"linux", "arm64"}, {"linux", "amd64"}, {"darwin", "arm64"}} {
		if !slices.Contains(platforms, p) && len(platforms) < 3 {
			platforms = append(platforms, p)
		}
	}
	out := t.TempDir()
	if err := release(t.Context(), options{root: "../..", out: out, version: testVersion, platforms: platforms, image: true}); err != nil {
		t.Fatal(err)
	}
	commit, err := git(t.Context(), "../..", "rev-parse", "HEAD")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("sums", func(t *testing.T) {
		cmd := exec.Command("sha256sum", "--check", "--strict", sumsFile)
		cmd.Dir = out
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sha256sum --check: %v\n%s", err, b)
		}
		var want []string
		for _, p := range platforms {
			want = append(want, p.binary())
		}
		for _, f := range extraFiles {
			want = append(want, filepath.Base(f))
		}
		want = append(want, sbomFile)
		for _, f := range want {
			if !strings.Contains(string(b), f+": OK") {
				t.Errorf("%s does not cover %s:\n%s", sumsFile, f, b)
			}
		}
	})

	t.Run("binaries", func(t *testing.T) {
		for _, p := range platforms {
			checkBinary(t, filepath.Join(out, p.binary()), p)
		}
		var v struct{ Version, Commit, Date, Platform string }
		runJSON(t, &v, filepath.Join(out, host.binary()), "version", "--json")
		date, err := git(t.Context(), "../..", "log", "-1", "--format=%cI")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := time.Parse(time.RFC3339, date)
		got, err := time.Parse(time.RFC3339, v.Date)
		if v.Version != testVersion || v.Commit != commit || err != nil || !got.Equal(want) || v.Platform != host.String() {
			t.Errorf("geomesh version --json: %+v, want version %s, commit %s, date %s, platform %s", v, testVersion, commit, date, host)
		}
	})

	t.Run("sbom", func(t *testing.T) {
		var doc spdxDocument
		b, err := os.ReadFile(filepath.Join(out, sbomFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.SPDXVersion != "SPDX-2.3" || doc.DataLicense != "CC0-1.0" || doc.SPDXID != "SPDXRef-DOCUMENT" {
			t.Errorf("SBOM header: %s %s %s", doc.SPDXVersion, doc.DataLicense, doc.SPDXID)
		}
		pkgs := map[string]spdxPackage{}
		for _, p := range doc.Packages {
			pkgs[p.SPDXID] = p
		}
		for _, p := range platforms {
			bin := filepath.Join(out, p.binary())
			want := goModules(t, bin)
			id := spdxID("File", p.binary())
			var got []string
			for _, r := range doc.Relationships {
				if r.Element == id && r.Type == "DEPENDS_ON" && pkgs[r.Related].Name != "stdlib" {
					got = append(got, pkgs[r.Related].Name+"@"+pkgs[r.Related].VersionInfo)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s: the SBOM lists\n%v\n`go version -m` lists\n%v", p.binary(), got, want)
			}
			sum := sha256.Sum256(readFile(t, bin))
			if cs := pkgs[id].Checksums; len(cs) != 1 || cs[0].Value != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: SBOM checksums %v, the file's SHA-256 is %x", p.binary(), cs, sum)
			}
			if !slices.ContainsFunc(doc.Relationships, func(r spdxRelationship) bool {
				return r == spdxRelationship{doc.SPDXID, "DESCRIBES", id}
			}) {
				t.Errorf("the SBOM does not describe %s", p.binary())
			}
		}
		if !slices.ContainsFunc(doc.Packages, func(p spdxPackage) bool { return p.Name == "github.com/twmb/franz-go" }) {
			t.Errorf("the SBOM does not list franz-go")
		}
	})

	t.Run("image", func(t *testing.T) {
		dir := filepath.Join(out, imageDir)
		checkBlobs(t, dir)
		var index struct {
			Manifests []struct {
				MediaType   string            `json:"mediaType"`
				Digest      string            `json:"digest"`
				Annotations map[string]string `json:"annotations"`
			} `json:"manifests"`
		}
		if err := json.Unmarshal(readFile(t, filepath.Join(dir, "index.json")), &index); err != nil {
			t.Fatal(err)
		}
		if len(index.Manifests) != 1 || index.Manifests[0].MediaType != "application/vnd.oci.image.index.v1+json" ||
			index.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != testVersion {
			t.Fatalf("index.json: %+v, want one image index tagged %s", index.Manifests, testVersion)
		}
		top, err := layout.ImageIndexFromPath(dir)
		if err != nil {
			t.Fatal(err)
		}
		im, err := top.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		idx, err := top.ImageIndex(im.Manifests[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		manifests, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		var seen []platform
		for _, d := range manifests.Manifests {
			p := platform{d.Platform.OS, d.Platform.Architecture}
			seen = append(seen, p)
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			c := cfg.Config
			if cfg.OS != p.OS || cfg.Architecture != p.Arch || !slices.Equal(c.Entrypoint, []string{imageBinary}) || c.User != imageUser ||
				c.Labels["org.opencontainers.image.version"] != testVersion || c.Labels["org.opencontainers.image.revision"] != commit {
				t.Errorf("%s: config %s/%s entrypoint %v user %q labels %v", p, cfg.OS, cfg.Architecture, c.Entrypoint, c.User, c.Labels)
			}
			files := extract(t, mutate.Extract(img))
			bin, ok := files[imageBinary[1:]]
			if !ok || bin.hdr.Mode&0o111 == 0 || !bytes.Equal(bin.data, readFile(t, filepath.Join(out, p.binary()))) {
				t.Errorf("%s: %s is not the release's binary, executable", p, imageBinary)
			}
			if pw := files["etc/passwd"]; !strings.Contains(string(pw.data), ":65532:65532:") {
				t.Errorf("%s: /etc/passwd has no user 65532:\n%s", p, pw.data)
			}
			if st, ok := files[imageStateDir[1:]]; !ok || st.hdr.Uid != imageUID {
				t.Errorf("%s: %s missing or not owned by %d", p, imageStateDir, imageUID)
			}
			if p == host {
				run := filepath.Join(t.TempDir(), "geomesh")
				if err := os.WriteFile(run, bin.data, 0o755); err != nil {
					t.Fatal(err)
				}
				var v struct{ Version, Commit string }
				runJSON(t, &v, run, "version", "--json")
				if v.Version != testVersion || v.Commit != commit {
					t.Errorf("the image's geomesh says %+v", v)
				}
			}
		}
		var wantLinux []platform
		for _, p := range releasePlatforms {
			if p.OS == "linux" && slices.Contains(platforms, p) {
				wantLinux = append(wantLinux, p)
			}
		}
		if !slices.Equal(seen, wantLinux) {
			t.Errorf("image platforms %v, want %v", seen, wantLinux)
		}
	})

	t.Run("reproducible", func(t *testing.T) {
		// The image again, from the same binaries: the same bytes.
		again := t.TempDir()
		linux := map[platform]string{}
		for _, p := range platforms {
			if p.OS == "linux" {
				if err := copyFile(filepath.Join(out, p.binary()), filepath.Join(again, p.binary())); err != nil {
					t.Fatal(err)
				}
				linux[p] = p.binary()
			}
		}
		st, err := stampOf(t.Context(), "../..", testVersion)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeImage(again, st, linux); err != nil {
			t.Fatal(err)
		}
		a, b := readFile(t, filepath.Join(out, imageDir, "index.json")), readFile(t, filepath.Join(again, imageDir, "index.json"))
		if !bytes.Equal(a, b) {
			t.Errorf("two images of one commit differ:\n%s\n%s", a, b)
		}
	})
}

// checkBinary opens the executable at path as p's format and checks its
// architecture, and that a linux one is static (no interpreter).
func checkBinary(t *testing.T, path string, p platform) {
	t.Helper()
	switch p.OS {
	case "linux":
		f, err := elf.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer f.Close()
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[p.Arch]
		if f.Machine != want {
			t.Errorf("%s: ELF machine %v, want %v", path, f.Machine, want)
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Errorf("%s: dynamically linked (has an interpreter)", path)
			}
		}
	case "darwin":
		f, err := macho.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer f.Close()
		want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[p.Arch]
		if f.Cpu != want {
			t.Errorf("%s: Mach-O CPU %v, want %v", path, f.Cpu, want)
		}
	}
}

// goModules is what `go version -m` says bin links: path@version of each
// dependency, after replacements, sorted.
func goModules(t *testing.T, bin string) []string {
	t.Helper()
	b, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m %s: %v", bin, err)
	}
	var mods []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 3 && f[0] == "dep":
			mods = append(mods, f[1]+"@"+f[2])
		case len(f) >= 3 && f[0] == "=>":
			mods[len(mods)-1] = f[1] + "@" + f[2]
		}
	}
	if len(mods) == 0 {
		t.Fatalf("go version -m %s lists no module:\n%s", bin, b)
	}
	slices.Sort(mods)
	return mods
}

// checkBlobs reads every blob of the layout at dir and checks that its
// SHA-256 is its name.
func checkBlobs(t *testing.T, dir string) {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	entries, err := os.ReadDir(blobs)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 4 {
		t.Errorf("%s: %d blobs", blobs, len(entries))
	}
	for _, e := range entries {
		sum := sha256.Sum256(readFile(t, filepath.Join(blobs, e.Name())))
		if hex.EncodeToString(sum[:]) != e.Name() {
			t.Errorf("blob %s holds content of digest %x", e.Name(), sum)
		}
	}
}

type tarFile struct {
	hdr  *tar.Header
	data []byte
}

func extract(t *testing.T, rc io.ReadCloser) map[string]tarFile {
	t.Helper()
	defer rc.Close()
	files := map[string]tarFile{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = tarFile{h, b}
	}
}

func runJSON(t *testing.T, v any, bin string, args ...string) {
	t.Helper()
	b, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s %v: %v: %s", bin, args, err, b)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParsePlatforms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []platform
		err  bool
	}{
		{in: "linux/amd64", want: []platform{{"linux", "amd64"}}},
		{in: "linux/arm64, darwin/amd64,linux/arm64", want: []platform{{"linux", "arm64"}, {"darwin", "amd64"}}},
		{in: "windows/amd64", err: true},
		{in: "linux", err: true},
		{in: "", err: true},
	} {
		got, err := parsePlatforms(tc.in)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("parsePlatforms(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestValidVersion(t *testing.T) {
	for v, want := range map[string]bool{
		"v1.2.3": true, "v0.1.0-rc.1+build.5": true, "4a89e58-dirty": true,
		"": false, "v1 2": false, "v1;rm": false, "v1.2/3": false,
	} {
		if validVersion(v) != want {
			t.Errorf("validVersion(%q) = %v", v, !want)
		}
	}
}
