#!/usr/bin/env bash
# Builds LiveKit's own server from its Go module and prints the binary's path on stdout.
# Cached: the first build takes a few minutes (2 cores), later calls return at once.
#
#   bin=$(bash scripts/livekit-server.sh)
#   "$bin" --dev --bind 127.0.0.1 &        # keys devkey / secret, signal + HTTP on :7880
#
# Why v1.13.5: later releases replace pion's webrtc/ice/dtls with forks that the module
# proxy does not serve; v1.13.5 has no replace directives and all its modules are served.
# Note: --bind limits only the HTTP/signal port; WebRTC still uses TCP 7881 and UDP 7882.
set -euo pipefail
LK_VERSION=${LK_VERSION:-v1.13.5}
CACHE=${LIVEKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/livekit-server-$LK_VERSION}
BIN="$CACHE/livekit-server"
if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "${LK_VERSION#v}"; then
  echo "$BIN"; exit 0
fi
mkdir -p "$CACHE"
export CGO_ENABLED=0 GOFLAGS=-modcacherw
dir=$(go mod download -json "github.com/livekit/livekit-server@$LK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
[ -n "$dir" ] && [ -d "$dir" ] || { echo "livekit-server.sh: could not download the module" >&2; exit 1; }
src="$CACHE/src"
rm -rf "$src" && cp -r "$dir" "$src" && chmod -R u+w "$src"
(cd "$src" && go build -trimpath -o "$BIN.tmp" ./cmd/server) >&2
mv "$BIN.tmp" "$BIN" && rm -rf "$src"
echo "$BIN"
