#!/usr/bin/env bash
# Runs the Python client's tests in a virtualenv of its own (venv.sh:
# clients/python/.venv, or $GEOMESH_PY_VENV). Exits non-zero on failure.
# Set GEOMESH_PY_MYPY=1 to type-check the package (mypy --strict) first.
set -euo pipefail
cd "$(dirname "$0")"
py="$(./venv.sh)"
if [ "${GEOMESH_PY_MYPY:-0}" != 0 ]; then
	"$py" -m mypy
fi
exec "$py" -m pytest -q "$@"
