#!/usr/bin/env bash
# Compiles the library and its test sources (the conformance driver,
# io.geomesh.client.conformance.Driver) and prints the class path that runs
# them: java -cp "$(clients/java/classpath.sh)" io.geomesh.client.conformance.Driver ...
# The Go conformance scenario (test/chaos/conformance_test.go) calls it.
# Maven's output goes to stderr; stdout is the class path alone.
set -euo pipefail
cd "$(dirname "$0")"
command -v mvn >/dev/null || { echo "classpath.sh: mvn (Maven 3) is required" >&2; exit 1; }
mvn -q -B test-compile org.apache.maven.plugins:maven-dependency-plugin:3.8.1:build-classpath \
	-Dmdep.includeScope=test -Dmdep.outputFile=target/classpath.txt >&2
printf '%s:%s:%s\n' "$PWD/target/classes" "$PWD/target/test-classes" "$(cat target/classpath.txt)"
