package wsbench

import (
	"crypto/tls"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func benchClientConfig(b *testing.B) *tls.Config {
	_, caPEM := testCert(b)
	cfg, err := clientTLSConfig(caPEM)
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

// BenchmarkUpload measures client→server throughput on one connection:
// masked 65,000-byte BINARY frames streamed into a sink that discards them.
// The client writes a pre-masked frame, so nearly all its CPU is TLS.
func BenchmarkUpload(b *testing.B) {
	benchUpload(b, benchClientConfig(b))
}

// BenchmarkUploadPlain is BenchmarkUpload without TLS, to make the
// libraries' own cost visible.
func BenchmarkUploadPlain(b *testing.B) {
	benchUpload(b, nil)
}

func benchUpload(b *testing.B, cfg *tls.Config) {
	for _, l := range libs {
		b.Run(l.name, func(b *testing.B) {
			addr := startServerTLS(b, cfg != nil, l.serve, func(*http.Request) tunnel {
				return tunnel{src: newBlockingSource(), sink: writerOnly{discard{}}, done: func() {}}
			})
			conn, err := dialTLS(addr, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			c := newRawClient(conn, 4096)
			if err := c.upgrade("remotePort=22"); err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, clientFrame)
			frame := maskedFrame(ws.OpBinary, payload, c.mask)
			b.SetBytes(clientFrame)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := conn.Write(frame); err != nil {
					b.Fatal(err)
				}
			}
			// The server's CLOSE answer comes after it consumed every frame.
			if _, err := c.closeHandshake(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
		})
	}
}

// discard is io.Discard without io.ReaderFrom.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkDownload measures server→client throughput on one connection:
// the server reads 64 KiB chunks from a source and writes each as one
// unmasked BINARY frame; then CLOSE 1000.
func BenchmarkDownload(b *testing.B) {
	benchDownload(b, benchClientConfig(b))
}

// BenchmarkDownloadPlain is BenchmarkDownload without TLS.
func BenchmarkDownloadPlain(b *testing.B) {
	benchDownload(b, nil)
}

func benchDownload(b *testing.B, cfg *tls.Config) {
	for _, l := range libs {
		b.Run(l.name, func(b *testing.B) {
			addr := startServerTLS(b, cfg != nil, l.serve, func(r *http.Request) tunnel {
				n, _ := strconv.Atoi(r.URL.Query().Get("n"))
				return tunnel{src: &countSource{n: n}, sink: writerOnly{discard{}}, done: func() {}}
			})
			conn, err := dialTLS(addr, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			c := newRawClient(conn, 128<<10)
			b.SetBytes(serverChunk)
			b.ReportAllocs()
			b.ResetTimer()
			if err := c.upgrade("remotePort=22&n=" + strconv.Itoa(b.N)); err != nil {
				b.Fatal(err)
			}
			var got int64
			for {
				h, err := c.readHeader()
				if err != nil {
					b.Fatal(err)
				}
				if h.OpCode == ws.OpClose {
					break
				}
				if h.OpCode != ws.OpBinary {
					b.Fatalf("unexpected %v", h.OpCode)
				}
				d, err := c.br.Discard(int(h.Length))
				if err != nil {
					b.Fatal(err)
				}
				got += int64(d)
			}
			b.StopTimer()
			if got != int64(b.N)*serverChunk {
				b.Fatalf("got %d bytes, want %d", got, int64(b.N)*serverChunk)
			}
		})
	}
}

// BenchmarkUpgrade opens tunnels one after the other: TLS 1.3 dial, then
// the HTTP upgrade. ns/op covers dial + handshake + upgrade; µs/upgrade is
// only the upgrade on the established TLS connection (request written → 101
// read by the client). Each iteration waits until the server has torn the
// tunnel down after the client closed.
func BenchmarkUpgrade(b *testing.B) {
	cfg := benchClientConfig(b)
	for _, l := range libs {
		b.Run(l.name, func(b *testing.B) {
			done := make(chan struct{}, 1)
			addr := startServer(b, l.serve, func(*http.Request) tunnel {
				return tunnel{src: newBlockingSource(), sink: writerOnly{discard{}}, done: func() { done <- struct{}{} }}
			})
			b.ReportAllocs()
			var upgrade time.Duration
			b.ResetTimer()
			for range b.N {
				conn, err := dialTLS(addr, cfg)
				if err != nil {
					b.Fatal(err)
				}
				c := newRawClient(conn, 4096)
				t0 := time.Now()
				if err := c.upgrade("remotePort=22"); err != nil {
					b.Fatal(err)
				}
				upgrade += time.Since(t0)
				_ = conn.Close()
				<-done // the server noticed and cleaned up
			}
			b.ReportMetric(float64(upgrade.Nanoseconds())/1e3/float64(b.N), "µs/upgrade")
		})
	}
}
