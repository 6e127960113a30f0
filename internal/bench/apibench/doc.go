// Package apibench measures Postern's signed API on the binary as a user
// runs it (docs/performance.md): `postern server` is a separate process
// (built by internal/testutil/posternbin), and the benchmark process runs
// 8 concurrent AWS SDK for Go v2 callers against it, beside an
// unauthenticated HTTPS baseline (GET /healthz) on the same listener and
// client in the same run.
//
//	BenchmarkAPIBinary/healthz             the baseline
//	BenchmarkAPIBinary/GetCallerIdentity   signed STS calls
//	BenchmarkAPIBinary/DescribeEndpointByID signed EC2
//	                                       DescribeInstanceConnectEndpoints
//	                                       of one endpoint by id
//
// Each reports req/s and the server process's CPU per call
// (server-cpu-us/call, user + system time from /proc/PID/stat over the
// run; clock ticks of 10 ms, a figure for many calls, not one). The
// package holds no test assertions on time.
package apibench
