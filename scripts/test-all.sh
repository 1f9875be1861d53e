#!/usr/bin/env bash
# Runs every test of Switchboard on a fresh Debian machine with the Rust toolchain:
# installs the system packages the tests drive (as root, with apt-get), then runs the
# workspace's unit and black-box tests against the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the test suite needs. Installed only when missing.
PACKAGES=(ca-certificates curl coturn pebble chromium chromium-driver nodejs jq)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]} (run as root or install them)" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Some tests open many sockets.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --workspace --all-targets --locked
cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-4}"

# The web client in a real headless Chromium against the real binary.
if [ -x scripts/test-browser.sh ]; then
  ./scripts/test-browser.sh
fi
