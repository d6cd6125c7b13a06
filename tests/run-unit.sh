#!/usr/bin/env bash
# Runs every cmocka unit-test binary in DIR and prints one closing "N passed, N failed" line
# (counting test cases as cmocka reports them).
set -u
dir=${1:?usage: run-unit.sh DIR}
passed=0; failed=0; bad_bins=()
for t in "$dir"/test_*; do
  [ -x "$t" ] || continue
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -E '^\[  (FAILED|  ERROR)|^\[ +(PASSED|FAILED) +\]' | sed "s|^|$(basename "$t"): |"
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  passed=$((passed + p)); failed=$((failed + f))
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    failed=$((failed + 1)); bad_bins+=("$(basename "$t")")
    printf '%s\n' "$out" | tail -30
  fi
done
[ ${#bad_bins[@]} -eq 0 ] || echo "crashed or failed without a cmocka summary: ${bad_bins[*]}"
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
