#!/usr/bin/env bash
# Runs the Python client's tests in a virtualenv of its own:
# clients/python/.venv, or $GEOMESH_PY_VENV. Exits non-zero on failure.
# Set GEOMESH_PY_MYPY=1 to type-check the package (mypy --strict) first.
set -euo pipefail
cd "$(dirname "$0")"
venv="${GEOMESH_PY_VENV:-$PWD/.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
	"$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'
if [ "${GEOMESH_PY_MYPY:-0}" != 0 ]; then
	"$venv/bin/python" -m mypy
fi
exec "$venv/bin/python" -m pytest -q "$@"
