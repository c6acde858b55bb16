#!/usr/bin/env bash
# Builds OpenTofu from the Go module proxy and prints the path of the binary.
#
# The Terraform/OpenTofu registries and GitHub releases may be unreachable;
# the Go module proxy is not. `go install github.com/opentofu/opentofu/cmd/tofu@v`
# refuses the module because its go.mod has replace directives, so this
# script downloads the module, copies it somewhere writable and runs
# `go build ./cmd/tofu` inside it, which honours the replaces.
#
# Idempotent: a binary already in the cache directory is reused, so only the
# first run pays for the build (a few minutes on two cores).
#
# Environment:
#   TOFU_VERSION   module version to build (default below; must be one that
#                  `go list -m -versions github.com/opentofu/opentofu` lists)
#   GEOMESH_TOFU   cache directory (default $HOME/.cache/geomesh/tofu-$TOFU_VERSION)
#   GO             go command (default go)
set -euo pipefail

version="${TOFU_VERSION:-v1.12.6}"
dir="${GEOMESH_TOFU:-${HOME}/.cache/geomesh/tofu-${version}}"
bin="${dir}/tofu"
go="${GO:-go}"

if [ -x "${bin}" ] && "${bin}" version >/dev/null 2>&1; then
  echo "${bin}"
  exit 0
fi

mkdir -p "${dir}"
work="$(mktemp -d "${dir}/build.XXXXXX")"
trap 'chmod -R u+w "${work}" 2>/dev/null; rm -rf "${work}"' EXIT

# A throwaway module to download into: `go mod download` of a module that is
# not a dependency needs a main module when GOFLAGS has -mod set.
(
  cd "${work}"
  "${go}" mod init geomesh.local/tofu-build >/dev/null 2>&1
  GOFLAGS=-mod=mod "${go}" mod download -json "github.com/opentofu/opentofu@${version}" >download.json
)
src="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "${work}/download.json")"
if [ -z "${src}" ] || [ ! -d "${src}" ]; then
  echo "build-tofu: download of github.com/opentofu/opentofu@${version} gave no directory:" >&2
  cat "${work}/download.json" >&2
  exit 1
fi

# The module cache is read-only; build in a writable copy.
cp -r "${src}" "${work}/src"
chmod -R u+w "${work}/src"
(
  cd "${work}/src"
  CGO_ENABLED=0 GOFLAGS=-mod=mod "${go}" build -trimpath \
    -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" \
    -o "${work}/tofu" ./cmd/tofu
)
mv "${work}/tofu" "${bin}"
echo "${bin}"
