#!/usr/bin/env bash
# Verifies the systemd units in deploy/ with `systemd-analyze verify`
# (unknown or misspelled options, bad ExecStart lines). The units run
# /usr/local/bin/voicetoken: copies of them run a fresh build instead, so
# that verify finds every ExecStart binary. Skips, saying
# so, where systemd-analyze is absent (containers without systemd).
#
#   bash scripts/systemd-verify.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not found: systemd units not verified (skipped)"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# systemd-analyze verify wants the ExecStart binary to exist: build it and
# point copies of the units at it (the agent unit's agent gets a stand-in).
go build -o "$tmp/voicetoken" ./cmd/voicetoken
printf '#!/bin/sh\nexit 0\n' >"$tmp/agent" && chmod +x "$tmp/agent"
status=0
for u in deploy/*.service; do
  name=$(basename "$u")
  sed -e "s#/usr/local/bin/voicetoken#$tmp/voicetoken#g" \
      -e "s#/opt/podium-voices-agent/bin/agent#$tmp/agent#g" "$u" >"$tmp/$name"
  # The exit status says whether there was a problem; the output names
  # each, and only lines about our unit count (not the host's units).
  ok=1
  out=$(systemd-analyze verify "$tmp/$name" 2>&1) || ok=0
  out=$(grep -F "$name" <<<"$out" || true)
  if [ $ok -eq 0 ] || [ -n "$out" ]; then
    echo "$name: systemd-analyze verify:"; echo "$out"
    status=1
  else
    echo "$name: ok"
  fi
done
exit $status
