#!/bin/sh
# Builds the Kylin 5 epoch emulator: tests/kylin/build.sh OUTDIR -> OUTDIR/kylin-emulator.jar.
# javac only (Java 17); rebuilds only when a source is newer than the jar (or the jar is missing).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
out=$1
mkdir -p "$out"
jar="$out/kylin-emulator.jar"
src="$here/src"
if [ -f "$jar" ] && [ -z "$(find "$src" "$0" -newer "$jar" -print -quit)" ]; then
    exit 0
fi
JAVAC=${JAVAC:-javac}
JAR=${JAR:-jar}
tmp=$(mktemp -d "$out/.classes.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
find "$src" -name '*.java' > "$tmp/sources"
"$JAVAC" --release 17 -Xlint:all -Werror -d "$tmp/classes" @"$tmp/sources"
"$JAR" --create --file "$jar.tmp" --main-class org.apache.kylin.emu.Main -C "$tmp/classes" .
mv "$jar.tmp" "$jar"
echo "built $jar"
