#!/usr/bin/env bash
# End-to-end test of the voice agent page, in a real browser against a real
# LiveKit server:
#
#   1. installs Debian's chromium if /usr/bin/chromium is missing (apt-get;
#      playwright never downloads a browser) and playwright-core (npm ci in e2e/);
#   2. builds LiveKit's own server (scripts/livekit-server.sh, cached)
#      and starts it --dev on 127.0.0.1 with e2e/livekit.yaml (signal 7880,
#      WebRTC on 127.0.0.1 UDP 7882 / TCP 7881);
#   3. builds voicetoken (or uses $VOICETOKEN_BIN) and starts
#      `voicetoken serve` on a free loopback port with e2e/policy.yaml
#      (tokens live 15 s);
#   4. runs e2e/page.test.mjs (playwright-core driving /usr/bin/chromium);
#   5. stops everything it started, whatever happened.
#
# Screenshots and the two servers' logs (tokens redacted) go to out/e2e/.
# The last line is "e2e: N passed, M failed"; the exit status is non-zero
# on any failure.
#
#   bash scripts/e2e.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out="$root/out/e2e"
work=$(mktemp -d)
pids=()

redact() { sed -u -E 's/[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/[token redacted]/g'; }

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail_setup() {
  echo "e2e: setup failed: $*" >&2
  for log in "$out/livekit.log" "$out/voicetoken.log"; do
    if [ -s "$log" ]; then
      echo "--- last lines of ${log#"$root/"}" >&2
      tail -n 15 "$log" >&2
    fi
  done
  echo "e2e: 0 passed, 1 failed"
  exit 1
}

# wait_for NAME SECONDS CMD...: run CMD until it succeeds or the deadline passes.
wait_for() {
  local name=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail_setup "$name did not come up within ${secs}s"
    sleep 0.2
  done
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

rm -rf "$out"
mkdir -p "$out"

# 1. Browser and driver.
if [ ! -x /usr/bin/chromium ]; then
  echo "e2e: installing Debian's chromium"
  bash scripts/apt-install.sh chromium || fail_setup "could not install chromium with apt-get"
fi
bash scripts/npm-ci.sh e2e >/dev/null || fail_setup "npm ci in e2e/ failed"

# 2. LiveKit.
lk_bin=$(bash "$root/scripts/livekit-server.sh") || fail_setup "could not build livekit-server"
for port in 7880 7881; do
  port_free "$port" || fail_setup "port $port is in use (another LiveKit server?); stop it first"
done
"$lk_bin" --dev --bind 127.0.0.1 --config e2e/livekit.yaml > >(redact >"$out/livekit.log") 2>&1 &
pids+=($!)
wait_for "LiveKit" 30 curl -fsS http://127.0.0.1:7880/

# 3. voicetoken serve on a free port (it reports the port it got).
# VOICETOKEN_BIN runs a binary built beforehand instead of building one here.
bin=${VOICETOKEN_BIN:-$work/voicetoken}
if [ -z "${VOICETOKEN_BIN:-}" ]; then
  go build -o "$bin" ./cmd/voicetoken || fail_setup "go build ./cmd/voicetoken failed"
fi
LIVEKIT_URL=ws://127.0.0.1:7880 "$bin" serve --addr 127.0.0.1:0 --policy e2e/policy.yaml \
  > >(redact >"$out/voicetoken.log") 2>&1 &
pids+=($!)
addr_of_serve() {
  sed -n 's/.*"event":"LISTENING","addr":"\(127\.0\.0\.1:[0-9]*\)".*/\1/p' "$out/voicetoken.log" | head -n 1 | grep .
}
wait_for "voicetoken serve" 30 addr_of_serve
base="http://$(addr_of_serve)"
wait_for "voicetoken serve /healthz" 10 curl -fsS "$base/healthz"

# 4. The browser test. TOKEN_TTL follows the policy's default_ttl.
ttl=$(sed -n 's/^default_ttl: *\([0-9]*\)s.*/\1/p' e2e/policy.yaml)
echo "e2e: LiveKit $("$lk_bin" --version 2>/dev/null | awk '{print $NF}') on ws://127.0.0.1:7880, voicetoken serve on $base, token TTL ${ttl}s"
status=0
BASE_URL="$base" TOKEN_TTL="${ttl:-15}" OUT_DIR="$out" node e2e/page.test.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "e2e: logs (tokens redacted) in ${out#"$root/"}/" >&2
fi
exit "$status"
