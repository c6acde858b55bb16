#!/usr/bin/env bash
# Runs the geomesh Java client's unit tests (JUnit 5, no Kafka broker needed):
# mvn -q -B test in this folder. The first run downloads the plugins and
# dependencies from Maven Central into ~/.m2; later runs work offline.
# Exits non-zero when a test fails or the build breaks. Extra arguments go to
# Maven, e.g. ./test.sh -Dtest=DecideTableTest
set -euo pipefail
cd "$(dirname "$0")"
command -v mvn >/dev/null || { echo "test.sh: mvn (Maven 3) is required" >&2; exit 1; }
exec mvn -q -B test "$@"
