#!/usr/bin/env bash
# Runs the S3 storage tests (test/system/s3.test.ts and s3-upload.test.ts) against a real S3
# gateway: a one-node Ceph cluster (monitor, RAM-only OSD, radosgw) on 127.0.0.1, started with
# shared/ceph/start-rgw.sh and always stopped at the end. `npm run test:s3` builds, then runs this.
#
#   bash scripts/ceph-test.sh                       the S3 tests (dist/test/system/s3*.test.js, one file at a time:
#                                                   one of them restarts the gateway)
#   bash scripts/ceph-test.sh node dist/bench/s3.js any other command, with the gateway up (the S3 benchmark)
#
# Installs the Debian packages the cluster needs when they are missing:
#   apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd uuid-runtime curl
# The command gets LINEDROP_TEST_S3_ENDPOINT, LINEDROP_TEST_CEPH_DIR (the cluster's folder: lets
# tests restart radosgw and run its garbage collection), CEPH_CONF and the gateway's test keys in
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
#
# Settings: LINEDROP_CEPH_START (the start script; default ../shared/ceph/start-rgw.sh beside this
# repository), LINEDROP_CEPH_DIR (default /tmp/linedrop-ceph-test; emptied first), LINEDROP_CEPH_PORT
# (the gateway's port, default 7480), LINEDROP_CEPH_TIMEOUT (seconds the command may run, default 600).
# The monitor's ports (3300, 6789) are fixed by the start script, so one cluster runs at a time.
set -euo pipefail
cd "$(dirname "$0")/.."

START=${LINEDROP_CEPH_START:-../shared/ceph/start-rgw.sh}
D=${LINEDROP_CEPH_DIR:-/tmp/linedrop-ceph-test}
PORT=${LINEDROP_CEPH_PORT:-7480}
LIMIT=${LINEDROP_CEPH_TIMEOUT:-600}
PACKAGES=(radosgw ceph-mon ceph-osd uuid-runtime curl)

if [ ! -f "$START" ]; then
  echo "ceph-test: no start script at $START (set LINEDROP_CEPH_START)" >&2
  exit 1
fi
START=$(cd "$(dirname "$START")" && pwd)/$(basename "$START")

# --- the Debian packages, if missing --------------------------------------------------------
missing=0
for tool in radosgw radosgw-admin ceph-mon ceph-osd ceph ceph-authtool monmaptool uuidgen curl; do
  command -v "$tool" >/dev/null 2>&1 || missing=1
done
if [ "$missing" = 1 ] && [ -z "${R:-}" ]; then
  as_root=()
  [ "$(id -u)" -ne 0 ] && as_root=(sudo)
  install() { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}"; }
  echo "ceph-test: installing ${PACKAGES[*]}"
  if ! apt-cache show radosgw >/dev/null 2>&1; then "${as_root[@]}" apt-get update; fi
  if ! install; then
    "${as_root[@]}" apt-get update
    install
  fi
fi

# --- one cluster at a time --------------------------------------------------------------------
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 3300 6789 "$PORT"; do
  if port_busy "$port"; then
    echo "ceph-test: 127.0.0.1:$port is in use: is a Ceph cluster already running? Stop it first (kill \$(cat DIR/run/{rgw,osd,mon}.pid))." >&2
    exit 1
  fi
done

# --- stop: the daemons start-rgw.sh started (and a radosgw a test restarted; it rewrites rgw.pid) --
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$state" != Z ] && [ "$state" != X ]
}
stop() {
  local status=$? pids=() pid name i
  trap - EXIT INT TERM
  for name in rgw osd mon; do
    if [ -f "$D/run/$name.pid" ]; then
      pid=$(cat "$D/run/$name.pid")
      case $pid in '' | *[!0-9]*) continue ;; esac
      pids+=("$pid")
      kill "$pid" 2>/dev/null || true
    fi
  done
  for i in $(seq 1 50); do
    local left=0
    for pid in "${pids[@]}"; do alive "$pid" && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do alive "$pid" && kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$D"
  echo "ceph-test: cluster stopped"
  exit "$status"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- start ------------------------------------------------------------------------------------
echo "ceph-test: starting the cluster in $D"
started=$(date +%s)
D="$D" PORT="$PORT" bash "$START"
if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")" != 200 ]; then
  echo "ceph-test: the gateway does not answer on 127.0.0.1:$PORT; its log:" >&2
  tail -n 30 "$D/log/rgw.out" "$D/log/client.rgw.a.log" >&2 2>/dev/null || true
  exit 1
fi
echo "ceph-test: cluster up in $(( $(date +%s) - started )) s"

export LINEDROP_TEST_S3_ENDPOINT="http://127.0.0.1:$PORT"
export LINEDROP_TEST_CEPH_DIR="$D"
export CEPH_CONF="$D/ceph.conf"
export AWS_ACCESS_KEY_ID=testkey AWS_SECRET_ACCESS_KEY=testsecret AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
if [ -n "${R:-}" ]; then
  # Packages unpacked under $R, as start-rgw.sh allows: the tests run radosgw and radosgw-admin too.
  export LD_LIBRARY_PATH="$R/usr/lib/x86_64-linux-gnu:$R/usr/lib/x86_64-linux-gnu/ceph:$R/usr/lib:$R/lib/x86_64-linux-gnu"
  export PYTHONPATH="$R/usr/lib/python3/dist-packages" PATH="$R/usr/bin:$PATH"
fi

if [ $# -eq 0 ]; then
  set -- node --test --test-concurrency=1 dist/test/system/s3.test.js dist/test/system/s3-upload.test.js
fi
timeout -k 10 "$LIMIT" "$@"
