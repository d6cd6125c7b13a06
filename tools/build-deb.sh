#!/usr/bin/env bash
# tools/build-deb.sh OUTDIR (make deb): builds raftnode_<version>_<arch>.deb with Debian's own
# tools (dpkg-buildpackage, debhelper; debian/ holds the packaging) from a copy of the work
# tree in OUTDIR/src, so the tree itself stays clean, then checks it with lintian: any error
# fails the build. Prints the path of the .deb on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/deb}
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
deb=raftnode_${version}_${arch}.deb
src=$out/src/raftnode-$version

rm -rf "$out/src"
mkdir -p "$src"
# Tracked files and new ones not ignored: what a commit of this tree would hold.
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -xf - -C "$src"

echo "build-deb: dpkg-buildpackage in $src (log: $out/build.log)"
if ! (cd "$src" && dpkg-buildpackage -b -us -uc -J"$(nproc)") >"$out/build.log" 2>&1; then
  tail -n 40 "$out/build.log" >&2
  echo "build-deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
  exit 1
fi
mv -f "$out/src/$deb" "$out/$deb"
mv -f "$out/src/"raftnode_*.buildinfo "$out/src/"raftnode_*.changes "$out/" 2>/dev/null || true

echo "build-deb: lintian $out/$deb"
lintian --fail-on error --tag-display-limit 0 "$out/$deb" | tee "$out/lintian.txt" \
  || { echo "build-deb: lintian reports errors (above); fix them in debian/" >&2; exit 1; }
echo "build-deb: $(grep -c '^W:' "$out/lintian.txt" || true) lintian warnings, 0 errors"
echo "$out/$deb"
