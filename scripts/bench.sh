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
# The API on the binary as a user runs it: `postern server` a process of
# its own, 8 AWS SDK for Go v2 callers in the benchmark process, beside
# GET /healthz on the same listener and client (internal/bench/apibench).
go test -run '^$' -bench 'APIBinary' -benchtime 5000x -count 3 ./internal/bench/apibench/ | tee -a "$out" || status=1
metric() { awk -v name="$1" -v unit="$2" '$1 ~ "^"name"(-[0-9]+)?$" { for (i=2;i<=NF;i++) if ($i==unit) print $(i-1) }' "$out" | tail -1; }
# ok COND: "met" or "MISSED" (or "n/a" when a value is missing).
ok() { awk "BEGIN { print (($1) ? \"met\" : \"MISSED\") }" 2>/dev/null || echo "n/a"; }
base=$(metric BenchmarkHealthz req/s)
gci=$(metric BenchmarkGetCallerIdentity req/s)
dec=$(metric BenchmarkAuthorize100 decisions/s)
echo
echo "== Postern benchmark summary (this run) =="
printf 'HTTPS baseline (GET /healthz, same client)   %10.0f req/s\n' "${base:-0}"
printf 'signed GetCallerIdentity (AWS SDK for Go v2, 8 callers; in process, a guide: the target is judged on the binary below) %10.0f req/s  (%.2fx baseline)\n' "${gci:-0}" "$(echo "${gci:-0} ${base:-1}" | awk '{print $1/$2}')"
printf 'policy decisions, 100 attached policies       %10.0f decisions/s (store reads included)\n' "${dec:-0}"
ns=$(metric BenchmarkEvaluate100 ns/op)
printf 'policy decisions, 100 policies, engine only    %10.0f decisions/s\n' "$(echo "${ns:-1}" | awk '{print 1e9/$1}')"
for case in byID page50 all; do
  v=$(metric "BenchmarkDescribeInstanceConnectEndpoints1000/$case" req/s)
  printf 'DescribeInstanceConnectEndpoints, 1,000 stored, %-6s %8.0f req/s  (%.2fx baseline)\n' "$case" "${v:-0}" "$(echo "${v:-0} ${base:-1}" | awk '{print $1/$2}')"
done
echo "(client and server share this machine's cores; docs/performance.md §1 targets 5,000 signed calls per second with 8 callers)"
# medianOf NAME UNIT: the median over the rounds of this run, or empty.
medianOf() {
  awk -v name="$1" -v unit="$2" '$1 ~ "^"name"(-[0-9]+)?$" { for (i=2;i<=NF;i++) if ($i==unit) print $(i-1) }' "$out" |
    sort -g | awk '{v[NR]=$1} END { if (NR) print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2) }'
}
bh=$(medianOf BenchmarkAPIBinary/healthz req/s)
bg=$(medianOf BenchmarkAPIBinary/GetCallerIdentity req/s); bgc=$(medianOf BenchmarkAPIBinary/GetCallerIdentity server-cpu-us/call)
bd=$(medianOf BenchmarkAPIBinary/DescribeEndpointByID req/s); bdc=$(medianOf BenchmarkAPIBinary/DescribeEndpointByID server-cpu-us/call)
echo "== API on the binary (postern server a separate process; 8 AWS SDK for Go v2 callers; medians of 3 rounds of 5,000 calls) =="
printf 'HTTPS baseline (GET /healthz, same listener and client)  %8.0f req/s\n' "${bh:-0}"
printf 'signed GetCallerIdentity                                 %8.0f req/s  (%.2fx baseline; server CPU %.0f µs/call; target ≥5,000: %s)\n' \
  "${bg:-0}" "$(echo "${bg:-0} ${bh:-1}" | awk '{print $1/$2}')" "${bgc:-0}" "$(ok "${bg:-0} >= 5000")"
printf 'signed DescribeInstanceConnectEndpoints by id            %8.0f req/s  (%.2fx baseline; server CPU %.0f µs/call; target ≥5,000: %s)\n' \
  "${bd:-0}" "$(echo "${bd:-0} ${bh:-1}" | awk '{print $1/$2}')" "${bdc:-0}" "$(ok "${bd:-0} >= 5000")"

