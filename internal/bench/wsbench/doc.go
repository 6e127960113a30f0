// Package wsbench holds benchmarks that choose the WebSocket library for
// Postern's tunnel front door (the /openTunnel endpoint) and its tunnel
// client.
//
// The benchmarks reproduce what the AWS CLI v2 does against the server:
// TLS 1.3 over loopback, an HTTP/1.1 upgrade on GET /openTunnel, masked
// BINARY frames of at most 65,000 payload bytes from the client, and
// unmasked BINARY frames of up to 64 KiB from the server. Each candidate
// library (gorilla/websocket, coder/websocket, gobwas/ws low-level API) is
// driven by the same hand-written raw client, so differences in the numbers
// are the server's.
//
// The package has no non-test code. Run the throughput and handshake
// benchmarks with
//
//	go test -run x -bench . -benchtime 2s ./internal/bench/wsbench/
//
// and the idle-memory measurement (2,000 TLS WebSocket connections held open
// by a helper subprocess) with
//
//	POSTERN_BENCH=1 go test -run TestIdleMemory -v ./internal/bench/wsbench/
//
// RESULTS.md in this directory records the numbers and the recommendation.
package wsbench
