package main

import (
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// sbomFile is the release's software bill of materials: SPDX 2.3 JSON
// (https://spdx.github.io/spdx-spec/v2.3/), one package per binary and
// one per Go module linked into any of them, from the module list the Go
// linker writes into each binary (what `go version -m` prints), so it
// names what was built, not what go.mod allows.
const sbomFile = "geomesh.spdx.json"

type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID                string         `json:"SPDXID"`
	Name                  string         `json:"name"`
	VersionInfo           string         `json:"versionInfo"`
	DownloadLocation      string         `json:"downloadLocation"`
	FilesAnalyzed         bool           `json:"filesAnalyzed"`
	PrimaryPackagePurpose string         `json:"primaryPackagePurpose"`
	Checksums             []spdxChecksum `json:"checksums,omitempty"`
	ExternalRefs          []spdxRef      `json:"externalRefs,omitempty"`
}

type spdxChecksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type spdxRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

var spdxUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func spdxID(kind, name string) string {
	return "SPDXRef-" + kind + "-" + spdxUnsafe.ReplaceAllString(name, "-")
}

// modulePURL is the package URL of a Go module
// (https://github.com/package-url/purl-spec, type golang).
func modulePURL(path, version string) string { return "pkg:golang/" + path + "@" + version }

// writeSBOM describes the binaries (file names in dir) in dir/sbomFile.
func writeSBOM(dir string, st stamp, binaries []string) error {
	doc := spdxDocument{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              "geomesh-" + st.Version,
		DocumentNamespace: "https://github.com/geomesh/geomesh/releases/" + st.Version + "/" + st.Commit + "/" + sbomFile,
		CreationInfo:      spdxCreationInfo{Created: st.Date.Format(time.RFC3339), Creators: []string{"Tool: geomesh packaging/release"}},
	}
	modules := map[string]spdxPackage{}
	for _, name := range binaries {
		path := filepath.Join(dir, name)
		info, err := buildinfo.ReadFile(path)
		if err != nil {
			return fmt.Errorf("sbom: module list of %s: %w", path, err)
		}
		sum, err := fileSHA256(path)
		if err != nil {
			return err
		}
		bin := spdxPackage{
			SPDXID: spdxID("File", name), Name: name, VersionInfo: st.Version,
			DownloadLocation: "NOASSERTION", PrimaryPackagePurpose: "APPLICATION",
			Checksums:    []spdxChecksum{{"SHA256", sum}},
			ExternalRefs: []spdxRef{{"PACKAGE-MANAGER", "purl", modulePURL(info.Main.Path, st.Version)}},
		}
		doc.Packages = append(doc.Packages, bin)
		doc.Relationships = append(doc.Relationships, spdxRelationship{doc.SPDXID, "DESCRIBES", bin.SPDXID})
		deps := []spdxPackage{modulePackage("stdlib", info.GoVersion)}
		for _, d := range info.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			deps = append(deps, modulePackage(d.Path, d.Version))
		}
		for _, m := range deps {
			modules[m.SPDXID] = m
			doc.Relationships = append(doc.Relationships, spdxRelationship{bin.SPDXID, "DEPENDS_ON", m.SPDXID})
		}
	}
	ids := make([]string, 0, len(modules))
	for id := range modules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		doc.Packages = append(doc.Packages, modules[id])
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, sbomFile), append(b, '\n'), 0o644)
}

func modulePackage(path, version string) spdxPackage {
	return spdxPackage{
		SPDXID: spdxID("Module", path+"@"+version), Name: path, VersionInfo: version,
		DownloadLocation: "NOASSERTION", PrimaryPackagePurpose: "LIBRARY",
		ExternalRefs: []spdxRef{{"PACKAGE-MANAGER", "purl", modulePURL(path, version)}},
	}
}
