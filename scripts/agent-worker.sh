#!/usr/bin/env bash
# Installs the LiveKit Agents worker that smoke's tests talk to
# (e2e/agent: @livekit/agents and its native @livekit/rtc-node, pinned by
# package-lock.json; no AI plugins) and prints the path of its entry point,
# worker.mjs, on stdout. Cached: npm ci runs again only when the lockfile
# changed since the last install.
#
#   export VOICETOKEN_AGENT_WORKER=$(bash scripts/agent-worker.sh)
#   go test ./cmd/voicetoken -run TestSmokeHearsTheAgent
#
# The Go tests start the worker themselves (node worker.mjs start) against
# the LiveKit server they start, on 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/e2e/agent"
command -v node >/dev/null || { echo "agent-worker.sh: node is not installed (Node 20 or later)" >&2; exit 1; }
stamp="$dir/node_modules/.voicetoken-lock.sha256"
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "agent-worker.sh: npm ci in e2e/agent (LiveKit Agents and its native rtc-node)" >&2
  bash "$root/scripts/npm-ci.sh" "$dir" >&2
  echo "$want" > "$stamp"
fi
echo "$dir/worker.mjs"
