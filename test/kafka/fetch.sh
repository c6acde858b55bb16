#!/bin/sh
# fetch.sh assembles Apache Kafka from Maven Central jars for the
# kafkatest harness: it copies the dependencies of pom.xml (next to this
# script) into $GEOMESH_KAFKA_HOME/libs, by default
# ~/.cache/geomesh/kafka-<version>. It is idempotent: a marker holding the
# pom that produced libs/ makes a second run instant, and a changed pom
# triggers a new copy. It prints the home directory on success.
#
# kafkatest runs this script itself (under a file lock) when the jars are
# missing; run it by hand to warm a machine or a CI cache.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
pom=$here/pom.xml
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
if [ -z "$version" ]; then
	echo "fetch.sh: no <kafka.version> in $pom" >&2
	exit 1
fi
dir=${GEOMESH_KAFKA_HOME:-$HOME/.cache/geomesh/kafka-$version}
marker=$dir/.fetched

if [ -f "$marker" ] && cmp -s "$pom" "$marker"; then
	echo "$dir"
	exit 0
fi

mkdir -p "$dir"
# Copy into a fresh directory and swap it in, so an interrupted run never
# leaves a half-filled libs/ that looks complete.
tmp=$(mktemp -d "$dir/libs.tmp.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
mvn -q -B -f "$pom" dependency:copy-dependencies \
	-DoutputDirectory="$tmp" -DincludeScope=runtime >&2
rm -rf "$dir/libs" "$marker"
mv "$tmp" "$dir/libs"
cp "$pom" "$marker"
echo "$dir"
