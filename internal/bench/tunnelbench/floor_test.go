package tunnelbench

import (
	"crypto/aes"
	"crypto/cipher"
	"io"
	"net"
	"os"
	"testing"

	"github.com/postern/postern/internal/testutil/procstat"
)

// BenchmarkPathFloor measures, on this machine, the physical costs every
// tunnel byte pays whatever Postern's code does, in CPU seconds per GB
// (cpu-s/GB, this process's CPU time): the floor of
// BenchmarkTunnelThroughputCLI's path CPU.
//
//   - aes-gcm-seal, aes-gcm-open: AES-128-GCM over 16 KiB records, what
//     crypto/tls does per TLS 1.3 record here (AES-NI).
//   - loopback-hop: one loopback TCP hop in 256 KiB writes and reads, both
//     ends (the writer's system calls, which run the receiving side's TCP
//     on loopback, and the reader's, waits included).
//
// Two hops cost at least 4 × AES-GCM (the client seals, the server opens
// and seals again, the agent opens) plus 3 hops' worth of socket ends in
// the path's processes (the client reads the local connection; client →
// server; server → agent; the agent writes to the target); one hop 2 ×
// AES-GCM plus 2 hops. Run it in the same session as the throughput
// benchmark: both move with the machine's load.
func BenchmarkPathFloor(b *testing.B) {
	const record = 16 << 10
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		b.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	nonce := make([]byte, gcm.NonceSize())
	plain := make([]byte, record)
	sealed := gcm.Seal(nil, nonce, plain, nil)
	perGB := func(b *testing.B, bytes int64, run func()) {
		b.SetBytes(bytes)
		pid := os.Getpid()
		cpu0 := procstat.CPUTime(pid)
		b.ResetTimer()
		run()
		b.StopTimer()
		b.ReportMetric((procstat.CPUTime(pid)-cpu0).Seconds()/(float64(b.N)*float64(bytes)/1e9), "cpu-s/GB")
	}
	b.Run("aes-gcm-seal", func(b *testing.B) {
		out := make([]byte, 0, record+gcm.Overhead())
		perGB(b, record, func() {
			for range b.N {
				out = gcm.Seal(out[:0], nonce, plain, nil)
			}
		})
	})
	b.Run("aes-gcm-open", func(b *testing.B) {
		out := make([]byte, 0, record)
		perGB(b, record, func() {
			for range b.N {
				if _, err := gcm.Open(out[:0], nonce, sealed, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("loopback-hop", func(b *testing.B) {
		const chunk = 256 << 10
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		read := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				read <- err
				return
			}
			defer c.Close()
			_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{c}, make([]byte, chunk))
			read <- err
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, chunk)
		perGB(b, chunk, func() {
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			if err := <-read; err != nil {
				b.Fatal(err)
			}
		})
	})
}