# --- Tunnels (internal/bench/tunnelbench): fixed counts, every figure beside
# a baseline of this run. POSTERN_BENCH_TUNNELS sets N for the concurrency
# benchmark (make bench TUNNELS=100000).
tunnels=${POSTERN_BENCH_TUNNELS:-1000}
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
tb=./internal/bench/tunnelbench/
tbench() { go test -run '^$' -timeout 20m "$@" "$tb" | tee -a "$out" || status=1; }
# The binaries as a user runs them (`postern server`, `postern
# endpoint-agent`, `open-tunnel --local-port` or stdin/stdout), each
# beside direct TCP and an ssh -L bastion of the same run.
# TunnelThroughputCLI's floor (RelayFloorCLI): the same transfers through
# a bare crypto/tls relay chain in separate processes (no Postern code),
# one round before Postern's three and two after, so that its median
# spans the same minutes.
tbench -bench 'RelayFloorCLI' -benchtime 4096x -count 1
tbench -bench 'TunnelThroughputCLI' -benchtime 4096x -count 3
tbench -bench 'RelayFloorCLI' -benchtime 4096x -count 2
# TunnelOpenLocalPort's floor (OpenFloorCLI/open): the same opens through a
# chain of Postern's shape doing only what a tunnel physically needs (no
# Postern code), one round before Postern's three and two after.
tbench -bench 'OpenFloorCLI/open' -benchtime 300x -count 1
tbench -bench 'TunnelOpenLocalPort' -benchtime 300x -count 3
tbench -bench 'OpenFloorCLI/open' -benchtime 300x -count 2
tbench -bench 'TunnelOpenCLI' -benchtime 100x
# The ProxyCommand path and the cold start, full build against the client
# build workstations run (make client), exec by exec alternated.
tbench -bench 'ProxyCommandBuilds' -benchtime 100x
tbench -bench 'SSHSessionOpen' -benchtime 20x
tbench -bench 'ConcurrentLocalPort' -benchtime 1x
# Its floor (OpenFloorCLI/burst): 1,000 connections at once through the
# same floor chains.
tbench -bench 'OpenFloorCLI/burst' -benchtime 1x
POSTERN_BENCH_TUNNELS=$tunnels tbench -bench 'ConcurrentTunnels' -benchtime 1x
# In process (client, server and agent in the test process): a guide only.
tbench -bench 'TunnelOpen$' -benchtime 500x
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
nossh="not measured (run make test-deps)"

