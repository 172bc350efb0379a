#!/usr/bin/env bash
# Fails when the committed web/dist (embedded in the voicetoken binary) is
# not exactly what a fresh build of web/src with the locked livekit-client
# produces, and runs the page's unit tests (node --test, no browser).
# Needs Node.js and npm (the npm registry, for `npm ci`).
#
#   bash scripts/check-bundle.sh
#
# To fix a failure: (cd web && npm ci && npm run build), then commit web/dist.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/npm-ci.sh web
(cd web && npm test --silent) >/dev/null || {
  echo "check-bundle: the page's unit tests fail: run (cd web && npm test)" >&2
  exit 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash web/build.sh "$tmp/dist"

if ! diff -r web/dist "$tmp/dist" >"$tmp/diff.txt" 2>&1; then
  echo "check-bundle: web/dist differs from a fresh build of web/src:" >&2
  diff -rq web/dist "$tmp/dist" >&2 || true
  echo "check-bundle: run (cd web && npm ci && npm run build) and commit web/dist" >&2
  exit 1
fi
echo "check-bundle: web/dist matches a fresh build ($(ls web/dist | wc -l) files, livekit-client $(node -p "require('./web/node_modules/livekit-client/package.json').version"))"
