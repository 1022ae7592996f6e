#!/usr/bin/env bash
# Runs the ws transport's tests against the newest ws 8 on the registry.
#
# package.json pins ws to the minor the suite passes on, because the transport relies on ws
# internals (its receiver calls the instance's pong() and close(); we write data frames beside
# its Sender). This step tells us, before users do, when a newer ws breaks that: it installs
# ws@8 into a temporary folder and points vitest's resolution of "ws" at it (EVTWS_WS_DIR in
# vitest.config.ts), for the transport, the conn tests and their test servers alike.
# test/helpers/ws-version.ts fails the run if any other ws gets loaded, and prints the version.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="$(mktemp -d "${TMPDIR:-/tmp}/evtws-ws-latest.XXXXXX")"
trap 'rm -rf "$dir"' EXIT
npm install --prefix "$dir" --no-audit --no-fund --no-package-lock --loglevel=error ws@8 >/dev/null
latest="$(node -p 'require(process.argv[1]).version' "$dir/node_modules/ws/package.json")"
pinned="$(node -p 'require("./node_modules/ws/package.json").version')"
echo "ws: pinned $pinned, newest 8.x $latest (from $dir)"

# --reporter=default: never overwrite the CI run's test-results.json.
EVTWS_WS_DIR="$dir/node_modules/ws" EVTWS_WS_VERSION="$latest" \
  npx vitest run --reporter=default test/transport-ws-*.test.ts test/conn-*.test.ts
