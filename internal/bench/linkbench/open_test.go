package linkbench

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// reportLatency reports p50 and p99 of the samples in microseconds.
func reportLatency(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	q := func(f float64) float64 {
		return float64(samples[int(f*float64(len(samples)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}

// BenchmarkOpen measures open stream + 1-byte echo round trip + close, one
// opener at a time.
//
// back-to-back: the next open starts at once. For the pools each open makes
// the agent dial a replacement connection (resuming the TLS session for
// tls-pool), so the pool runs dry and opens wait for those dials: ns/op is
// then the sustainable open rate.
//
// paced: before each open the benchmark waits (untimed) until the pool is
// full again, as when tunnels open now and then; no effect on the muxes.
func BenchmarkOpen(b *testing.B) {
	for _, c := range candidates() {
		if c.shrinkIdle {
			continue
		}
		for _, mode := range []string{"back-to-back", "paced"} {
			if c.muxed && mode == "paced" {
				continue
			}
			b.Run(c.name+"/"+mode, func(b *testing.B) {
				p := newPair(b, c)
				samples := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for range b.N {
					if mode == "paced" {
						b.StopTimer()
						if !settle(p.agent, p.done) || !settle(p.server, p.done) {
							b.Fatal("pool")
						}
						b.StartTimer()
					}
					t0 := time.Now()
					s, err := openEcho(p.server)
					if err != nil {
						b.Fatal(err)
					}
					samples = append(samples, time.Since(t0))
					s.Close()
				}
				b.StopTimer()
				reportLatency(b, samples)
				reportResumption(b, p.server)
			})
		}
	}
}

// BenchmarkOpenParallel64 is BenchmarkOpen with 64 concurrent openers.
func BenchmarkOpenParallel64(b *testing.B) {
	const openers = 64
	for _, c := range candidates() {
		if c.shrinkIdle {
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			p := newPair(b, c)
			var mu sync.Mutex
			samples := make([]time.Duration, 0, b.N)
			b.SetParallelism((openers + 1) / 2) // ×GOMAXPROCS (2 here)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				local := make([]time.Duration, 0, 64)
				for pb.Next() {
					t0 := time.Now()
					s, err := openEcho(p.server)
					if err != nil {
						b.Error(err)
						return
					}
					local = append(local, time.Since(t0))
					s.Close()
				}
				mu.Lock()
				samples = append(samples, local...)
				mu.Unlock()
			})
			b.StopTimer()
			reportLatency(b, samples)
			reportResumption(b, p.server)
		})
	}
}

func reportResumption(b *testing.B, l serverLink) {
	if ps, ok := l.(*poolServer); ok && ps.accepted.Load() > 0 {
		b.ReportMetric(100*float64(ps.resumed.Load())/float64(ps.accepted.Load()), "%resumed")
	}
}
