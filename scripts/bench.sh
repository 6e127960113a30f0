#!/usr/bin/env bash
# Postern's benchmark command. Each figure is printed beside a baseline
# measured in the same run, because shared machines are noisy.
set -euo pipefail
benchtime=${1:-1s}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench 'Healthz|GetCallerIdentity|Authorize100' -benchtime "$benchtime" ./internal/server/ | tee -a "$out"
go test -run '^$' -bench DescribeInstanceConnectEndpoints1000 -benchtime "$benchtime" ./internal/ec2api/ | tee -a "$out"
go test -run '^$' -bench . -benchmem -benchtime "$benchtime" ./internal/sigv4/ ./internal/policy/ | tee -a "$out"
metric() { awk -v name="$1" -v unit="$2" '$1 ~ "^"name"(-[0-9]+)?$" { for (i=2;i<=NF;i++) if ($i==unit) print $(i-1) }' "$out" | tail -1; }
base=$(metric BenchmarkHealthz req/s)
gci=$(metric BenchmarkGetCallerIdentity req/s)
dec=$(metric BenchmarkAuthorize100 decisions/s)
echo
echo "== Postern benchmark summary (this run) =="
printf 'HTTPS baseline (GET /healthz, same client)   %10.0f req/s\n' "${base:-0}"
printf 'signed GetCallerIdentity (AWS SDK for Go v2)  %10.0f req/s  (%.2fx baseline)\n' "${gci:-0}" "$(echo "${gci:-0} ${base:-1}" | awk '{print $1/$2}')"
printf 'policy decisions, 100 attached policies       %10.0f decisions/s (store reads included)\n' "${dec:-0}"
ns=$(metric BenchmarkEvaluate100 ns/op)
printf 'policy decisions, 100 policies, engine only    %10.0f decisions/s\n' "$(echo "${ns:-1}" | awk '{print 1e9/$1}')"
for case in byID page50 all; do
  v=$(metric "BenchmarkDescribeInstanceConnectEndpoints1000/$case" req/s)
  printf 'DescribeInstanceConnectEndpoints, 1,000 stored, %-6s %8.0f req/s  (%.2fx baseline)\n' "$case" "${v:-0}" "$(echo "${v:-0} ${base:-1}" | awk '{print $1/$2}')"
done
echo "(client and server share this machine's cores; DESIGN §6 targets 3,000 signed Describe calls per second)"
