#!/usr/bin/env bash
# The project's test command: every Go test under the race detector,
# including the ones against LiveKit's real server, which is built once
# from its Go module (scripts/livekit-server.sh, cached; the first build
# takes a few minutes on 2 cores and says so).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VOICETOKEN_LIVEKIT_BIN:-}" ]; then
	echo "== LiveKit's server for the real-LiveKit tests (scripts/livekit-server.sh, cached)" >&2
	VOICETOKEN_LIVEKIT_BIN=$(bash scripts/livekit-server.sh)
	export VOICETOKEN_LIVEKIT_BIN
fi
echo "== go test -race ./..." >&2
go test -race -count=1 ./...
