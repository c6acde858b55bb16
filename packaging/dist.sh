#!/usr/bin/env bash
# Builds the release artifacts into dist/ (or $DIST):
#   geomesh-linux-amd64, geomesh-linux-arm64  static binaries (CGO off)
#   SHA256SUMS                                for the aws-region module's binary_sha256
#   geomesh-agent.service, geomesh.env.example, secrets.env.example
#
# The version is $VERSION, else `git describe --tags --always --dirty`; the
# commit comes from the Go toolchain's VCS stamping (`geomesh version` prints
# both). Run from anywhere: `bash packaging/dist.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

go="${GO:-go}"
dist="${DIST:-dist}"
version="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"

rm -rf "${dist}"
mkdir -p "${dist}"
for arch in amd64 arm64; do
  out="${dist}/geomesh-linux-${arch}"
  # -buildvcs=true overrides a GOFLAGS=-buildvcs=false so the commit is stamped.
  CGO_ENABLED=0 GOOS=linux GOARCH="${arch}" "${go}" build -buildvcs=true -trimpath \
    -ldflags "-s -w -X main.version=${version}" -o "${out}" ./cmd/geomesh
  echo "built ${out} (${version})"
done
cp deploy/systemd/geomesh-agent.service deploy/systemd/geomesh.env.example deploy/systemd/secrets.env.example "${dist}/"
(cd "${dist}" && sha256sum geomesh-linux-* >SHA256SUMS)
cat "${dist}/SHA256SUMS"
