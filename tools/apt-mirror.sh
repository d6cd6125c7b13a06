#!/usr/bin/env bash
# tools/apt-mirror.sh [CODENAME]: prints the URI of the Debian mirror that apt already uses for
# the main suite CODENAME (default: this system's), from /etc/apt/sources.list* (deb822 or
# one-line format). Exit 1 when none is configured. Used by install-deps.sh (to add the
# -backports suite) and by the scratch-root builders: no host name is ever written in the repo.
set -u
codename=${1:-}
if [ -z "$codename" ]; then
  . /etc/os-release 2>/dev/null
  codename=${VERSION_CODENAME:-}
fi
[ -n "$codename" ] || { echo "apt-mirror: no codename given and none in /etc/os-release" >&2; exit 1; }
{
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v cn="$codename" '
      /^[[:space:]]*$/ { if (uri != "" && suite) { print uri; exit } uri=""; suite=0; next }
      tolower($1) == "uris:" { uri=$2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == cn) suite=1 }
      END { if (uri != "" && suite) print uri }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk -v cn="$codename" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:/ ) { if ($(i+1) == cn) print $i; break } }' "$f"
  done
} | head -n1 | grep . || { echo "apt-mirror: no apt source for suite '$codename' in /etc/apt/sources.list*" >&2; exit 1; }
