package linkbench

import (
	"sync"
	"testing"
)

// BenchmarkThroughput moves b.N chunks of 64 KiB through one stream, in each
// direction. tls-pool is the plain TLS connection baseline, tcp-pool the
// unencrypted limit.
func BenchmarkThroughput(b *testing.B) {
	for _, c := range candidates() {
		if c.sameDataPathAs != "" {
			continue
		}
		for _, dir := range []string{"s2a", "a2s"} {
			b.Run(c.name+"/"+dir, func(b *testing.B) {
				p := newPair(b, c)
				buf := make([]byte, chunk)
				// Warm up: one stream, so windows and buffers have grown.
				if err := sendBulk(p.server, 4<<20, buf); err != nil {
					b.Fatal(err)
				}
				if !settle(p.server, p.done) {
					b.Fatal("pool")
				}
				b.SetBytes(chunk)
				b.ResetTimer()
				var err error
				if dir == "s2a" {
					err = sendBulk(p.server, uint64(b.N)*chunk, buf)
				} else {
					err = recvBulk(p.server, uint64(b.N)*chunk, buf)
				}
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkAggregate8 moves b.N chunks split across 8 concurrent streams on
// one link (8 connections for the pools), server→agent.
func BenchmarkAggregate8(b *testing.B) {
	const streams = 8
	for _, c := range candidates() {
		if c.sameDataPathAs != "" {
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			p := newPair(b, c)
			b.SetBytes(chunk)
			b.ResetTimer()
			var wg sync.WaitGroup
			errs := make(chan error, streams)
			for i := range streams {
				n := b.N / streams
				if i < b.N%streams {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := sendBulk(p.server, uint64(n)*chunk, make([]byte, chunk)); err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
		})
	}
}
