#!/usr/bin/env bash
# `make test`: unit tests (normal and ASan+UBSan builds), the generated docs, the Debian
# package, the fuzz corpus replay, then the
# cluster, metastore and fault-injection tests against the sanitizer build, then bounded
# deterministic simulations.
# Prints a closing "N passed, N failed" line over every suite; a suite that fails without
# reporting a failed test (a build error, a crash of the runner) counts as one failure.
set -u
cd "$(dirname "$0")/.."
total_p=0; total_f=0; rc_all=0; broken=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# suite TITLE MAKE-TARGET [quiet]: runs the target, adds the last "N passed, N failed" of
# its output to the totals. quiet (simulations, one line per failing seed): shows only the
# totals on success, everything on failure.
suite() {
  local title=$1 target=$2 quiet=${3:-} rc p f
  echo "== $title =="
  if [ -n "$quiet" ]; then
    make -s "$target" >"$log" 2>&1; rc=$?
    if [ $rc -eq 0 ]; then tail -n 3 "$log"; else cat "$log"; fi
  else
    make -s "$target" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
  fi
  p=$(grep -Eo '[0-9]+ passed' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  f=$(grep -Eo '[0-9]+ failed' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  # pytest exits 5 when it collected nothing: that is a failure here too.
  if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
    f=1; broken+=("$target")
    echo "!! $target failed (exit status $rc) without a test failure count: see above"
  fi
  total_p=$((total_p + ${p:-0})); total_f=$((total_f + ${f:-0}))
  [ "$rc" -eq 0 ] || rc_all=1
}

suite "build and unit tests" test-unit
suite "configuration reference in README.md and conf/ matches raftnode --help-config" check-docs
suite "layers: include graph, archive symbols, programs' libraries" check-layers
suite "sanitizer build (ASan + UBSan) unit tests" test-unit-san
suite "Debian package: make deb, lintian, install into a scratch bookworm root, run, purge" test-deb
suite "fuzz corpus and regressions replayed (ASan + UBSan build)" test-fuzz-replay
suite "cluster tests (real processes, sanitizer build)" test-cluster
suite "metastore mirror tests (PostgreSQL 15 + MariaDB, sanitizer build)" test-metastore
suite "Kylin 5 job-node emulator (tests/kylin, Java 17; PostgreSQL 15 + MariaDB)" test-kylin
suite "Kylin core loop: 3 members + 3 emulated Kylin nodes (tests/kylin_cluster; PostgreSQL 15 + MariaDB, sanitizer build)" test-kylin-cluster
suite "fault injection (network namespaces, nemeses, history checker; root)" test-faults
suite "deterministic simulation (raft/fixture.h, fixed seed list)" sim quiet
suite "deterministic simulation with log I/O faults" sim-io quiet
suite "deterministic simulation, ASan + UBSan build" sim-san quiet
echo
[ ${#broken[@]} -eq 0 ] || echo "suites that failed without a count: ${broken[*]}"
echo "all suites: $total_p passed, $total_f failed"
exit $rc_all
