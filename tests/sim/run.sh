#!/usr/bin/env bash
# Builds the deterministic simulation (tests/sim) without the Makefile and runs it.
#   tests/sim/run.sh [sim arguments]       default: --seeds 1500
#   SAN=1 tests/sim/run.sh ...             ASan + UBSan build (build-san/sim/sim)
# The link set is the state machine (storage/), the planner and the scheduler core only:
# no libuv handles, no proposals, no network.
set -eu
cd "$(dirname "$0")/../.."
PKGS="raft libuv sqlite3 msgpack"
if [ "${SAN:-0}" = 1 ]; then
  out=build-san/sim/sim
  flags="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
  export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/sim/lsan.supp:print_suppressions=0}"
else
  out=build/sim/sim
  flags="-O2"
fi
mkdir -p "$(dirname "$out")"
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $flags -g -I. $(pkg-config --cflags $PKGS) \
  common/mp.c storage/*.c raftnode/planner.c raftnode/scheduler_core.c raftnode/raft_fix.c tests/sim/*.c \
  -o "$out" $(pkg-config --libs $PKGS)
[ $# -gt 0 ] || set -- --seeds 1500
exec "$out" "$@"
