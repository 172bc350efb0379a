#!/usr/bin/env bash
# Checks deploy/grafana/voicetoken.json: its structure, and every panel's
# query against Debian's prometheus scraping a running serve, proxy and
# check --watch built from this repository (deploy/dashboard_test.go).
# Each panel's series is drawn in out/dashboard/NN-panel.png (gnuplot, when
# installed). Installs prometheus when missing; the test fails (not skips) without it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v prometheus >/dev/null || bash scripts/apt-install.sh prometheus
VOICETOKEN_REQUIRE_PROMETHEUS=1 VOICETOKEN_DASHBOARD_PNG=1 go test -count=1 -v -run 'TestDashboard' ./deploy/
