#!/usr/bin/env bash
# The project's test command: every Go test under the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 ./...