pp() { # p50/p99 of a benchmark, "a / b ms"
  local a b; a=$(median "$1" p50-ms); b=$(median "$1" p99-ms)
  if [ -n "$a" ]; then printf '%.2f / %.2f ms' "$a" "$b"; else printf 'not measured'; fi
}
echo
echo "== Tunnels, the binaries as a user runs them (loopback, this machine; medians of 3 rounds; load average $load0 -> $load1) =="
for dir in up down; do
  label="client→target"; [ "$dir" = down ] && label="target→client"
  d=$(median "BenchmarkTunnelThroughputCLI/$dir/direct" MB/s)
  s=$(median "BenchmarkTunnelThroughputCLI/$dir/ssh" MB/s)
  p1=$(median "BenchmarkTunnelThroughputCLI/$dir/postern1" MB/s)
  p2=$(median "BenchmarkTunnelThroughputCLI/$dir/postern2" MB/s)
  c1=$(median "BenchmarkTunnelThroughputCLI/$dir/postern1" cpu-s/GB)
  c2=$(median "BenchmarkTunnelThroughputCLI/$dir/postern2" cpu-s/GB)
  sshpart="ssh -L bastion $nossh"
  [ -n "$s" ] && sshpart=$(printf 'ssh -L bastion %.0f MB/s (%s direct)' "$s" "$(x "$s" "$d")")
  printf 'throughput, one connection through open-tunnel --local-port, %s (256 MiB): direct TCP %s MB/s; %s; postern one hop %s MB/s (%s ssh -L, %s CPU s/GB); postern two hops %s MB/s (%s ssh -L, %s CPU s/GB)\n' \
    "$label" "$(num "$d" %.0f)" "$sshpart" "$(num "$p1" %.0f)" "$(x "$p1" "$s")" "$(num "$c1" %.2f)" "$(num "$p2" %.0f)" "$(x "$p2" "$s")" "$(num "$c2" %.2f)"
  t2s=n/a; [ -n "$p2" ] && [ -n "$s" ] && t2s=$(ok "$p2 >= 1.5 * $s")
  t1=n/a; [ -n "$p1" ] && t1=$(ok "$p1 >= 1200")
  tc=n/a; [ -n "$c2" ] && tc=$(ok "$c2 <= 2")
  printf '  targets (docs/performance.md §1): two hops ≥1.5x ssh -L: %s; two hops ≤2 CPU s/GB: %s; one hop ≥1,200 MB/s: %s\n' "$t2s" "$tc" "$t1"
  f1=$(median "BenchmarkRelayFloorCLI/one-hop/$dir" MB/s); fc1=$(median "BenchmarkRelayFloorCLI/one-hop/$dir" cpu-s/GB)
  f2=$(median "BenchmarkRelayFloorCLI/two-hops/$dir" MB/s); fc2=$(median "BenchmarkRelayFloorCLI/two-hops/$dir" cpu-s/GB)
  g1=$(median "BenchmarkRelayFloorCLI/one-hop-batched/$dir" MB/s); gc1=$(median "BenchmarkRelayFloorCLI/one-hop-batched/$dir" cpu-s/GB)
  g2=$(median "BenchmarkRelayFloorCLI/two-hops-batched/$dir" MB/s); gc2=$(median "BenchmarkRelayFloorCLI/two-hops-batched/$dir" cpu-s/GB)
  fe=$(median "BenchmarkRelayFloorCLI/two-hops/$dir" ends-cpu-s/GB)
  printf '  floor: a bare crypto/tls relay chain, separate processes, no Postern code (TLS 1.3 AES-128-GCM, 256 KiB copies): one hop %s MB/s, %s CPU s/GB (postern ÷ floor: %s MB/s, %s CPU); two hops %s MB/s, %s CPU s/GB (postern ÷ floor: %s MB/s, %s CPU); with batched system calls: one hop %s MB/s, %s s/GB; two hops %s MB/s, %s s/GB; the two ends (sender; sink or source), besides: %s\n' \
    "$(num "$f1" %.0f)" "$(num "$fc1" %.2f)" "$(x "$p1" "$f1")" "$(x "$c1" "$fc1")" "$(num "$f2" %.0f)" "$(num "$fc2" %.2f)" "$(x "$p2" "$f2")" "$(x "$c2" "$fc2")" \
    "$(num "$g1" %.0f)" "$(num "$gc1" %.2f)" "$(num "$g2" %.0f)" "$(num "$gc2" %.2f)" "$(num "$fe" "%.2f CPU s/GB")"
  t1=$(median "BenchmarkRelayFloorCLI/one-hop-tuned/$dir" cpu-s/GB); t2=$(median "BenchmarkRelayFloorCLI/two-hops-tuned/$dir" cpu-s/GB)
  printf '  floor with Postern'"'"'s own socket tools (tlsbatch, sockio; still no Postern protocol code): one hop %s CPU s/GB (postern ÷ it: %s); two hops %s CPU s/GB (postern ÷ it: %s)\n' \
    "$(num "$t1" %.2f)" "$(x "$c1" "$t1")" "$(num "$t2" %.2f)" "$(x "$c2" "$t2")"
done
printf 'open through a running open-tunnel --local-port (new local connection → first echoed byte, p50 / p99, 3 × 300): direct TCP %s; ssh -L %s; postern one hop %s; postern two hops %s\n' \
  "$(pp BenchmarkTunnelOpenLocalPort/direct)" "$(pp BenchmarkTunnelOpenLocalPort/ssh)" "$(pp BenchmarkTunnelOpenLocalPort/postern1)" "$(pp BenchmarkTunnelOpenLocalPort/postern2)"
for h in postern1 postern2; do
  printf '  %s CPU per open: client %s µs, server %s µs, agent %s µs\n' "$h" "$(num "$(median "BenchmarkTunnelOpenLocalPort/$h" client-cpu-us/open)" %.0f)" \
    "$(num "$(median "BenchmarkTunnelOpenLocalPort/$h" server-cpu-us/open)" %.0f)" "$(num "$(median "BenchmarkTunnelOpenLocalPort/$h" agent-cpu-us/open)" %.0f)"
