#!/usr/bin/env bash
# One command (issue 25): build voicetoken and bench/proxybench, then run,
# side by side in one run, a Go upstream (40-byte JSON, WebSocket echo), a
# plain httputil.ReverseProxy that sets Authorization (the baseline) and
# `voicetoken proxy`; REST with wrk at 4 and 32 connections, WebSocket
# round trips through the proxy against a direct connection.
#
#   bash bench/proxy.sh
#   D=10s ROUNDS=5 C=4,32,64 bash bench/proxy.sh
#   PPROF=1 bash bench/proxy.sh     # also serve pprof on the proxy (see bench/README.md)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || bash scripts/apt-install.sh wrk
work=$(mktemp -d "${TMPDIR:-/tmp}/voicetoken-proxybench.XXXXXX")
trap 'rm -rf "$work"' EXIT
go build -o "$work/voicetoken" ./cmd/voicetoken
go build -o "$work/proxybench" ./bench/proxybench
"$work/proxybench" run -self "$work/proxybench" -voicetoken "$work/voicetoken" -wrk "$(command -v wrk)" \
  -d "${D:-6s}" -c "${C:-4,32}" -rounds "${ROUNDS:-3}" -ws "${WS:-5000}" -proxy-args "${PROXY_ARGS:-}"
