#!/usr/bin/env bash
# Installs, from Debian's packages, the system tools that `npm run test:system` and `npm run bench`
# use, and only those that are missing from PATH:
#
#   haproxy    test/system/haproxy.test.ts (three servers behind HAProxy, send-proxy-v2)
#   tshark     test/system/wireshark.test.ts (the dissector in tools/wireshark/; the package brings
#              text2pcap and mergecap)
#   chromium   test/system/grade-browser.test.ts (the grading report rendered in a real browser)
#   rsync      bench/ (linedrop measured side by side with an rsync daemon)
#   bubblewrap test/system/sandbox.test.ts (grade's sandbox: the command bwrap)
#   strace     test/system/answer-order.test.ts and grade (A's order against the storing of k.txt,
#              seen in the server's system calls)
#
#   bash scripts/install-system-tools.sh            all of them
#   bash scripts/install-system-tools.sh rsync      only the ones named (haproxy tshark chromium rsync bubblewrap strace)
#
# The package services are not needed (the tests run the programs themselves, in the foreground),
# so haproxy's is stopped where systemd runs. Needs root, or sudo.
set -euo pipefail

declare -A PACKAGE=([haproxy]=haproxy [tshark]=tshark [chromium]=chromium [rsync]=rsync [bubblewrap]=bubblewrap [strace]=strace)
declare -A NEEDS=([haproxy]="haproxy" [tshark]="tshark text2pcap mergecap" [chromium]="chromium" [rsync]="rsync" [bubblewrap]="bwrap" [strace]="strace")
wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(haproxy tshark chromium rsync bubblewrap strace)

missing=()
for tool in "${wanted[@]}"; do
  if [ -z "${PACKAGE[$tool]:-}" ]; then
    echo "install-system-tools: unknown tool '$tool' (known: haproxy tshark chromium rsync bubblewrap strace)" >&2
    exit 2
  fi
  for cmd in ${NEEDS[$tool]}; do
    if ! command -v "$cmd" >/dev/null 2>&1 || [ ! -s "$(command -v "$cmd")" ]; then
      missing+=("${PACKAGE[$tool]}")
      break
    fi
  done
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-system-tools: already installed: ${wanted[*]}"
  exit 0
fi

as_root=()
[ "$(id -u)" -ne 0 ] && as_root=(sudo)
export DEBIAN_FRONTEND=noninteractive
# wireshark-common asks whether non-root users may capture packets: answer "no" up front.
if command -v debconf-set-selections >/dev/null 2>&1; then
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | "${as_root[@]}" debconf-set-selections
fi
install() { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; }
echo "install-system-tools: installing ${missing[*]}"
# Refresh the package lists first when they do not know a package (a fresh machine has none),
# and once more if the install fails on stale lists.
for p in "${missing[@]}"; do
  if ! apt-cache show "$p" >/dev/null 2>&1; then "${as_root[@]}" apt-get update; break; fi
done
if ! install; then
  "${as_root[@]}" apt-get update
  install
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  "${as_root[@]}" systemctl disable --now haproxy >/dev/null 2>&1 || true
fi
