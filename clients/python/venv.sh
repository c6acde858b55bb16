#!/usr/bin/env bash
# Prepares the Python client's virtualenv (clients/python/.venv, or
# $GEOMESH_PY_VENV) with the package installed editable and its test
# dependencies, and prints the path of its python. test.sh and the Go
# conformance scenario (test/chaos/conformance_test.go) use it.
# pip's output goes to stderr; stdout is the path alone.
set -euo pipefail
cd "$(dirname "$0")"
venv="${GEOMESH_PY_VENV:-$PWD/.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
	"$python" -m venv "$venv" >&2
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]' >&2
echo "$venv/bin/python"
