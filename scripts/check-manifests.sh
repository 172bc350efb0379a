#!/usr/bin/env bash
# Validates deploy/kubernetes without a cluster or kubectl: kustomize
# (pinned, from the Go module proxy) builds both overlays, and the Go test
# checks the fields that matter (replicas, spread, HPA, PDB, Redis Secret).
set -euo pipefail
cd "$(dirname "$0")/.."
KUSTOMIZE=sigs.k8s.io/kustomize/kustomize/v5@v5.8.1
for dir in deploy/kubernetes deploy/kubernetes/redis; do
	echo "kustomize build $dir" >&2
	go run "$KUSTOMIZE" build "$dir" >/dev/null
done
go test ./deploy/kubernetes/
