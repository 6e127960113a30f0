// Package linkbench measures candidate data paths between the Postern server
// and an endpoint agent, to choose how tunnel bytes travel over the link the
// agent dials out to the server (docs/architecture.md §1–2, docs/performance.md §1).
//
// The candidates are:
//
//   - yamux (github.com/hashicorp/yamux) streams over one TLS 1.3 connection,
//     with the default and with larger per-stream windows;
//   - smux (github.com/xtaci/smux) streams over one TLS 1.3 connection,
//     protocol version 1 (no per-stream flow control) and version 2;
//   - one TLS 1.3 connection per tunnel, taken from a small pool of
//     connections the agent has dialled in advance (replacements resume the
//     TLS session);
//   - plain TCP connections from the same kind of pool, as the "direct" limit.
//
// The "server" side opens tunnels; the "agent" side accepts them and serves
// each one with an in-process sink, source or echo. Everything runs on
// loopback with a throwaway ECDSA certificate.
//
// The package has no non-test code. The benchmarks measure one stream's
// throughput each way, eight streams at once, open latency (sequential and
// with 64 parallel openers), and whether a stream the reader has stopped
// reading blocks the others. TestIdleMemory (run with POSTERN_BENCH=1)
// measures each side's memory, goroutines and file descriptors per idle open
// stream with 5,000 streams, running the other side in a child process.
// RESULTS.md records a run and the recommendation drawn from it.
package linkbench
