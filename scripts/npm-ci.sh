#!/usr/bin/env bash
# npm ci in DIR, with retries: the registry sometimes stalls on a large
# package document (esbuild's), and one stall must not fail CI.
#   bash scripts/npm-ci.sh DIR
set -uo pipefail
dir=$1
for attempt in 1 2 3 4; do
  if (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error \
        --fetch-retries=5 --fetch-timeout=120000 --fetch-retry-maxtimeout=60000); then
    exit 0
  fi
  echo "npm-ci: attempt $attempt in $dir failed; retrying" >&2
  sleep $((attempt * 5))
done
echo "npm-ci: npm ci in $dir failed 4 times" >&2
exit 1
