#!/usr/bin/env bash
# Builds the voice agent page into web/dist (or into the directory given as
# $1, which scripts/check-bundle.sh uses to compare a fresh build with the
# committed one). The Go binary embeds web/dist (see embed.go), so after any
# change under web/src or to the pinned livekit-client, run:
#
#   cd web && npm ci && npm run build      # or: bash web/build.sh
#
# and commit web/dist. The build is deterministic: same sources and same
# package-lock.json give the same bytes.
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-dist}
case "$out" in "" | / | . | ..) echo "build.sh: refusing to build into '$out'" >&2; exit 2 ;; esac
[ -x node_modules/.bin/esbuild ] || npm ci --no-audit --no-fund
rm -rf "$out"
mkdir -p "$out"
node_modules/.bin/esbuild src/app.js \
  --bundle --format=iife --target=es2020 --platform=browser \
  --minify --legal-comments=linked --charset=utf8 \
  --log-level=warning --outfile="$out/app.js"
cp src/index.html src/style.css src/favicon.svg "$out/"
