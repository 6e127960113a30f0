package linkbench

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stalled opens k streams, moves warm bytes through each so windows have
// grown, then stops reading them while the sender keeps writing until it is
// blocked: dir "s2a" has the server push into streams the agent no longer
// reads ('H'), "a2s" the agent push into streams the server no longer reads
// ('P'). It returns the bytes each stalled sender got rid of after the
// receiver stopped, on average. The streams stay stalled until the pair is
// closed. An error means the warm-up itself got stuck (a link with
// head-of-line blocking can stall while the first streams fill up).
func stalled(tb testing.TB, p *pair, dir string, k int, warm uint64) (float64, error) {
	tb.Helper()
	var pushed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, k)
	for range k {
		op := byte('H')
		if dir == "a2s" {
			op = 'P'
		}
		c, err := request(p.server, op, warm)
		if err != nil {
			tb.Fatal(err)
		}
		if _, ok := c.(*tls.Conn); ok {
			tb.Cleanup(func() { hardClose(c) })
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, chunk)
			dc := deadlineConn{Conn: c, limit: 10 * time.Second}
			if dir == "s2a" {
				if err := writeN(dc, warm, buf); err != nil {
					errs <- err
					return
				}
				pushed.Add(pushUntilFull(c, buf))
				return
			}
			// a2s: read warm bytes, then never read c again.
			if err := readN(dc, warm, buf); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return 0, err
	}
	if dir == "a2s" {
		for range k {
			select {
			case <-p.full:
			case <-time.After(30 * time.Second):
				return 0, errors.New("stalled senders never blocked")
			}
		}
	}
	return float64(pushed.Load()) / float64(k), nil
}

// transfer moves n bytes over a fresh stream in dir, failing with a timeout
// error if any single read or write makes no progress for limit.
func transfer(p *pair, dir string, n uint64, limit time.Duration) error {
	op := byte('S')
	if dir == "a2s" {
		op = 'G'
	}
	c, err := request(p.server, op, n)
	if err != nil {
		return err
	}
	defer c.Close()
	dc := deadlineConn{Conn: c, limit: limit}
	buf := make([]byte, chunk)
	if dir == "s2a" {
		if err := writeN(dc, n, buf); err != nil {
			return err
		}
		var ack [1]byte
		_, err := dc.Read(ack[:])
		return err
	}
	return readN(dc, n, buf)
}

// deadlineConn sets a fresh deadline before every Read and Write.
type deadlineConn struct {
	net.Conn
	limit time.Duration
}

func (d deadlineConn) Read(b []byte) (int, error) {
	d.SetReadDeadline(time.Now().Add(d.limit))
	return d.Conn.Read(b)
}

func (d deadlineConn) Write(b []byte) (int, error) {
	d.SetWriteDeadline(time.Now().Add(d.limit))
	return d.Conn.Write(b)
}

// holCandidates are the candidates expected to have no head-of-line blocking
// in the configuration the tests use (one or two stalled streams).
var holCandidates = []string{"tls-pool", "yamux-4M-coalesce", "smux-v2-4M", "linkmux"}

// TestNoHeadOfLineBlocking stalls two streams on one link (the receiver never
// reads while the sender keeps writing), in each direction, and checks that
// another stream on the same link still moves 2 MiB, with no read or write
// stuck for 3 s. It also checks the stalled streams' buffering is bounded.
func TestNoHeadOfLineBlocking(t *testing.T) {
	for _, name := range holCandidates {
		c, _ := candidateByName(name)
		for _, dir := range []string{"s2a", "a2s"} {
			t.Run(name+"/"+dir, func(t *testing.T) {
				t.Parallel()
				p := newPair(t, c)
				pushed, err := stalled(t, p, dir, 2, 256<<10)
				if err != nil {
					t.Fatalf("stalling two streams: %v", err)
				}
				if err := transfer(p, dir, 2<<20, 3*time.Second); err != nil {
					t.Fatalf("stream next to stalled ones: %v", err)
				}
				if pushed > 64<<20 {
					t.Errorf("a stalled stream accepted %.0f bytes: not bounded", pushed)
				}
			})
		}
	}
}

// BenchmarkHeadOfLine measures a healthy stream's throughput (b.N chunks of
// 64 KiB) and its echo round trip while k other streams on the same link are
// stalled: each carried 8 MiB normally, then its receiver stopped reading
// while its sender kept writing until blocked. A run whose transfer makes no
// progress for 3 s reports stalled=1 (and no MB/s). pushed-KiB/stream (s2a)
// is how much each stalled sender got rid of after its receiver stopped: the
// per-stream buffering (window, plus socket buffers for tls-pool).
//
// smux-v2-1M-sess4M shows smux's session-wide receive budget: when stalled
// streams hold more than MaxReceiveBuffer between them, the whole session
// stops (8 × 1 MiB > 4 MiB).
func BenchmarkHeadOfLine(b *testing.B) {
	extra := smuxCandidate("smux-v2-1M-sess4M", smuxConfig(2, 65535, 1<<20, 4<<20))
	for _, c := range append(candidates(), extra) {
		if c.sameDataPathAs != "" || c.name == "tcp-pool" {
			continue
		}
		for _, k := range []int{1, 8} {
			for _, dir := range []string{"s2a", "a2s"} {
				b.Run(fmt.Sprintf("%s/stalled=%d/%s", c.name, k, dir), func(b *testing.B) {
					p := newPair(b, c)
					pushed, err := stalled(b, p, dir, k, 8<<20)
					if err == nil {
						b.SetBytes(chunk)
						b.ResetTimer()
						err = transfer(p, dir, uint64(b.N)*chunk, 3*time.Second)
						b.StopTimer()
					}
					if errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err) {
						b.ReportMetric(1, "stalled")
						b.SetBytes(0)
						return
					} else if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(0, "stalled")
					var rtt []time.Duration
					e, err := openEcho(p.server)
					if err != nil {
						b.Fatal(err)
					}
					defer e.Close()
					ec := deadlineConn{Conn: e, limit: 3 * time.Second}
					var one [1]byte
					for range 200 {
						t0 := time.Now()
						if _, err := ec.Write(one[:]); err != nil {
							b.Fatal(err)
						}
						if _, err := ec.Read(one[:]); err != nil {
							b.Fatal(err)
						}
						rtt = append(rtt, time.Since(t0))
					}
					reportLatency(b, rtt)
					if dir == "s2a" {
						b.ReportMetric(pushed/1024, "pushed-KiB/stream")
					}
				})
			}
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
