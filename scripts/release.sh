#!/usr/bin/env bash
# Cross-compiles checksummed static release binaries into dist/ and checks
# them: each is static (CGO_ENABLED=0 in its build info), stamped with the
# version, and listed in dist/SHA256SUMS, which `sha256sum -c` accepts.
#
#   bash scripts/release.sh                          # linux/amd64 linux/arm64 darwin/arm64
#   bash scripts/release.sh linux/amd64              # one target (CI)
#   VERSION=v1.2.0 bash scripts/release.sh
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(linux/amd64 linux/arm64 darwin/arm64)
DIST=${DIST:-dist}
rm -rf "$DIST" && mkdir -p "$DIST"
if [ -z "${VERSION:-}" ]; then
  VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo "(devel)")
  [ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || [[ "$VERSION" == *-dirty ]] || VERSION="$VERSION-dirty"
fi
export VERSION
for t in "${targets[@]}"; do
  os=${t%/*} arch=${t#*/}
  name="voicetoken-$VERSION-$os-$arch"
  GOOS=$os GOARCH=$arch OUT="$DIST/$name" bash scripts/build.sh >/dev/null
  info=$(go version -m "$DIST/$name")
  for want in "CGO_ENABLED=0" "-trimpath=true" "GOOS=$os" "GOARCH=$arch" "$VERSION"; do
    grep -qF -- "$want" <<<"$info" || { echo "release.sh: $name: build info lacks $want" >&2; exit 1; }
  done
  if [ "$os" = linux ] && command -v file >/dev/null; then
    file "$DIST/$name" | grep -q "statically linked" || { echo "release.sh: $name is not statically linked: $(file "$DIST/$name")" >&2; exit 1; }
  fi
  if [ "$t" = "$(go env GOOS)/$(go env GOARCH)" ]; then
    "$DIST/$name" version | grep -qF "voicetoken $VERSION " || { echo "release.sh: $name does not report $VERSION" >&2; exit 1; }
  fi
  echo "built $DIST/$name ($(wc -c <"$DIST/$name") bytes)" >&2
done
(cd "$DIST" && sha256sum voicetoken-* > SHA256SUMS && sha256sum -c --quiet SHA256SUMS)
cat "$DIST/SHA256SUMS"
