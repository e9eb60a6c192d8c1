#!/usr/bin/env bash
# Installs tshark 4.x from Debian's packages, for test/wireshark.test.ts and the dissector in
# tools/wireshark/. The tshark package pulls in wireshark-common, which holds text2pcap and
# mergecap (the test uses both). Does nothing when tshark is already on PATH.
#
# The install line this project was set up with:
#   apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tshark
set -euo pipefail

if command -v tshark >/dev/null 2>&1; then
  echo "install-tshark: already installed: $(tshark --version 2>/dev/null | head -n 1)"
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive

# wireshark-common asks whether non-root users may capture packets; answer "no" up front so
# nothing prompts (noninteractive would pick that default anyway).
if command -v debconf-set-selections >/dev/null 2>&1; then
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | "${as_root[@]}" debconf-set-selections
fi

install() {
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tshark
}

# Refresh the package lists first when they do not know tshark (a fresh machine has none), and
# once more if the install fails on stale lists.
if ! apt-cache show tshark >/dev/null 2>&1; then
  "${as_root[@]}" apt-get update
fi
if ! install; then
  "${as_root[@]}" apt-get update
  install
fi

tshark --version | head -n 1
