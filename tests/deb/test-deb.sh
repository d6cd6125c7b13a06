#!/usr/bin/env bash
# tests/deb/test-deb.sh DEBDIR (make test-deb, part of make test): the Debian package built by
# make deb, installed into a scratch bookworm root (tools/scratch-root.sh, never this machine)
# with its dependencies from the mirror apt already uses, then checked as an operator would
# find it, started as a one-member cluster, and purged again.
# Prints "test-deb: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
debdir=${1:-build/deb}
deb=$(ls -t "$debdir"/raftnode_*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || { echo "test-deb: no raftnode_*.deb in $debdir (run make deb)"; echo "test-deb: 0 passed, 1 failed"; exit 1; }
root=$(mktemp -d /tmp/raftnode-deb-root.XXXXXX)
passed=0; failed=0
check() { # check NAME COMMAND...: runs COMMAND, counts it
  local name=$1; shift
  if "$@" >"$root.out" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     /' "$root.out" | tail -n 20
  fi
}
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
node_pid=
cleanup() {
  [ -n "$node_pid" ] && kill -KILL "$node_pid" 2>/dev/null
  bash tools/scratch-root.sh remove "$root" || echo "test-deb: could not remove $root"
  rm -f "$root.out"
}
trap cleanup EXIT

if ! bash tools/scratch-root.sh make "$root"; then
  echo "test-deb: cannot make the scratch root"; echo "test-deb: 0 passed, 1 failed"; exit 1
fi
chmod 0755 "$root" # mktemp made it 0700: the chroot's / must be traversable by user raftnode
cp "$deb" "$root/tmp/raftnode.deb"

check "apt-get update in the scratch root" in_root apt-get update -q
check "install $(basename "$deb") and its dependencies (libraft0 from backports)" \
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /tmp/raftnode.deb
# An operator's machine runs systemd: the unit is verified against the real one.
check "install systemd (for systemd-analyze verify)" \
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd
check "raftnode --help-config lists raft.node.id" sh -c "chroot '$root' raftnode --help-config | grep -q '^#raft.node.id='"
check "raftctl --help lists the commands" sh -c "chroot '$root' raftctl --help | grep -q 'rebalance'"
check "system user raftnode, no login shell" sh -c "chroot '$root' getent passwd raftnode | grep -Eq ':/var/lib/raftnode:/usr/sbin/nologin$|:/var/lib/raftnode:/bin/false$'"
perms() { local want=$1 f=$2 got; got=$(chroot "$root" stat -c '%a %U %G' "$f") || return 1; [ "$got" = "$want" ] || { echo "$f: $got, want $want"; return 1; }; }
check "/var/lib/raftnode is 0700 raftnode:raftnode" perms "700 raftnode raftnode" /var/lib/raftnode
check "/etc/raftnode/raftnode.properties is a conffile with every key commented out" sh -c "
  grep -qx ' */etc/raftnode/raftnode.properties [0-9a-f]*' '$root/var/lib/dpkg/info/raftnode.conffiles' 2>/dev/null ||
  grep -qx '/etc/raftnode/raftnode.properties' '$root/var/lib/dpkg/info/raftnode.conffiles' &&
  ! grep -Eq '^[a-z]' '$root/etc/raftnode/raftnode.properties'"
check "/etc/raftnode/raftnode.properties is 0640 root:raftnode" perms "640 root raftnode" /etc/raftnode/raftnode.properties
check "man pages raftnode(8) and raftctl(1)" sh -c "[ -s '$root/usr/share/man/man8/raftnode.8.gz' ] && [ -s '$root/usr/share/man/man1/raftctl.1.gz' ] && zcat '$root/usr/share/man/man8/raftnode.8.gz' | grep -q '^.SH \"SIGNALS\"'"
check "bash completion for raftctl" bash -c "source '$root/usr/share/bash-completion/completions/raftctl' 2>/dev/null; _init_completion() { :; }; type _raftctl >/dev/null"
unit=$root/lib/systemd/system/raftnode.service
check "unit: User=raftnode, ProtectSystem=strict, ReadWritePaths, NoNewPrivileges, Restart=on-failure, SIGTERM" sh -c "
  for l in User=raftnode ProtectSystem=strict ReadWritePaths=/var/lib/raftnode NoNewPrivileges=yes Restart=on-failure KillSignal=SIGTERM; do
    grep -qx \"\$l\" '$unit' || { echo \"missing \$l\"; exit 1; }; done"
check "systemd-analyze verify raftnode.service" systemd-analyze verify --man=no --root="$root" /lib/systemd/system/raftnode.service

# Start the packaged binary as the packaged user, on the packaged state directory.
cat >"$root/etc/raftnode/test.properties" <<PROPS
raft.node.id=1
raft.node.address=127.0.0.1:$((17000 + RANDOM % 2000))
raft.api.address=127.0.0.1:$((19000 + RANDOM % 2000))
raft.data-dir=/var/lib/raftnode
raft.initial-cluster=1=RAFTADDR
PROPS
raft_addr=$(sed -n 's/^raft.node.address=//p' "$root/etc/raftnode/test.properties")
api_addr=$(sed -n 's/^raft.api.address=//p' "$root/etc/raftnode/test.properties")
sed -i "s/RAFTADDR/$raft_addr/" "$root/etc/raftnode/test.properties"
chmod 0644 "$root/etc/raftnode/test.properties"
chroot "$root" runuser -u raftnode -- raftnode -c /etc/raftnode/test.properties >"$root/tmp/node.log" 2>&1 &
node_pid=$!
leader() { chroot "$root" raftctl --endpoints "$api_addr" -w json status 2>/dev/null | grep -q '"leader_id":1'; }
wait_leader() { local i; for ((i = 0; i < 150; i++)); do leader && return 0; kill -0 "$node_pid" 2>/dev/null || break; sleep 0.2; done; cat "$root/tmp/node.log"; return 1; }
check "packaged raftnode runs as user raftnode and elects itself" wait_leader
check "raftctl project add against it" chroot "$root" raftctl --endpoints "$api_addr" project add deb_check
check "state.db belongs to raftnode" sh -c "[ \"\$(chroot '$root' stat -c %U /var/lib/raftnode/state.db)\" = raftnode ]"
kill -TERM "$node_pid" 2>/dev/null
stopped() { local i; for ((i = 0; i < 150; i++)); do kill -0 "$node_pid" 2>/dev/null || return 0; sleep 0.2; done; return 1; }
check "SIGTERM stops it" stopped
node_pid=

check "apt-get purge raftnode" in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q raftnode
check "purge removed the programs, the unit and the state directory" sh -c "
  [ ! -e '$root/usr/bin/raftnode' ] && [ ! -e '$root/usr/bin/raftctl' ] && [ ! -e '$unit' ] && [ ! -e '$root/var/lib/raftnode' ]"

echo "test-deb: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
