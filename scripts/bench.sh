#!/usr/bin/env bash
# Postern's benchmark command. Each figure is printed beside a baseline
# measured in the same run, because shared machines are noisy.
set -euo pipefail
benchtime=${1:-1s}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# A failing benchmark does not stop the others; the exit status says so.
status=0
go test -run '^$' -bench 'Healthz|GetCallerIdentity|Authorize100' -benchtime "$benchtime" ./internal/server/ | tee -a "$out" || status=1
# Two replicas on one PostgreSQL beside one (skipped without PostgreSQL).
go test -run '^$' -bench 'ReplicasAPI' -benchtime "$benchtime" ./internal/server/ | tee -a "$out" || status=1
go test -run '^$' -bench 'ReplicasTunnelOpen' -benchtime 300x ./internal/server/ | tee -a "$out" || status=1
go test -run '^$' -bench DescribeInstanceConnectEndpoints1000 -benchtime "$benchtime" ./internal/server/ec2api/ | tee -a "$out" || status=1
go test -run '^$' -bench . -benchmem -benchtime "$benchtime" ./internal/wire/sigv4/ ./internal/server/policy/ | tee -a "$out" || status=1
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
echo "(client and server share this machine's cores; docs/performance.md §1 targets 3,000 signed Describe calls per second)"

# --- Tunnels (internal/bench/tunnelbench): fixed counts, every figure beside
# a baseline of this run. POSTERN_BENCH_TUNNELS sets N for the concurrency
# benchmark (make bench TUNNELS=10000).
tunnels=${POSTERN_BENCH_TUNNELS:-1000}
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
tb=./internal/bench/tunnelbench/
tbench() { go test -run '^$' -timeout 20m "$@" "$tb" | tee -a "$out" || status=1; }
tbench -bench 'TunnelThroughput' -benchtime 4096x -count 3
tbench -bench 'TunnelOpen$' -benchtime 500x
tbench -bench 'TunnelOpenCLI' -benchtime 100x
tbench -bench 'SSHSessionOpen' -benchtime 20x
POSTERN_BENCH_TUNNELS=$tunnels tbench -bench 'ConcurrentTunnels' -benchtime 1x
load1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

# median NAME UNIT: the median over the rounds of this run, or empty.
median() {
  awk -v name="$1" -v unit="$2" '$1 ~ "^"name"(-[0-9]+)?$" { for (i=2;i<=NF;i++) if ($i==unit) print $(i-1) }' "$out" |
    sort -g | awk '{v[NR]=$1} END { if (NR) print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2) }'
}
# x A B: A/B as "0.42x", or "n/a".
x() { awk -v a="$1" -v b="$2" 'BEGIN { if (a=="" || b=="" || b+0==0) print "n/a"; else printf "%.2fx", a/b }'; }
# num V FORMAT: V formatted, or "not measured".
num() { if [ -n "$1" ]; then printf "$2" "$1"; else printf 'not measured'; fi; }
# ok COND: "met" or "MISSED" (or "n/a" when a value is missing).
ok() { awk "BEGIN { print (($1) ? \"met\" : \"MISSED\") }" 2>/dev/null || echo "n/a"; }
nossh="not measured (run make test-deps)"

echo
echo "== Tunnels (loopback, this machine; throughput = median of 3 rounds of 256 MiB; load average $load0 -> $load1) =="
for dir in up down; do
  label="client→target"; [ "$dir" = down ] && label="target→client"
  d=$(median "BenchmarkTunnelThroughput/$dir/direct" MB/s)
  s=$(median "BenchmarkTunnelThroughput/$dir/ssh" MB/s)
  p1=$(median "BenchmarkTunnelThroughput/$dir/postern1" MB/s)
  p2=$(median "BenchmarkTunnelThroughput/$dir/postern2" MB/s)
  sshpart="ssh -L bastion $nossh"
  [ -n "$s" ] && sshpart=$(printf 'ssh -L bastion %.0f MB/s (%s direct)' "$s" "$(x "$s" "$d")")
  printf 'tunnel throughput, one tunnel, %s: direct TCP %s MB/s; %s; postern one hop %s MB/s (%s direct, %s ssh -L); postern two hops %s MB/s (%s direct, %s ssh -L)\n' \
    "$label" "$(num "$d" %.0f)" "$sshpart" "$(num "$p1" %.0f)" "$(x "$p1" "$d")" "$(x "$p1" "$s")" "$(num "$p2" %.0f)" "$(x "$p2" "$d")" "$(x "$p2" "$s")"
  t2=n/a; [ -n "$p2" ] && t2=$(ok "$p2 >= 1000")
  t2s=n/a; [ -n "$p2" ] && [ -n "$s" ] && t2s=$(ok "$p2 >= 1.5 * $s")
  t1=n/a; [ -n "$p1" ] && [ -n "$d" ] && t1=$(ok "$p1 >= 0.4 * $d")
  printf '  docs/performance.md §1: two hops ≥1,000 MB/s: %s; two hops ≥1.5x ssh -L: %s; one hop ≥0.4x direct: %s\n' "$t2" "$t2s" "$t1"
done

pp() { # p50/p99 of a benchmark, "a / b ms"
  local a b; a=$(median "$1" p50-ms); b=$(median "$1" p99-ms)
  if [ -n "$a" ]; then printf '%.2f / %.2f ms' "$a" "$b"; else printf 'not measured'; fi
}
printf 'tunnel open p50 / p99, in-process Dial + 1-byte echo, 500 sequential: direct TCP %s; postern one hop %s; postern two hops %s\n' \
  "$(pp BenchmarkTunnelOpen/direct)" "$(pp BenchmarkTunnelOpen/postern1)" "$(pp BenchmarkTunnelOpen/postern2)"
