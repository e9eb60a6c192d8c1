#!/usr/bin/env bash
# `npm run test:system`: the tests that need system tools or many processes (test/system/).
# Installs the Debian packages they need when missing (scripts/install-system-tools.sh), runs every
# test in test/system/ but the S3 gateway's, then those against a real one-node Ceph gateway
# (scripts/ceph-test.sh, which installs, starts and stops it).
#
#   bash scripts/test-system.sh            all of it
#   bash scripts/test-system.sh crash      only the test files whose path contains "crash" (no Ceph)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-tools.sh haproxy tshark chromium strace
if [ $# -gt 0 ]; then
  exec node scripts/run-tests.mjs --system "$@"
fi
node scripts/run-tests.mjs --system --except system/s3
bash scripts/ceph-test.sh
