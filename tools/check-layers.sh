#!/usr/bin/env bash
# tools/check-layers.sh BUILD_DIR — the layering of README.md's "Layout", checked three ways
# (make check-layers, part of make test):
#   1. include graph: a folder includes only its own headers and those of the layers below it;
#   2. archive symbols: a symbol one archive needs is defined in it, in a layer below it, or
#      outside the project (libc, libraft, ...), never in a layer above or beside it;
#   3. programs: raftctl loads no SQLite, libraft, libpq, MariaDB or libcurl and raftnode carries no
#      raftctl code.
# Layers: common <- storage <- metastore <- raftnode, common <- kylin (raftnode may use it),
# and common <- tools.
# Prints one line per breach and "check-layers: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
B=${1:-build}

declare -A below=(
  [common]="common"
  [storage]="common storage"
  [metastore]="common storage metastore"
  [raftnode]="common storage metastore kylin raftnode"
  [kylin]="common kylin"
  [tools]="common tools"
)
passed=0; failed=0
ok()   { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf 'check-layers: %s\n' "$*"; }

# 1. Includes: "x.h" names a header of the same folder, "dir/x.h" one of folder dir.
for layer in "${!below[@]}"; do
  bad=0
  for f in "$layer"/*.[ch]; do
    [ -e "$f" ] || continue
    while IFS= read -r inc; do
      inc=${inc#../}
      case "$inc" in
        */*) dir=${inc%%/*} ;;
        *) dir=$layer ;;
      esac
      if [[ " ${below[$layer]} " != *" $dir "* ]]; then
        fail "$f includes \"$inc\": $layer/ may include only ${below[$layer]}"
        bad=1
      fi
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
  done
  [ $bad = 1 ] || ok
done

# 2. Symbols: who defines what, then who needs what.
declare -A owner=()
for layer in "${!below[@]}"; do
  a=$B/lib/lib$layer.a
  [ -f "$a" ] || { fail "$a is missing (run make check-layers, which builds it)"; continue; }
  while read -r sym; do owner[$sym]=$layer; done < <(nm -g --defined-only "$a" 2>/dev/null | awk 'NF == 3 { print $3 }')
done
for layer in "${!below[@]}"; do
  a=$B/lib/lib$layer.a
  [ -f "$a" ] || continue
  bad=0
  while read -r sym; do
    def=${owner[$sym]:-}
    [ -n "$def" ] || continue # defined outside the project
    if [[ " ${below[$layer]} " != *" $def "* ]]; then
      fail "lib$layer.a needs $sym, defined in lib$def.a: $layer/ may call only ${below[$layer]}"
      bad=1
    fi
  done < <(nm -g --undefined-only "$a" 2>/dev/null | awk 'NF == 2 && $1 == "U" { print $2 }' | sort -u)
  [ $bad = 1 ] || ok
done

# 3. Programs.
if [ -x "$B/bin/raftctl" ]; then
  libs=$(ldd "$B/bin/raftctl" | grep -Eo 'lib(sqlite3|raft|pq|mariadb|mysqlclient|curl)\.so[^ ]*' | tr '\n' ' ')
  if [ -n "$libs" ]; then fail "$B/bin/raftctl loads $libs(it must link common/ and tools/ only)"; else ok; fi
else
  fail "$B/bin/raftctl is missing"
fi
if [ -x "$B/bin/raftnode" ]; then
  cli=$(nm --defined-only "$B/bin/raftnode" | awk '$3 ~ /^raftctl_/ { print $3 }' | head -5 | tr '\n' ' ')
  if [ -n "$cli" ]; then fail "$B/bin/raftnode carries raftctl code: $cli"; else ok; fi
else
  fail "$B/bin/raftnode is missing"
fi

echo "check-layers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