done
lo=""
for h in postern1 postern2; do
  a=$(median "BenchmarkTunnelOpenLocalPort/$h" p50-ms); c=$(median "BenchmarkTunnelOpenLocalPort/$h" p99-ms)
  r50=n/a; r99=n/a; [ -n "$a" ] && r50=$(ok "$a <= 1.5") && r99=$(ok "$c <= 5")
  lo="$lo $h p50 ≤1.5 ms: $r50, p99 ≤5 ms: $r99;"
done
echo "  targets:$lo"
# cpusum BENCH UNIT-SUFFIX: the sum of the client's, server's and agent's
# medians (the agent's when measured), or empty.
cpusum() {
  local c s a; c=$(median "$1" "client-$2"); s=$(median "$1" "server-$2"); a=$(median "$1" "agent-$2")
  [ -n "$c" ] && [ -n "$s" ] && awk -v c="$c" -v s="$s" -v a="${a:-0}" 'BEGIN { print c+s+a }'
}
# fcpu BENCH UNIT-SUFFIX FORMAT: "client c, server s[, agent a]" of a floor.
fcpu() {
  local a; a=$(median "$1" "agent-$2")
  printf 'client %s, server %s' "$(num "$(median "$1" "client-$2")" "$3")" "$(num "$(median "$1" "server-$2")" "$3")"
  [ -n "$a" ] && printf ', agent %s' "$(num "$a" "$3")"
  return 0
}
of=BenchmarkOpenFloorCLI/open
printf '  floor (OpenFloorCLI: the same opens through a chain of Postern'"'"'s shape that does only what a tunnel physically needs: TCP, a resumed TLS 1.3 handshake, an upgrade request of Postern'"'"'s bytes and its 101, the target dialed or a stream opened on one TLS link; no Postern code; medians of 3 rounds), p50 / p99: one hop %s, two hops %s (postern ÷ floor, p50: %s one hop, %s two hops); each attempt fsync'"'"'d to disk first: one hop %s, two hops %s\n' \
  "$(pp $of/one-hop)" "$(pp $of/two-hops)" "$(x "$(median BenchmarkTunnelOpenLocalPort/postern1 p50-ms)" "$(median $of/one-hop p50-ms)")" \
  "$(x "$(median BenchmarkTunnelOpenLocalPort/postern2 p50-ms)" "$(median $of/two-hops p50-ms)")" "$(pp $of/one-hop-record)" "$(pp $of/two-hops-record)"
printf '  floor CPU per open (µs): one hop %s; two hops %s; with the record: one hop %s; two hops %s (postern ÷ floor with the record, all processes: one hop %s, two hops %s)\n' \
  "$(fcpu $of/one-hop cpu-us/open %.0f)" "$(fcpu $of/two-hops cpu-us/open %.0f)" "$(fcpu $of/one-hop-record cpu-us/open %.0f)" "$(fcpu $of/two-hops-record cpu-us/open %.0f)" \
  "$(x "$(cpusum BenchmarkTunnelOpenLocalPort/postern1 cpu-us/open)" "$(cpusum $of/one-hop-record cpu-us/open)")" \
  "$(x "$(cpusum BenchmarkTunnelOpenLocalPort/postern2 cpu-us/open)" "$(cpusum $of/two-hops-record cpu-us/open)")"
cs=$(median BenchmarkTunnelOpenCLI/postern1-lookup-local p50-ms); px=$(median BenchmarkTunnelOpenCLI/postern1-lookup p50-ms)
printf 'full build: cold start (exec open-tunnel --instance-id --local-port → first echoed byte, p50 / p99, 100 runs): %s; ProxyCommand path (exec open-tunnel --instance-id, stdin/stdout → first echoed byte): %s\n' \
  "$(pp BenchmarkTunnelOpenCLI/postern1-lookup-local)" "$(pp BenchmarkTunnelOpenCLI/postern1-lookup)"
