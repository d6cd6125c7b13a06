#!/usr/bin/env bash
# `make test`: unit tests (normal and ASan+UBSan builds), the fuzz corpus replay, then the
# cluster, metastore and fault-injection tests against the sanitizer build, then bounded
# deterministic simulations.
# Prints a closing "N passed, N failed" line over every suite.
set -u
cd "$(dirname "$0")/.."
total_p=0; total_f=0; rc_all=0
count() { # parse the last "N passed, N failed" style line of a log
  local p f
  p=$(grep -Eo '[0-9]+ passed' "$1" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  f=$(grep -Eo '[0-9]+ failed' "$1" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  total_p=$((total_p + ${p:-0})); total_f=$((total_f + ${f:-0}))
}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== build and unit tests =="
make -s all test-unit 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}; count "$log"; [ $rc -eq 0 ] || rc_all=1
echo "== sanitizer build (ASan + UBSan) unit tests =="
make -s test-unit-san 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}; count "$log"; [ $rc -eq 0 ] || rc_all=1
echo "== fuzz corpus and regressions replayed (ASan + UBSan build) =="
make -s test-fuzz-replay 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}; count "$log"; [ $rc -eq 0 ] || rc_all=1
echo "== cluster tests (real processes, sanitizer build) =="
make -s test-cluster 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}; count "$log"
# pytest exits 5 when it collected nothing: that is a failure here.
[ $rc -eq 0 ] || rc_all=1
echo "== metastore mirror tests (PostgreSQL 15 + MariaDB, sanitizer build) =="
make -s test-metastore 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}; count "$log"; [ $rc -eq 0 ] || rc_all=1
echo "== fault injection (network namespaces, nemeses, history checker; root) =="
make -s test-faults 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}; count "$log"; [ $rc -eq 0 ] || rc_all=1
# Simulations print one line per failing seed only: show the totals, or everything when a
# seed failed (its report and replay command).
sim_suite() { # TITLE MAKE-TARGET
  echo "== $1 =="
  make -s "$2" >"$log" 2>&1; local rc=$?
  if [ $rc -eq 0 ]; then tail -n 3 "$log"; else cat "$log"; fi
  count "$log"; [ $rc -eq 0 ] || rc_all=1
}
sim_suite "deterministic simulation (raft/fixture.h, fixed seed list)" sim
sim_suite "deterministic simulation with log I/O faults" sim-io
sim_suite "deterministic simulation, ASan + UBSan build" sim-san
echo
echo "all suites: $total_p passed, $total_f failed"
exit $rc_all
