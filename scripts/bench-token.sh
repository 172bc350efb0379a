#!/usr/bin/env bash
# Benchmarks internal/token's Mint and Verify against LiveKit's own
# livekit/protocol/auth in one `go test -bench` run, -count 5 (override with
# COUNT), and prints the medians and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-5}
out=$(mktemp)
go test ./internal/token -run '^$' -bench '^Benchmark(Mint|Verify)(LiveKit)?$' -benchmem -count "$COUNT" | tee "$out"
awk '
/^Benchmark/ {
  name=$1; sub(/-[0-9]+$/, "", name)
  n[name]++; ns[name, n[name]]=$3; allocs[name]=$(NF-1)
}
function median(name,   i, j, t, a, k) {
  k=n[name]; for (i=1;i<=k;i++) a[i]=ns[name,i]
  for (i=1;i<=k;i++) for (j=i+1;j<=k;j++) if (a[j]<a[i]) {t=a[i];a[i]=a[j];a[j]=t}
  return (k%2) ? a[(k+1)/2] : (a[k/2]+a[k/2+1])/2
}
END {
  printf "\n%-24s %12s %8s\n", "benchmark (median)", "ns/op", "allocs"
  for (name in n) printf "%-24s %12.0f %8s\n", name, median(name), allocs[name]
  m=median("BenchmarkMint"); ml=median("BenchmarkMintLiveKit")
  v=median("BenchmarkVerify"); vl=median("BenchmarkVerifyLiveKit")
  printf "\nmint:   %.1fx faster than livekit/protocol/auth (%.0f vs %.0f ns/op, %s vs %s allocs)\n", ml/m, m, ml, allocs["BenchmarkMint"], allocs["BenchmarkMintLiveKit"]
  printf "verify: %.1fx faster than livekit/protocol/auth (%.0f vs %.0f ns/op, %s vs %s allocs)\n", vl/v, v, vl, allocs["BenchmarkVerify"], allocs["BenchmarkVerifyLiveKit"]
}' "$out"
rm -f "$out"
