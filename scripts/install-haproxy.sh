#!/usr/bin/env bash
# Installs HAProxy from Debian's packages, for test/haproxy.test.ts (three linedrop servers behind
# HAProxy in TCP mode with send-proxy-v2). The test runs haproxy itself, in the foreground, with a
# configuration of its own; the package's service is not needed, so it is stopped and disabled
# where systemd runs. Does nothing when haproxy is already on PATH.
#
# The install line this project was set up with:
#   apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy
set -euo pipefail

if command -v haproxy >/dev/null 2>&1; then
  echo "install-haproxy: already installed: $(haproxy -v 2>/dev/null | head -n 1)"
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive

install() {
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy
}

# Refresh the package lists first when they do not know haproxy (a fresh machine has none), and
# once more if the install fails on stale lists.
if ! apt-cache show haproxy >/dev/null 2>&1; then
  "${as_root[@]}" apt-get update
fi
if ! install; then
  "${as_root[@]}" apt-get update
  install
fi

# Where systemd runs, the package starts HAProxy as a service; the test needs none.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  "${as_root[@]}" systemctl disable --now haproxy >/dev/null 2>&1 || true
fi

haproxy -v | head -n 1
