#!/usr/bin/env bash
# Replays every saved input of each target: run-replay.sh BUILD_DIR TARGET...
# Runs BUILD_DIR/fuzz-replay/TARGET on tests/fuzz/corpus/TARGET and tests/fuzz/regressions/TARGET
# and prints a closing "fuzz-replay: N passed, N failed" line (N = input files).
set -u
b=${1:?usage: run-replay.sh BUILD_DIR TARGET...}; shift
here=$(dirname "$0")
passed=0; failed=0
for t in "$@"; do
  out=$("$b/fuzz-replay/$t" "$t" "$here/corpus/$t" "$here/regressions/$t" 2>&1); rc=$?
  last=$(printf '%s\n' "$out" | tail -n 1)
  p=$(printf '%s\n' "$last" | sed -n "s/^$t: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p")
  f=$(printf '%s\n' "$last" | sed -n "s/^$t: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p")
  if [ -z "$p" ] || [ -z "$f" ]; then # the driver itself did not finish
    p=0; f=1
  fi
  if [ $rc -ne 0 ]; then
    printf '%s\n' "$out" | tail -n 40
  else
    printf '%s\n' "$last"
  fi
  passed=$((passed + p)); failed=$((failed + f))
done
echo "fuzz-replay: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
