#!/usr/bin/env bash
# `make test`: unit tests (normal and ASan+UBSan builds), the generated docs, the Debian
# package, the fuzz corpus replay, then the
# cluster, metastore and fault-injection tests against the sanitizer build, then bounded
# deterministic simulations.
# Two suites run at nice 19 in the background while the process suites run (those mostly
# wait on timeouts and leave a core idle; a nice-19 process gets only the CPU nothing else
# wants, so it does not eat into their timing): the deterministic simulations (CPU only, no
# clock, no ports, every seed's run fixed by its seed; binaries built first) and the Debian
# package test (mostly apt and dpkg waiting on the mirror and the disk; its member listens on
# ports 17000-20999, below the ports the process suites draw from: 21000 up to the kernel's
# ephemeral range, tests/cluster/harness.py's free_ports). Their
# output is shown and counted at the end. Builds use make -j (MAKE_JOBS, default the cores).
# Prints a closing "N passed, N failed" line over every suite; a suite that fails without
# reporting a failed test (a build error, a crash of the runner) counts as one failure.
set -u
cd "$(dirname "$0")/.."
total_p=0; total_f=0; rc_all=0; broken=()
log=$(mktemp)
bg_dir=$(mktemp -d)
bg_pid=
jobs=${MAKE_JOBS:-$(nproc)}
trap '[ -z "$bg_pid" ] || kill -- "-$bg_pid" 2>/dev/null; rm -rf "$log" "$bg_dir"' EXIT

# suite TITLE MAKE-TARGET [quiet|-jN]: runs the target, adds the last "N passed, N failed" of
# its output to the totals. quiet (simulations, one line per failing seed): shows only the
# totals on success, everything on failure. -jN: make -jN (a target that mostly compiles).
suite() {
  local title=$1 target=$2 quiet=${3:-} rc jflag=
  echo "== $title =="
  case $quiet in -j*) jflag=$quiet; quiet= ;; esac
  if [ -n "$quiet" ]; then
    make -s "$target" >"$log" 2>&1; rc=$?
    show_quiet "$log" "$rc"
  else
    make -s $jflag "$target" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
  fi
  count "$target" "$log" "$rc"
}

show_quiet() { # show_quiet LOG RC: the totals on success, everything on failure
  if [ "$2" -eq 0 ]; then tail -n 3 "$1"; else cat "$1"; fi
}

# count TARGET LOG RC: adds LOG's last "N passed, N failed" to the totals.
count() {
  local target=$1 log=$2 rc=$3 p f
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

# The background suites (see the top), TITLE<TAB>TARGET, all started at once.
BG_SUITES=(
  $'Debian package: make deb, lintian, install into a scratch bookworm root, run, purge\ttest-deb'
  $'deterministic simulation (raft/fixture.h, fixed seed list)\tsim'
  $'deterministic simulation with log I/O faults\tsim-io'
  $'deterministic simulation, ASan + UBSan build\tsim-san'
)
# bg_start: runs every background suite's target at nice 19 into $bg_dir/N.log (N.rc its
# exit status), side by side, in a process group of its own (stopped by the EXIT trap if this
# script ends early).
bg_start() {
  local t targets=()
  for t in "${BG_SUITES[@]}"; do targets+=("${t#*$'\t'}"); done
  setsid bash -c 'd=$1; shift; i=0
    for t in "$@"; do
      (nice -n 19 make -s "$t" >"$d/$i.log" 2>&1; echo $? >"$d/$i.rc") &
      i=$((i + 1))
    done
    wait' bg-suites "$bg_dir" "${targets[@]}" &
  bg_pid=$!
}
# bg_finish: waits for the background suites, shows and counts each as suite would have.
bg_finish() {
  local i=0 t rc
  # nothing left in the foreground: what is still running gets its normal priority back
  renice -n 0 -g "$bg_pid" >/dev/null 2>&1
  wait "$bg_pid"; bg_pid=
  for t in "${BG_SUITES[@]}"; do
    echo "== ${t%%$'\t'*} (ran in the background at nice 19) =="
    rc=$(cat "$bg_dir/$i.rc" 2>/dev/null || echo 1)
    case ${t#*$'\t'} in
      sim*) show_quiet "$bg_dir/$i.log" "$rc" ;;
      *) cat "$bg_dir/$i.log" ;;
    esac
    count "${t#*$'\t'}" "$bg_dir/$i.log" "$rc"
    i=$((i + 1))
  done
}

suite "build and unit tests" test-unit "-j$jobs"
suite "configuration reference in README.md and conf/ matches raftnode --help-config" check-docs
suite "layers: include graph, archive symbols, programs' libraries" check-layers "-j$jobs"
suite "sanitizer build (ASan + UBSan) unit tests" test-unit-san "-j$jobs"
suite "fuzz corpus and regressions replayed (ASan + UBSan build)" test-fuzz-replay "-j$jobs"
echo "== simulation binaries (the Debian package test and the simulations run in the background from here on) =="
make -s "-j$jobs" sim-bins 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] || count sim-bins "$log" "$rc"
bg_start
suite "cluster tests (real processes, sanitizer build)" test-cluster
suite "metastore mirror tests (PostgreSQL 15 + MariaDB, sanitizer build)" test-metastore
suite "Kylin 5 job-node emulator (tests/kylin, Java 17; PostgreSQL 15 + MariaDB)" test-kylin
suite "Kylin core loop: 3 members + 3 emulated Kylin nodes (tests/kylin_cluster; PostgreSQL 15 + MariaDB, sanitizer build)" test-kylin-cluster
suite "fault injection (network namespaces, nemeses, history checker; root)" test-faults
bg_finish
echo
[ ${#broken[@]} -eq 0 ] || echo "suites that failed without a count: ${broken[*]}"
echo "all suites: $total_p passed, $total_f failed"
exit $rc_all