# bp BENCH PREFIX: "p50 / p99 ms (CPU c ms)" of one build in ProxyCommandBuilds.
bp() {
  local a b c; a=$(median "BenchmarkProxyCommandBuilds/$1" "$2p50-ms"); b=$(median "BenchmarkProxyCommandBuilds/$1" "$2p99-ms")
  c=$(median "BenchmarkProxyCommandBuilds/$1" "$2cpu-p50-ms")
  if [ -n "$a" ]; then printf '%.2f / %.2f ms (CPU %.2f ms)' "$a" "$b" "$c"; else printf 'not measured'; fi
}
printf 'the two builds alternated, p50 / p99 (100 runs each): ProxyCommand path: client build (make client; workstations) %s, full build %s; cold start: client %s, full %s; `postern version`: client %s, full %s\n' \
  "$(bp proxycommand client-)" "$(bp proxycommand full-)" "$(bp coldstart client-)" "$(bp coldstart full-)" "$(bp version client-)" "$(bp version full-)"
# The targets are judged on the client build, what users run on their
# workstations; without its figures, on the full build's.
pxc=$(median BenchmarkProxyCommandBuilds/proxycommand client-p50-ms); csc=$(median BenchmarkProxyCommandBuilds/coldstart client-p50-ms)
judged="full build"
if [ -n "$pxc" ]; then px=$pxc; judged="client build"; fi
[ -n "$csc" ] && cs=$csc
k1=n/a; k2=n/a; [ -n "$cs" ] && k1=$(ok "$cs <= 25"); [ -n "$px" ] && k2=$(ok "$px < 10")
printf '  targets (%s): cold start p50 ≤25 ms: %s; ProxyCommand p50 <10 ms: %s\n' "$judged" "$k1" "$k2"
cd0=$(median BenchmarkConcurrentLocalPort/direct open-s); css=$(median BenchmarkConcurrentLocalPort/ssh open-s)
cp1=$(median BenchmarkConcurrentLocalPort/postern1 open-s); cp2=$(median BenchmarkConcurrentLocalPort/postern2 open-s)
cf1=$(median BenchmarkConcurrentLocalPort/postern1 failures); cf2=$(median BenchmarkConcurrentLocalPort/postern2 failures)
printf '1,000 connections at once through one client, time until all echoed: direct TCP %s s; ssh -L %s s; postern one hop %s s (%s failures); postern two hops %s s (%s failures)\n' \
  "$(num "$cd0" %.2f)" "$(num "$css" %.2f)" "$(num "$cp1" %.2f)" "$(num "$cf1" %.0f)" "$(num "$cp2" %.2f)" "$(num "$cf2" %.0f)"
fb=BenchmarkOpenFloorCLI/burst
printf '  floor (OpenFloorCLI, the same chains, one burst): one hop %s s, two hops %s s; each attempt fsync'"'"'d first: one hop %s s, two hops %s s (postern ÷ floor with the record: one hop %s, two hops %s); CPU per connection (ms), with the record: one hop %s; two hops %s (postern ÷ floor, all processes: one hop %s, two hops %s)\n' \
  "$(num "$(median $fb/one-hop open-s)" %.2f)" "$(num "$(median $fb/two-hops open-s)" %.2f)" "$(num "$(median $fb/one-hop-record open-s)" %.2f)" "$(num "$(median $fb/two-hops-record open-s)" %.2f)" \
  "$(x "$cp1" "$(median $fb/one-hop-record open-s)")" "$(x "$cp2" "$(median $fb/two-hops-record open-s)")" \
  "$(fcpu $fb/one-hop-record cpu-ms/conn %.2f)" "$(fcpu $fb/two-hops-record cpu-ms/conn %.2f)" \
  "$(x "$(cpusum BenchmarkConcurrentLocalPort/postern1 cpu-ms/conn)" "$(cpusum $fb/one-hop-record cpu-ms/conn)")" \
  "$(x "$(cpusum BenchmarkConcurrentLocalPort/postern2 cpu-ms/conn)" "$(cpusum $fb/two-hops-record cpu-ms/conn)")"
