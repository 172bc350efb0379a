#!/usr/bin/env bash
# The project's test command: every Go test under the race detector,
# including the ones against LiveKit's real server, which is built once
# from its Go module (scripts/livekit-server.sh, cached; the first build
# takes a few minutes on 2 cores and says so).
#
# Output: one line per package as it finishes (gotestsum, pinned), then
# every skipped test with its reason. Under CI (CI=true) a skipped test
# fails the run: CI installs everything the tests need, so a skip there
# means a test that was meant to run did not.
#
#   bash scripts/test.sh                      # everything
#   bash scripts/test.sh ./internal/token/    # some packages
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--modcacherw}"
if [ -z "${VOICETOKEN_LIVEKIT_BIN:-}" ]; then
	echo "== LiveKit's server for the real-LiveKit tests (scripts/livekit-server.sh, cached; minutes the first time)" >&2
	VOICETOKEN_LIVEKIT_BIN=$(bash scripts/livekit-server.sh)
	export VOICETOKEN_LIVEKIT_BIN
fi
[ -n "${VOICETOKEN_AGENT_WORKER:-}" ] || { VOICETOKEN_AGENT_WORKER=$(bash scripts/agent-worker.sh); export VOICETOKEN_AGENT_WORKER; }
[ $# -gt 0 ] || set -- ./...
echo "== go test -race $* (gotestsum)" >&2
exec go run gotest.tools/gotestsum@v1.13.0 --format pkgname-and-test-fails \
	--post-run-command "bash scripts/test-summary.sh" -- -race -count=1 "$@"
