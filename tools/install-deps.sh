#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the benchmarks need. Idempotent:
# it adds <codename>-backports (reusing the mirror apt already uses) only when missing, and
# installs only packages that are not installed yet.
# --quiet (the Makefile's first pass): print nothing when every package is already there.
set -euo pipefail

quiet=0
[ "${1:-}" = --quiet ] && quiet=1
say() { printf 'install-deps: %s\n' "$*"; }
die() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

[ -r /etc/os-release ] || die "/etc/os-release not found: this script supports Debian-like systems only"
. /etc/os-release
case " ${ID:-} ${ID_LIKE:-} " in
  *" debian "*) ;;
  *) die "this is '${ID:-unknown}', not Debian or a derivative; install libraft-dev 0.22.x, libuv, sqlite3, msgpack-c, libpq, mariadb connector/c, jansson, cmocka by hand" ;;
esac
command -v apt-get >/dev/null || die "apt-get not found; install the packages listed in README.md by hand"
codename=${VERSION_CODENAME:-}
[ -n "$codename" ] || die "VERSION_CODENAME missing from /etc/os-release; cannot name the backports suite"
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "run as root (or install sudo)"
  SUDO=sudo
else
  SUDO=
fi

PKGS=(
  build-essential pkg-config
  libraft-dev libuv1-dev libsqlite3-dev sqlite3 libmsgpack-dev libpq-dev libmariadb-dev
  libjansson-dev libcmocka-dev libcurl4-openssl-dev zlib1g-dev libssl-dev openssl libmicrohttpd-dev
  python3 python3-pytest python3-psycopg2 python3-pymysql
  postgresql mariadb-server iproute2 procps
  iptables libfaketime faketime python3-msgpack
  debhelper lintian systemd
  openjdk-17-jdk-headless libpostgresql-jdbc-java libmariadb-java
  prometheus influxdb
)
# bench/etcd-go (etcd's own Go client, clientv3) is built offline from golang-etcd-server-dev;
# gnuplot-nox draws docs/benchmarks-latency.png (latency against throughput, bench/plot-latency.gnuplot).
BENCH_PKGS=(etcd-server etcd-client golang-go golang-etcd-server-dev gnuplot-nox)
# WITH_FUZZ=1 (make fuzz): clang and its libFuzzer/sanitizer runtimes (clang's packages
# only recommend libclang-rt-dev, and recommends are not installed here).
FUZZ_PKGS=(clang libclang-rt-dev)
# WITH_SCREENSHOT=1 (tools/obs-screenshot.py, by hand): headless Chromium for docs/observability-failover.png.
SHOT_PKGS=(chromium)

has_backports() {
  grep -rqsE "(^|[[:space:]])${codename}-backports([[:space:]]|$)" /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}

updated=0
apt_update() { [ "$updated" = 1 ] && return 0; say "apt-get update"; $SUDO apt-get update -qq || die "apt-get update failed; check network access to your Debian mirror"; updated=1; }


# One dpkg-query for every package: a package it does not list as installed is missing.
wanted=("${PKGS[@]}" ${WITH_BENCH:+"${BENCH_PKGS[@]}"} ${WITH_FUZZ:+"${FUZZ_PKGS[@]}"} ${WITH_SCREENSHOT:+"${SHOT_PKGS[@]}"})
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${wanted[@]}" 2>/dev/null | awk '/ install ok installed$/ { print $1 }' || true)
missing=()
for p in "${wanted[@]}"; do
  grep -qxF "$p" <<<"$installed" || missing+=("$p")
done
raft_ver=$(dpkg-query -W -f='${Version}' libraft-dev 2>/dev/null || true)
case "$raft_ver" in 0.22.*) ;; *) missing+=("libraft-dev") ;; esac
if [ ${#missing[@]} -eq 0 ] && [ "$quiet" = 1 ]; then
  exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
  if ! has_backports; then
    mirror=$(bash "$(dirname "$0")/apt-mirror.sh" "$codename") \
      || die "no apt source for suite '$codename' found in /etc/apt/sources.list*; add one, then rerun"
    say "adding ${codename}-backports from the mirror already configured: $mirror"
    printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$codename" | $SUDO tee /etc/apt/sources.list.d/raftnode-backports.sources >/dev/null
    apt_update
  fi
  apt_update
  say "installing: ${missing[*]}"
  # libraft comes from backports (0.22.x); everything else from the stable suite.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -t "${codename}-backports" libraft-dev libraft0 >/dev/null || die "installing libraft-dev from ${codename}-backports failed"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi
raft_ver=$(dpkg-query -W -f='${Version}' libraft-dev 2>/dev/null || true)
case "$raft_ver" in 0.22.*) ;; *) die "libraft-dev is '$raft_ver', need 0.22.x from ${codename}-backports" ;; esac
say "all dependencies present (libraft-dev $raft_ver)"
