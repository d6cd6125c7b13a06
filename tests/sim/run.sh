#!/usr/bin/env bash
# tests/sim/run.sh SIM_BINARY ARGS [-- ARGS]... — runs the simulation once per argument group
# (make sim: the seed list, then the reproducibility repeats) and closes with one line
# "sim: N passed, N failed" over all of them, so that make test counts every seed. Exits
# non-zero when any run failed.
set -u
bin=$1; shift
log=$(mktemp); trap 'rm -f "$log"' EXIT
rc=0
while [ $# -gt 0 ]; do
  args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  "$bin" "${args[@]}" 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
done
awk '/^sim: [0-9]+ passed, [0-9]+ failed/ { p += $2; f += $4; n++ }
     END { printf "sim: %d passed, %d failed (%d runs)\n", p, f, n }' "$log"
exit $rc