m1=$(median BenchmarkConcurrentLocalPort/postern1 path-KiB/conn); m2=$(median BenchmarkConcurrentLocalPort/postern2 path-KiB/conn)
i1=$(median BenchmarkConcurrentLocalPort/postern1 idle-path-KiB); i2=$(median BenchmarkConcurrentLocalPort/postern2 idle-path-KiB)
# The idle client of each step: one hop's is started as the AWS tutorial
# does (--instance-id: DescribeInstances and DescribeInstanceConnectEndpoints
# through the SDK's ec2 client first), two hops' with --private-ip-address
# and the endpoint given (no look-up). Its PSS, the anonymous part (the
# client's own memory) and its RSS: the clients run the client build (what
# workstations install), whose pages they share here with the other
# clients of the same file (the PSS of the binary's pages moves with that
# count); alone on a workstation its PSS is its RSS.
# The target is judged on the larger PSS, and on the larger RSS beside it.
mib() { num "$(awk -v v="$1" 'BEGIN{if(v!="")print v/1024}')" %.1f; }
ic1=$(median BenchmarkConcurrentLocalPort/postern1 idle-client-KiB); ic2=$(median BenchmarkConcurrentLocalPort/postern2 idle-client-KiB)
ia1=$(median BenchmarkConcurrentLocalPort/postern1 idle-client-anon-KiB); ia2=$(median BenchmarkConcurrentLocalPort/postern2 idle-client-anon-KiB)
ir1=$(median BenchmarkConcurrentLocalPort/postern1 idle-client-alone-KiB); ir2=$(median BenchmarkConcurrentLocalPort/postern2 idle-client-alone-KiB)
ic=$(awk -v a="$ic1" -v b="$ic2" 'BEGIN{ if (a=="" && b=="") exit; print (a=="" ? b : (b=="" || a+0 > b+0 ? a : b)) }')
printf 'memory (PSS): whole path per connection at 1,000: one hop %s KiB, two hops %s KiB; idle server%s: one hop %s MiB, two hops %s MiB\n' \
  "$(num "$m1" %.1f)" "$(num "$m2" %.1f)" " (+ agent)" "$(mib "$i1")" "$(mib "$i2")"
printf '  idle client: --instance-id %s MiB, --private-ip-address %s MiB (anonymous, its own: %s and %s MiB; RSS, its PSS alone on a workstation: %s and %s MiB)\n' \
  "$(mib "$ic1")" "$(mib "$ic2")" "$(mib "$ia1")" "$(mib "$ia2")" "$(mib "$ir1")" "$(mib "$ir2")"
ir=$(awk -v a="$ir1" -v b="$ir2" 'BEGIN{ if (a=="" && b=="") exit; print (a=="" ? b : (b=="" || a+0 > b+0 ? a : b)) }')
q1=n/a; q2=n/a; q3=n/a; q4=n/a; [ -n "$cp2" ] && q1=$(ok "$cp1 <= 0.5 && $cp2 <= 0.5 && $cf1 + $cf2 == 0")
[ -n "$m2" ] && q2=$(ok "$m1 <= 50 && $m2 <= 50"); [ -n "$ic" ] && q3=$(ok "$ic <= 15 * 1024"); [ -n "$ir" ] && q4=$(ok "$ir <= 15 * 1024")
printf '  targets: 1,000 connections ≤0.5 s, none failing: %s; ≤50 KiB per connection, whole path: %s; idle client ≤15 MiB, the larger PSS here: %s (alone, RSS: %s)\n' "$q1" "$q2" "$q3" "$q4"

printf 'open-tunnel stdin/stdout, exec → first echoed byte, p50 / p99, 100 runs: one hop %s; two hops %s (process start alone, `postern version`: %s)\n' \
  "$(pp BenchmarkTunnelOpenCLI/postern1)" "$(pp BenchmarkTunnelOpenCLI/postern2)" "$(pp BenchmarkTunnelOpenCLI/exec)"
sp=$(median BenchmarkSSHSessionOpen p50-ms)
if [ -n "$sp" ]; then
  printf 'new ssh session through the bastion (`ssh … true`, 20 runs): p50 / p99 %s (%s the ProxyCommand path p50)\n' "$(pp BenchmarkSSHSessionOpen)" "$(x "$sp" "$px")"
else
  echo "new ssh session through the bastion: $nossh"
