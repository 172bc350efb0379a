#!/usr/bin/env bash
# Checks the Prometheus alert rules in deploy/prometheus with Prometheus's
# own promtool (Debian's prometheus package, installed when missing):
# `promtool check rules` on every rule file and `promtool test rules` on
# every *_test.yml, whose synthetic series show each alert firing.
# loki-*.yml hold LogQL for Loki's ruler, which promtool cannot parse.
# Fails when promtool cannot be had: CI must not skip the alert tests.
#
#   bash scripts/promtool.sh
set -euo pipefail
cd "$(dirname "$0")/../deploy/prometheus"
if ! command -v promtool >/dev/null; then
  bash ../../scripts/apt-install.sh prometheus || true
fi
if ! command -v promtool >/dev/null; then
  echo "promtool not found (Debian package prometheus): the alert rules are untested" >&2
  exit 1
fi
rules=() tests=()
for f in *.yml; do
  case $f in
    loki-*) ;;
    *_test.yml) tests+=("$f") ;;
    *) rules+=("$f") ;;
  esac
done
promtool check rules "${rules[@]}"
promtool test rules "${tests[@]}"
