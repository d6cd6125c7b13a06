#!/usr/bin/env bash
# tools/scratch-root.sh make DIR | remove DIR — a throw-away Debian root for tests that must not
# touch this machine: a fresh bookworm (debootstrap --variant=minbase plus make, gcc, git) as a
# new user's machine has it. Used by tools/fresh-machine-check.sh (make run as the very first
# command) and tests/deb/test-deb.sh (install and remove the .deb).
#   make DIR    unpacks the root into DIR (debootstrap runs once; its result is cached as
#               $SCRATCH_CACHE/bookworm-minbase.tar, default /var/cache/raftnode-scratch),
#               points apt at the mirror this machine's apt already uses (bookworm and
#               bookworm-backports; tools/apt-mirror.sh; SCRATCH_BACKPORTS=0 leaves backports
#               out, as on a new machine, where install-deps.sh must add it), forbids service starts inside
#               (policy-rc.d) and mounts /proc, /sys, /dev, /dev/pts into it.
#   remove DIR  unmounts whatever is mounted below DIR and deletes it.
# Needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 make|remove DIR" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "scratch-root: needs root (chroot, mount)" >&2; exit 1; }
suite=bookworm
cache=${SCRATCH_CACHE:-/var/cache/raftnode-scratch}
tarball=$cache/$suite-minbase.tar

unmount_below() {
  local d=$1 m
  # Deepest first.
  for m in $(awk -v d="$(realpath -m "$d")/" 'index($2 "/", d) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}

case "$cmd" in
make)
  mirror=$(bash "$here/apt-mirror.sh" "$suite") || exit 1
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null \
      || { echo "scratch-root: cannot install debootstrap" >&2; exit 1; }
    mkdir -p "$cache"
    work=$(mktemp -d "$cache/debootstrap.XXXXXX")
    echo "scratch-root: debootstrap $suite (minbase + make gcc git) from $mirror, once; cached in $tarball" >&2
    if ! debootstrap --variant=minbase --include=make,gcc,git,ca-certificates "$suite" "$work" "$mirror" \
        >"$cache/debootstrap.log" 2>&1; then
      tail -n 20 "$cache/debootstrap.log" >&2
      unmount_below "$work"; rm -rf "$work"
      echo "scratch-root: debootstrap failed (log: $cache/debootstrap.log)" >&2; exit 1
    fi
    unmount_below "$work"
    rm -f "$work"/var/cache/apt/archives/*.deb
    tar -C "$work" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$work"
  fi
  mkdir -p "$dir"
  tar -C "$dir" -xf "$tarball"
  suites="$suite $suite-updates"
  [ "${SCRATCH_BACKPORTS:-1}" = 0 ] || suites="$suites $suite-backports"
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$mirror" "$suites" >"$dir/etc/apt/sources.list.d/debian.sources"
  rm -f "$dir/etc/apt/sources.list"
  printf '#!/bin/sh\n# scratch root: no service starts\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod 0755 "$dir/usr/sbin/policy-rc.d"
  cp -L /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
  mount -t proc proc "$dir/proc"
  mount -t sysfs sys "$dir/sys" 2>/dev/null || mount --rbind /sys "$dir/sys"
  mount --bind /dev "$dir/dev"
  mount --bind /dev/pts "$dir/dev/pts"
  mkdir -p "$dir/dev/shm" 2>/dev/null || true
  ;;
remove)
  [ -d "$dir" ] || exit 0
  unmount_below "$dir"
  if awk -v d="$(realpath -m "$dir")/" 'index($2 "/", d) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    echo "scratch-root: something is still mounted below $dir; not deleting it" >&2; exit 1
  fi
  rm -rf "$dir"
  ;;
*) echo "usage: $0 make|remove DIR" >&2; exit 2 ;;
esac