fi
printf 'in process (a guide: client, server and agent in one process), Dial + 1-byte echo, p50 / p99: direct TCP %s; postern one hop %s; postern two hops %s\n' \
  "$(pp BenchmarkTunnelOpen/direct)" "$(pp BenchmarkTunnelOpen/postern1)" "$(pp BenchmarkTunnelOpen/postern2)"

cn=$(median BenchmarkConcurrentTunnels tunnels)
cf=$(median BenchmarkConcurrentTunnels failures)
cr=$(median BenchmarkConcurrentTunnels tunnels/s)
cs=$(median BenchmarkConcurrentTunnels server-KiB/tunnel)
ca=$(median BenchmarkConcurrentTunnels agent-KiB/tunnel)
chs=$(median BenchmarkConcurrentTunnels server-heap-KiB/tunnel)
cha=$(median BenchmarkConcurrentTunnels agent-heap-KiB/tunnel)
printf 'concurrent idle tunnels through one endpoint (server and agent processes): %s opened (%s tunnels/s), failures %s; server %s KiB/tunnel PSS (Go heap %s); agent %s KiB/tunnel PSS (Go heap %s)\n' \
  "$(num "$cn" %.0f)" "$(num "$cr" %.0f)" "$(num "$cf" %.0f)" "$(num "$cs" %.1f)" "$(num "$chs" %.1f)" "$(num "$ca" %.1f)" "$(num "$cha" %.1f)"
n10=n/a; [ -n "$cn" ] && n10=$(ok "$cn >= 100000 && $cf == 0")
[ -n "$cn" ] && [ "${cn%.*}" -lt 100000 ] && n10="not measured"
f0=n/a; [ -n "$cf" ] && f0=$(ok "$cf == 0")
m30=n/a; [ -n "$cs" ] && m30=$(ok "$cs <= 30 && $ca <= 16")
printf '  targets: 100,000 open with none failing: %s (no failures at N=%s: %s); server ≤30 KiB and agent ≤16 KiB per idle tunnel: %s\n' "$n10" "$(num "$cn" %.0f)" "$f0" "$m30"
[ -n "$cn" ] && [ "${cn%.*}" -lt 100000 ] && echo "  (for the 100,000-tunnel figure: make bench TUNNELS=100000, after raising the file limits as the README says)"
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

# --- The console (internal/bench/consolebench): `postern server` as a user
# runs it, a real sshd, Debian's Chromium headless. Keystroke-to-echo in the
# browser terminal beside `postern ssh` of the same run; page load times.
cb=./internal/bench/consolebench/
go test -run '^$' -timeout 10m -bench 'Console/keystroke' -benchtime 200x "$cb" | tee -a "$out" || status=1
go test -run '^$' -timeout 10m -bench 'Console/pageload' -benchtime 20x "$cb" | tee -a "$out" || status=1
ms() { # "p50 / p99 ms" of metric prefix $2 of benchmark $1
  local a b; a=$(metric "$1" "$2p50-ms"); b=$(metric "$1" "$2p99-ms")
  if [ -n "$a" ]; then printf '%.2f / %.2f ms' "$a" "$b"; else printf 'not measured (needs Chromium and root: make test-deps)'; fi
}
echo
echo "== Console (this run) =="
printf 'keystroke → echo, p50 / p99 (200 keys, remote pty echo of `cat >/dev/null`): browser terminal (keydown → echo drawn, performance.now()) %s (keydown → the page'"'"'s WebSocket send %s, → its output arriving %s); the terminal WebSocket from a Go client (no browser) %s; postern ssh in a pty (write → echoed byte) %s\n' \
  "$(ms BenchmarkConsole/keystroke/browser '')" "$(ms BenchmarkConsole/keystroke/browser sent-)" "$(ms BenchmarkConsole/keystroke/browser ws-)" "$(ms BenchmarkConsole/keystroke/websocket '')" "$(ms BenchmarkConsole/keystroke/postern-ssh '')"
printf 'page load, p50 / p99 (20 rounds, browser cache off): navigation start → sign-in form %s; Sign in clicked → endpoints table %s; endpoints page reload → table %s\n' \
  "$(ms BenchmarkConsole/pageload signin-)" "$(ms BenchmarkConsole/pageload signin-to-table-)" "$(ms BenchmarkConsole/pageload endpoints-)"
exit $status
