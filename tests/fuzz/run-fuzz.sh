#!/usr/bin/env bash
# Runs each libFuzzer target for a while: run-fuzz.sh BUILD_DIR SECONDS TARGET...
# Each target starts from BUILD_DIR/corpus/TARGET (tests/fuzz/corpus/TARGET copied in; new
# inputs the fuzzer finds stay there for the next run) plus tests/fuzz/regressions/TARGET,
# with tests/fuzz/TARGET.dict when present. Prints executions and coverage per target; a
# crash leaves its input in BUILD_DIR/crashes/TARGET/ and makes the script fail.
set -u
b=${1:?usage: run-fuzz.sh BUILD_DIR SECONDS TARGET...}; secs=${2:?seconds}; shift 2
here=$(dirname "$0")
rc_all=0
mkdir -p "$b/logs"
for t in "$@"; do
  corpus="$b/corpus/$t"; crashes="$b/crashes/$t"; log="$b/logs/$t.log"
  mkdir -p "$corpus" "$crashes"
  cp -n "$here/corpus/$t/"* "$corpus/" 2>/dev/null || true
  extra=()
  [ -d "$here/regressions/$t" ] && extra+=("$here/regressions/$t")
  [ -f "$here/$t.dict" ] && extra=("-dict=$here/$t.dict" "${extra[@]}")
  echo "fuzz: $t for ${secs}s (log: $log)"
  "$b/fuzz/$t" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "${extra[@]}" "$corpus" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)/\1/p' "$log" | tail -n 1)
  [ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\)/\1/p' "$log" | tail -n 1)
  if [ $rc -eq 0 ]; then
    echo "fuzz: $t: ${runs:-?} executions (${rate:-?}/s), $cov"
  else
    rc_all=1
    echo "fuzz: $t: FAILED (exit status $rc) after ${runs:-?} executions, $cov"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*fuzz check failed|.*runtime error|artifact_prefix|Test unit written)' "$log" | head -n 20
    echo "fuzz: reproduce with: $b/fuzz/$t $crashes/<file>  (full log: $log)"
  fi
done
exit $rc_all