printf 'tunnel open p50 / p99, exec `postern ec2-instance-connect open-tunnel` to first echoed byte, 100 runs: one hop %s; one hop with --instance-id lookup %s; two hops %s (process start alone, `postern version`: %s)\n' \
  "$(pp BenchmarkTunnelOpenCLI/postern1)" "$(pp BenchmarkTunnelOpenCLI/postern1-lookup)" "$(pp BenchmarkTunnelOpenCLI/postern2)" "$(pp BenchmarkTunnelOpenCLI/exec)"
sp=$(median BenchmarkSSHSessionOpen p50-ms)
c2=$(median BenchmarkTunnelOpenCLI/postern2 p50-ms); c2p=$(median BenchmarkTunnelOpenCLI/postern2 p99-ms)
cl=$(median BenchmarkTunnelOpenCLI/postern1-lookup p50-ms); clp=$(median BenchmarkTunnelOpenCLI/postern1-lookup p99-ms)
if [ -n "$sp" ]; then
  printf 'new ssh session through the bastion (`ssh … true`, 20 runs): p50 / p99 %s (%s postern two hops open-tunnel p50)\n' "$(pp BenchmarkSSHSessionOpen)" "$(x "$sp" "$c2")"
else
  echo "new ssh session through the bastion: $nossh"
fi
o50=n/a; o99=n/a; [ -n "$c2" ] && o50=$(ok "$c2 < 10") && o99=$(ok "$c2p < 50")
l50=n/a; l99=n/a; [ -n "$cl" ] && l50=$(ok "$cl < 10") && l99=$(ok "$clp < 50")
s30=n/a; [ -n "$sp" ] && [ -n "$c2" ] && s30=$(ok "$sp >= 30 * $c2")
printf '  docs/performance.md §1 (exec to first echoed byte): two hops p50 < 10 ms: %s, p99 < 50 ms: %s; with --instance-id lookup p50: %s, p99: %s; 30x faster than a new ssh session: %s\n' "$o50" "$o99" "$l50" "$l99" "$s30"

cn=$(median BenchmarkConcurrentTunnels tunnels)
cf=$(median BenchmarkConcurrentTunnels failures)
cr=$(median BenchmarkConcurrentTunnels tunnels/s)
cs=$(median BenchmarkConcurrentTunnels server-KiB/tunnel)
ca=$(median BenchmarkConcurrentTunnels agent-KiB/tunnel)
chs=$(median BenchmarkConcurrentTunnels server-heap-KiB/tunnel)
cha=$(median BenchmarkConcurrentTunnels agent-heap-KiB/tunnel)
printf 'concurrent idle tunnels through one endpoint (server and agent processes): %s opened (%s tunnels/s), failures %s; server %s KiB/tunnel PSS (Go heap %s); agent %s KiB/tunnel PSS (Go heap %s)\n' \
  "$(num "$cn" %.0f)" "$(num "$cr" %.0f)" "$(num "$cf" %.0f)" "$(num "$cs" %.1f)" "$(num "$chs" %.1f)" "$(num "$ca" %.1f)" "$(num "$cha" %.1f)"
n10=n/a; [ -n "$cn" ] && n10=$(ok "$cn >= 10000 && $cf == 0")
[ -n "$cn" ] && [ "${cn%.*}" -lt 10000 ] && n10="not measured"
f0=n/a; [ -n "$cf" ] && f0=$(ok "$cf == 0")
m40=n/a; [ -n "$cs" ] && m40=$(ok "$cs <= 40")
printf '  docs/performance.md §1: 10,000 open with none failing: %s (no failures at N=%s: %s); ≤40 KiB server memory per idle tunnel: %s\n' "$n10" "$(num "$cn" %.0f)" "$f0" "$m40"
[ -n "$cn" ] && [ "${cn%.*}" -lt 10000 ] && echo "  (for the 10,000-tunnel figure: make bench TUNNELS=10000)"
echo "(peers on this kind of machine, docs/performance.md §1: direct 3,841 MB/s; ssh -L 657 MB/s, new session 186 ms, 67.5 KiB/conn; chisel 309 MB/s, 6.8 ms, 61 KiB)"

echo
echo "== Replicas on PostgreSQL (this run) =="
ra1=$(metric BenchmarkReplicasAPI/one req/s); ra2=$(metric BenchmarkReplicasAPI/two req/s)
ro1=$(metric BenchmarkReplicasTunnelOpen/one opens/s); ro2=$(metric BenchmarkReplicasTunnelOpen/two opens/s)
nopg="not measured (PostgreSQL missing: run make test-deps; or the benchmark failed, see above)"
if [ -n "$ra1$ra2" ]; then
  printf 'signed GetCallerIdentity: one replica %s req/s; two replicas %s req/s (two/one %s)\n' "$(num "$ra1" %.0f)" "$(num "$ra2" %.0f)" "$(x "$ra2" "$ra1")"
else
  echo "signed GetCallerIdentity on replicas: $nopg"
fi
if [ -n "$ro1$ro2" ]; then
  printf 'tunnel opens (open, 4-byte echo, close; one agent linked to both): one replica %s opens/s; two replicas %s opens/s (two/one %s)\n' "$(num "$ro1" %.0f)" "$(num "$ro2" %.0f)" "$(x "$ro2" "$ro1")"
else
  echo "tunnel opens on replicas: $nopg"
fi
echo "(both replicas, PostgreSQL and the client share this machine's $(nproc 2>/dev/null || echo '?') cores: the ratio shows what the cross-replica machinery costs, not scale-out on more machines)"
exit $status
