#!/usr/bin/env bash
# Builds voicetoken's container image with Debian's podman and checks it
# without a container runtime (crun cannot create cgroups in some CI
# sandboxes): the image is saved as an OCI archive and deploy's TestImage
# reads its config (user, entrypoint, command, health check), unpacks the
# layer, checks the binary is static (go version -m, file) and runs it as
# the image's user (setpriv) answering /healthz and `voicetoken health`.
# `podman run` does not work in this sandbox (crun: setrlimit RLIMIT_NOFILE
# and RLIMIT_NPROC: Operation not permitted, even with --ulimit and
# --cgroups disabled); where it does, `podman run --rm -p 9000:9000 IMAGE`
# runs the same command the test runs.
#
#   bash scripts/image-check.sh      # leaves localhost/voicetoken:VERSION in podman's store below
#
# FROM scratch: nothing is pulled. The root file system is staged here:
# the binary from scripts/build.sh, the host's CA bundle and zoneinfo.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v podman >/dev/null || bash scripts/apt-install.sh podman
[ -f /etc/ssl/certs/ca-certificates.crt ] || bash scripts/apt-install.sh ca-certificates
[ -d /usr/share/zoneinfo ] || bash scripts/apt-install.sh tzdata
work=out/image
rm -rf "$work" && mkdir -p "$work/rootfs/etc/ssl/certs" "$work/rootfs/usr/share"
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
export VERSION
OUT="$work/rootfs/voicetoken" bash scripts/build.sh >/dev/null
cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/"
# -h: links resolved (the image has no /etc/localtime target outside);
# right/ and posix/ are duplicates of the main tree.
tar -C /usr/share -chf - --exclude=zoneinfo/right --exclude=zoneinfo/posix zoneinfo | tar -C "$work/rootfs/usr/share" -xf -
printf 'nonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' >"$work/rootfs/etc/passwd"
printf 'nonroot:x:65532:\n' >"$work/rootfs/etc/group"

# A private store (vfs: no overlay mounts needed), cached between runs.
store=${VOICETOKEN_PODMAN_STORE:-${XDG_CACHE_HOME:-$HOME/.cache}/voicetoken-podman}
pm=(podman --storage-driver vfs --root "$store/root" --runroot "$store/run")
tag="localhost/voicetoken:${VERSION//[^A-Za-z0-9_.-]/_}"
"${pm[@]}" build --format docker -f Containerfile -t "$tag" \
  --label "org.opencontainers.image.version=$VERSION" "$work/rootfs"
"${pm[@]}" save --format oci-archive -o "$work/voicetoken.oci.tar" "$tag"
# The OCI config has no health check (a Docker field): podman's own view.
"${pm[@]}" image inspect "$tag" >"$work/inspect.json"
echo "image $tag: $(du -h "$work/voicetoken.oci.tar" | cut -f1) (OCI archive $work/voicetoken.oci.tar)"
VOICETOKEN_IMAGE_ARCHIVE="$PWD/$work/voicetoken.oci.tar" VOICETOKEN_IMAGE_INSPECT="$PWD/$work/inspect.json" \
  VOICETOKEN_IMAGE_VERSION="$VERSION" \
  go test -count=1 -v -run 'TestImage' ./deploy/
