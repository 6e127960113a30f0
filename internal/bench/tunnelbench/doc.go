// Package tunnelbench measures Postern's tunnels against baselines taken in
// the same run (docs/performance.md): throughput of one tunnel each way, how long a
// tunnel takes to open, and what an idle open tunnel costs the server and
// the agent when thousands are open at once.
//
// Every Postern figure has a baseline beside it, measured by the same
// benchmark process on the same machine a moment before or after:
//
//   - direct TCP to the target (the limit);
//   - an OpenSSH bastion: `ssh -N -L` through a real sshd (package sshdtest,
//     chacha20-poly1305@openssh.com), and a new `ssh … true` session for
//     open latency. Without sshd (`make test-deps` installs it) those
//     sub-benchmarks are skipped and the summary says "not measured";
//   - Postern one hop: the server's embedded agent dials the target;
//   - Postern two hops: client → server → remote agent (over its TLS link)
//     → target.
//
// The benchmarks (all on loopback, kernel-chosen ports). Those on the
// binaries as a user runs them (`postern server`, whose embedded agent is
// the one-hop path, `postern endpoint-agent` for two hops, and one
// `postern ec2-instance-connect open-tunnel --local-port` per path, the
// client build's, what workstations install: make client):
//
//	BenchmarkTunnelThroughputCLI  up/… and down/… through a local
//	                           connection, with the CPU of the path's
//	                           processes per GB (cpu-s/GB).
//	BenchmarkTunnelOpenLocalPort  a new local connection → first echoed
//	                           byte, sequential; p50-ms, p99-ms and each
//	                           process's CPU per open.
//	BenchmarkConcurrentLocalPort  1,000 (POSTERN_BENCH_CONNS) connections
//	                           at once through one client: open-s,
//	                           failures, idle client and path PSS, whole
//	                           path PSS per connection.
//
// In process (client, server and agents in the benchmark process: a
// guide, better than what the binaries reach):
//
//	BenchmarkTunnelThroughput  up/… (client→target, into a sink) and down/…
//	                           (target→client, from a source); b.SetBytes,
//	                           one 64 KiB write or read per op. `make bench`
//	                           runs -benchtime 4096x (256 MiB) -count 3 and
//	                           takes the median.
//	BenchmarkTunnelOpen        in-process Dial + 1-byte echo, sequential;
//	                           p50-ms and p99-ms metrics (-benchtime 500x).
//
// And on the binaries again:
//
//	BenchmarkTunnelOpenCLI     exec `postern ec2-instance-connect open-tunnel`
//	                           (stdin/stdout mode, or --local-port for
//	                           postern1-lookup-local) against the server and
//	                           agent processes, from exec to the first echoed
//	                           byte; with the target given by flags (no
//	                           lookup) or by --instance-id (DescribeInstances
//	                           and DescribeInstanceConnectEndpoints first)
//	                           (-benchtime 100x).
//	BenchmarkSSHSessionOpen    exec `ssh … true` through the sshd
//	                           (-benchtime 20x).
//	BenchmarkPathFloor         no tunnel: the CPU per GB of AES-128-GCM
//	                           (seal, open; 16 KiB records) and of one
//	                           loopback TCP hop on this machine, the floor
//	                           of the path CPU TunnelThroughputCLI reports
//	                           (two hops: 4 × AES-GCM + 3 hops; one hop:
//	                           2 × AES-GCM + 2 hops). Run it in the same
//	                           session (-benchtime 1s).
//	BenchmarkRelayFloorCLI     TunnelThroughputCLI's transfers (MB/s,
//	                           cpu-s/GB in all and per process) through a
//	                           bare crypto/tls relay chain with none of
//	                           Postern's code: the test binary re-executed
//	                           as client (TCP→TLS), server (TLS→TLS for
//	                           two hops) and agent or server (TLS→TCP)
//	                           processes, Go's TLS 1.3 defaults, 256 KiB
//	                           copies; one-hop and two-hops, plain and
//	                           -batched (one write(2) per copy, reads of
//	                           every record crypto/tls holds), and
//	                           -tuned with Postern's own socket tools
//	                           (tlsbatch, sockio), the floor Postern's
//	                           CPU is held against. The
//	                           measured floor beside Postern's figures;
//	                           ends-cpu-s/GB is the sender's and sink's
//	                           (or source's) CPU, which shares the cores.
//	                           TestRelayFloorChain checks the chains carry
//	                           bytes intact (-benchtime 4096x -count 3).
//	BenchmarkRelayFloorSocat   the same chains with socat and OpenSSL
//	                           (TLS 1.3, AES-128-GCM); skipped without socat.
//	BenchmarkOpenFloorCLI      the floor under TunnelOpenLocalPort and
//	                           ConcurrentLocalPort: the test binary
//	                           re-executed as client, server and agent
//	                           processes that do per connection only what a
//	                           tunnel needs (TCP, a resumed TLS 1.3
//	                           handshake with X25519, Postern's 612-byte
//	                           signed upgrade request and a 101, the target
//	                           dial or a stream on one TLS link to the
//	                           agent; -record: the attempt fsync'd first,
//	                           group commit). open/VARIANT: p50-ms, p99-ms,
//	                           CPU per open (-benchtime 300x); burst/VARIANT:
//	                           1,000 at once, open-s and CPU per connection
//	                           of each process, the dialers' and the
//	                           target's (-benchtime 1x). TestOpenFloorChain
//	                           checks the chains open, echo and record.
//	BenchmarkConcurrentTunnels the server and the agent as separate processes
//	                           of the built binary; N tunnels to an echo
//	                           target held by a helper process, each
//	                           exchanging one byte and then idle. Reports
//	                           failures, tunnels/s, and PSS (and Go heap,
//	                           from gctrace) per tunnel for each process,
//	                           read idle (after each process's idle
//	                           release, package idlemem). Clients and
//	                           targets spread over five loopback addresses
//	                           (127.0.0.1–5: about 28,000 ephemeral ports
//	                           per address pair, so 140,000 per side).
//	                           N = 1,000, or POSTERN_BENCH_TUNNELS
//	                           (`make bench TUNNELS=100000`). One round
//	                           whatever b.N is (-benchtime 1x).
//
// scripts/bench.sh (`make bench`) runs them and prints the summary with
// ratios and the targets of docs/performance.md §1. Run one by hand with e.g.
//
//	go test -run '^$' -bench TunnelThroughput -benchtime 4096x ./internal/bench/tunnelbench/
//
// The package has no non-test code; its few Test functions check the
// benchmarks' own helpers (TestRelayFloorChain, TestOpenFloorChain: the
// floors' chains carry bytes intact), so `make test` runs them. The binary it needs is
// built on demand (or taken from POSTERN_BIN). RESULTS.md records
// runs and where each target stands.
package tunnelbench
