#!/usr/bin/env bash
# Browser tests of the web client: real headless Chromium (Debian's /usr/bin/chromium, fake
# camera and microphone) driven by playwright-core, against the real `switchboard` binary.
#
#   scripts/test-browser.sh            # build if needed, npm ci, run every tests/browser/*.test.js
#   BROWSER_TESTS="relay.test.js" scripts/test-browser.sh
#
# Screenshots and failure shots go to target/browser-tests/. Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

need_apt=()
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-browser: missing ${need_apt[*]}; install them (apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
  echo "test-browser: installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 18 ]; then
  echo "test-browser: warning: node $(node --version) is older than playwright-core's minimum (18)" >&2
fi

echo "test-browser: npm ci (tests/browser)"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

if [ -z "${SWITCHBOARD_BIN:-}" ]; then
  echo "test-browser: cargo build --locked -p switchboard"
  cargo build --locked -p switchboard
fi

cd tests/browser
# shellcheck disable=SC2086
files=${BROWSER_TESTS:-$(ls ./*.test.js)}
echo "test-browser: node --test ${files//$'\n'/ }"
exec timeout 600 node --test --test-concurrency=1 --test-reporter=spec $files
