#!/usr/bin/env bash
# Offline checks of deploy/terraform (`make tofu-check`): tofu fmt, then
# init/validate/test of the provider-free mesh-config module in a scratch
# copy, then the Go tests that render every example and parse every module.
# The first run builds OpenTofu from the Go module proxy (see build-tofu.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(cd ../.. && pwd)"

tofu="$(bash tools/build-tofu.sh)"
scratch="$(mktemp -d)"
trap 'rm -rf "${scratch}"' EXIT
# An empty CLI config: no warning about a missing one, no registry mirrors.
: >"${scratch}/tofurc"
export TF_CLI_CONFIG_FILE="${scratch}/tofurc" TF_IN_AUTOMATION=1 TF_INPUT=0

# The first line of the whole output: piped into head, tofu could be
# killed by SIGPIPE after head exits, which pipefail turns into exit 141.
version="$("${tofu}" version)"
echo "${version%%$'\n'*}"
echo "== tofu fmt -check -recursive deploy/terraform"
"${tofu}" fmt -check -recursive -no-color .
echo "== mesh-config: tofu init -backend=false, validate, test"
cp -r modules/mesh-config "${scratch}/mesh-config"
(
  cd "${scratch}/mesh-config"
  "${tofu}" init -backend=false -no-color >/dev/null
  "${tofu}" validate -no-color
  "${tofu}" test -no-color
)
echo "== go test ./deploy/..."
cd "${root}"
TOFU="${tofu}" "${GO:-go}" test -count=1 ./deploy/...
