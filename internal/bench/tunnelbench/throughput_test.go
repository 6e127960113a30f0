package tunnelbench

import (
	"context"
	"encoding/binary"
	"io"
	"testing"
)

// BenchmarkTunnelThroughput moves b.N × 64 KiB through one connection each
// way: up/<path> writes into a sink at the target (the clock stops when
// the sink has read every byte and said so), down/<path> reads from a
// source at the target. Paths: direct, ssh (ssh -L bastion), postern1
// (embedded agent), postern2 (remote agent). The targets run in this
// process, as does the Postern server and its agents; ssh and sshd are
// their own processes.
func BenchmarkTunnelThroughput(b *testing.B) {
	sinkPort := listen(b, sink)
	sourcePort := listen(b, source)
	ps := paths(b, sinkPort, sourcePort)
	for _, dir := range []string{"up", "down"} {
		for _, p := range ps {
			b.Run(dir+"/"+p.name, func(b *testing.B) {
				if p.skip != "" {
					b.Skip(p.skip)
				}
				port := sinkPort
				if dir == "down" {
					port = sourcePort
				}
				c, err := p.dial(context.Background(), port)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				b.SetBytes(chunk)
				moveBytes(b, c, dir)
			})
		}
	}
}

// moveBytes times b.N × 64 KiB through c: "up" into the sink at the
// target (until the sink said it read them all), "down" from the source.
func moveBytes(b *testing.B, c io.ReadWriter, dir string) {
	buf := make([]byte, chunk)
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(b.N)*chunk)
	b.ResetTimer()
	if _, err := c.Write(hdr[:]); err != nil {
		b.Fatal(err)
	}
	if dir == "up" {
		for range b.N {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := io.ReadFull(c, buf[:1]); err != nil || buf[0] != 'k' {
			b.Fatalf("sink's answer: %q, %v", buf[:1], err)
		}
	} else {
		left := b.N * chunk
		for left > 0 {
			n, err := c.Read(buf[:min(len(buf), left)])
			left -= n
			if err != nil && left > 0 {
				b.Fatalf("%d bytes short: %v", left, err)
			}
		}
	}
	b.StopTimer()
}
