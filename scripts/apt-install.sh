#!/usr/bin/env bash
# Installs Debian packages for the project's scripts (chromium for e2e, wrk
# for the benchmark), with sudo when not root. Callers check first whether
# what they need is there; this only installs.
#
#   bash scripts/apt-install.sh wrk
set -euo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
