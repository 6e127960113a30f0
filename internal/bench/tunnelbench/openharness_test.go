package tunnelbench

import (
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The open harness: the steps BenchmarkTunnelOpenLocalPort and
// BenchmarkConcurrentLocalPort time on Postern's binaries and
// BenchmarkOpenFloorCLI on its floor, in one place so that the floor and
// Postern are measured by the same code.

// openEchoOnce is one open as BenchmarkTunnelOpenLocalPort times it: a
// new connection by dial, one byte written, its echo read (timed from
// the dial's start to here), then a graceful close (not timed). what
// names the path in a failure; said, when not nil, adds to that
// failure's message (read only then: the processes' output).
func openEchoOnce(b testing.TB, what string, dial func() (io.ReadWriteCloser, error), said func() string) time.Duration {
	buf := []byte{'x'}
	start := time.Now()
	conn, err := dial()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Write(buf); err != nil {
		b.Fatal(err)
	}
	if d, ok := conn.(net.Conn); ok {
		_ = d.SetReadDeadline(time.Now().Add(30 * time.Second))
	}
	if _, err := io.ReadFull(conn, buf); err != nil {
		more := ""
		if said != nil {
			more = said()
		}
		b.Fatalf("%s: no echo: %v%s", what, err, more)
	}
	d := time.Since(start)
	closeGracefully(conn)
	return d
}

// openBurst opens count connections at once as BenchmarkConcurrentLocalPort
// does (each: dial, one byte, its echo; a 60 s bound on a broken path),
// and returns them (nil: failed), how many failed, the time until the
// last had its echo and when each had it (zero: failed).
func openBurst(b testing.TB, count int, dial func() (io.ReadWriteCloser, error)) ([]net.Conn, int, time.Duration, []time.Time) {
	conns := make([]net.Conn, count)
	errs := make(chan error, count)
	done := make([]time.Time, count)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range count {
		wg.Go(func() {
			c, err := dial()
			if err != nil {
				errs <- err
				return
			}
			nc := c.(net.Conn)
			_ = nc.SetDeadline(time.Now().Add(60 * time.Second))
			buf := []byte{'x'}
			if _, err = nc.Write(buf); err == nil {
				_, err = io.ReadFull(nc, buf)
			}
			_ = nc.SetDeadline(time.Time{})
			if err != nil {
				nc.Close()
				errs <- err
				return
			}
			done[i] = time.Now()
			conns[i] = nc
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed == 0 {
			b.Logf("first failure: %v", err)
		}
		failed++
	}
	return conns, failed, time.Since(start), done
}

// closeConns closes the connections an openBurst opened (nil: failed).
func closeConns(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// burstConns is how many connections a burst opens: 1,000, or
// POSTERN_BENCH_CONNS.
func burstConns(b testing.TB) int {
	n := 1000
	if v := os.Getenv("POSTERN_BENCH_CONNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("POSTERN_BENCH_CONNS=%q is not a positive number", v)
		}
	}
	return n
}

// reportBurst reports how a burst of n connections went, as
// BenchmarkConcurrentLocalPort and the open floor's burst name it: conns,
// failures, the time until the last had its echo (open-s) and, from when
// each had it (done, see burstTimes), echo-p50-ms, echo-p99-ms and
// max-stall-ms.
func reportBurst(b *testing.B, n, failed int, took time.Duration, start time.Time, done []time.Time) {
	p50, p99, stall := burstTimes(start, done)
	b.ReportMetric(float64(n), "conns")
	b.ReportMetric(float64(failed), "failures")
	b.ReportMetric(took.Seconds(), "open-s")
	b.ReportMetric(float64(p50)/float64(time.Millisecond), "echo-p50-ms")
	b.ReportMetric(float64(p99)/float64(time.Millisecond), "echo-p99-ms")
	b.ReportMetric(float64(stall)/float64(time.Millisecond), "max-stall-ms")
}
