#!/usr/bin/env bash
# Builds a static, version-stamped voicetoken and prints its path.
# Used by the container image (Containerfile) and by scripts/release.sh.
#
#   bash scripts/build.sh                     # out/voicetoken for this machine
#   GOOS=linux GOARCH=arm64 OUT=out/vt-arm64 bash scripts/build.sh
#   VERSION=v1.2.0 bash scripts/build.sh      # a release: name the version
#
# Static: CGO_ENABLED=0 (runs FROM scratch, no libc). -trimpath: no build
# paths in the binary. The version, commit and commit time are stamped
# with -ldflags -X (internal/version), read from git here because a build
# inside a container or from an archive has no .git; -buildvcs=false so
# the binary does not depend on whether the toolchain could run git.
# The commit time (not the build time) keeps two builds of a commit equal.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/voicetoken}
if git rev-parse --git-dir >/dev/null 2>&1; then
  VERSION=${VERSION:-$(git describe --tags --always --dirty)}
  COMMIT=${COMMIT:-$(git rev-parse HEAD)}
  DATE=${DATE:-$(TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd)}
  if [ -n "$(git status --porcelain --untracked-files=no)" ] && [[ "$VERSION" != *-dirty ]]; then
    VERSION="$VERSION-dirty"
  fi
fi
VERSION=${VERSION:-(devel)}
pkg=voicetoken/internal/version
mkdir -p "$(dirname "$OUT")"
CGO_ENABLED=0 go build -trimpath -buildvcs=false \
  -ldflags "-s -w -buildid= -X '$pkg.version=$VERSION' -X '$pkg.commit=${COMMIT:-}' -X '$pkg.date=${DATE:-}'" \
  -o "$OUT" ./cmd/voicetoken
echo "$OUT"
