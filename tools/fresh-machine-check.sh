#!/usr/bin/env bash
# tools/fresh-machine-check.sh [GOAL] — run by hand, as root: what a new user sees. Builds a fresh
# bookworm root (tools/scratch-root.sh: debootstrap minbase plus make, gcc and git, the mirror
# taken from this machine's apt sources), clones this repository's HEAD into it and runs
# `make run` there as the very first command, until the quorum shows a leader and placed
# projects (RUN_EXIT_WHEN_READY=1), then removes the root. GOAL (default run) may be another
# make goal to try first-command, e.g. `test-unit`.
# The whole transcript is kept in /tmp/fresh-machine-check.log.
set -u
cd "$(dirname "$0")/.."
goal=${1:-run}
log=/tmp/fresh-machine-check.log
root=$(mktemp -d /tmp/raftnode-fresh-root.XXXXXX)
cleanup() {
  # Stop anything still running inside the root (make run stops its own members).
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -KILL "${p#/proc/}" 2>/dev/null
  done
  bash tools/scratch-root.sh remove "$root"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "fresh-machine-check: run as root (chroot, mount)" >&2; exit 1; }

SCRATCH_BACKPORTS=0 bash tools/scratch-root.sh make "$root" || exit 1
chmod 0755 "$root"
git clone -q "$(pwd)" "$root/root/raftnode" || { echo "fresh-machine-check: git clone failed" >&2; exit 1; }
echo "fresh-machine-check: $(git log -1 --format='%h %s' | cut -c1-80)"
echo "fresh-machine-check: in a fresh bookworm root: cd raftnode && make $goal (transcript: $log)"
start=$(date +%s)
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb \
  RUN_EXIT_WHEN_READY=1 bash -c "cd /root/raftnode && timeout 1800 make $goal" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
echo "fresh-machine-check: make $goal exited $rc after $(( $(date +%s) - start )) s"
if [ "$goal" = run ]; then
  if [ "$rc" = 0 ] && grep -Eq '^leader: [0-9]+ ' "$log" && ! grep -q '^_global +- ' "$log"; then
    echo "fresh-machine-check: PASS (a leader was elected and every project has an owner)"
  else
    echo "fresh-machine-check: FAIL (see $log)"; rc=1
  fi
fi
exit "$rc"
