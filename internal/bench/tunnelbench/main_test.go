package tunnelbench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/posternbin"
	"github.com/postern/postern/internal/testutil/procstat"
)

// helperEnv makes the test binary a helper process instead of running
// benchmarks: "echo" serves a TCP echo on 127.0.0.1:0, prints its address
// and runs until its stdin ends; "relay" is one hop of a bare crypto/tls
// relay chain (relayHelper, BenchmarkRelayFloorCLI).
const helperEnv = "POSTERN_TUNNELBENCH_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "echo":
		os.Exit(echoHelper())
	case "relay":
		os.Exit(relayHelper())
	}
	os.Exit(posternbin.Run(m))
}

// --- the postern binary ---

// posternBinary is the postern binary as a user runs it.
func posternBinary(b testing.TB) string { return posternbin.Path(b) }

// raiseNoFile raises this process's RLIMIT_NOFILE soft limit to want (and
// the hard limit too when allowed, as root), else to the hard limit.
// Children started afterwards inherit it. It returns the soft limit.
func raiseNoFile(want uint64) uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	if r.Cur >= want {
		return r.Cur
	}
	if r.Max < want {
		nr := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &nr) == nil {
			return want
		}
	}
	r.Cur = r.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	return r.Cur
}

// --- targets ---

const chunk = 64 << 10 // bytes per write or read in the throughput benchmarks

// listen serves each accepted connection with serve until the benchmark
// ends, and returns the listener's port.
func listen(b testing.TB, serve func(net.Conn)) int {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// sink reads an 8-byte big-endian count n, then n bytes, then answers one
// byte ('k'), for as long as the client sends counts.
func sink(c net.Conn) {
	buf := make([]byte, 256<<10)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		left := binary.BigEndian.Uint64(hdr[:])
		for left > 0 {
			n, err := c.Read(buf[:min(uint64(len(buf)), left)])
			left -= uint64(n)
			if err != nil {
				return
			}
		}
		if _, err := c.Write([]byte{'k'}); err != nil {
			return
		}
	}
}

// source reads an 8-byte big-endian count n and writes n bytes in 64 KiB
// writes, for as long as the client sends counts.
func source(c net.Conn) {
	buf := make([]byte, chunk)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		left := binary.BigEndian.Uint64(hdr[:])
		for left > 0 {
			n, err := c.Write(buf[:min(uint64(len(buf)), left)])
			left -= uint64(n)
			if err != nil {
				return
			}
		}
	}
}

// echo copies what it reads back with a small buffer (no splice, so no pipe
// per connection), then half-closes.
func echo(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			break
		}
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// echoHelper is the helper process "echo": an echo server whose
// connections do not count against the benchmark process's descriptors.
func echoHelper() int {
	raiseNoFile(1 << 20)
	// One listener per loopback address 127.0.0.1 … 127.0.0.<echoAddrs>:
	// each destination address has its own ephemeral ports for the
	// agent's connections (about 28,000 per destination).
	var addrs []string
	for i := 1; i <= echoAddrs; i++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", i))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer ln.Close()
		serveEcho(ln)
		addrs = append(addrs, ln.Addr().String())
	}
	fmt.Println(strings.Join(addrs, " "))
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// echoAddrs is how many loopback addresses the echo helper listens on.
const echoAddrs = 5

// serveEcho serves echo on ln's connections until ln closes.
func serveEcho(ln net.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				fmt.Fprintln(os.Stderr, "echo helper:", err)
				continue
			}
			go func() {
				defer c.Close()
				echo(c)
			}()
		}
	}()
}

// startEchoProcess starts the echo helper and returns its port on
// 127.0.0.1; it stops at the benchmark's end.
func startEchoProcess(b testing.TB) int {
	b.Helper()
	return startEchoProcessAll(b)[0].Port
}

// startHelperProcess starts this test binary as a helper process, its
// environment this one's and env (helperEnv names the helper), and
// returns it and the first line it prints (its addresses); what names it
// in a failure. It is stopped at the test's end: its stdin closed, then
// killed after 10 s.
func startHelperProcess(tb testing.TB, what string, env ...string) (*exec.Cmd, string) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	return cmd, line
}

// startEchoProcessAll starts the echo helper and returns its addresses
// (127.0.0.1 first).
func startEchoProcessAll(b testing.TB) []*net.TCPAddr {
	b.Helper()
	_, line := startHelperProcess(b, "echo helper", helperEnv+"=echo")
	var out []*net.TCPAddr
	for _, f := range strings.Fields(line) {
		addr, err := net.ResolveTCPAddr("tcp", f)
		if err != nil {
			b.Fatalf("echo helper said %q: %v", line, err)
		}
		out = append(out, addr)
	}
	if len(out) == 0 {
		b.Fatalf("echo helper said %q", line)
	}
	return out
}

// --- statistics ---

// latencies collects durations and reports percentiles.
type latencies []time.Duration

// percentile is the nearest-rank percentile p (0 < p ≤ 100).
func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// report adds p50-ms and p99-ms metrics.
func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(l.percentile(50)), "p50-ms")
	b.ReportMetric(ms(l.percentile(99)), "p99-ms")
}

// --- processes ---

// fdCount is the number of open descriptors of a process.
func fdCount(pid int) int {
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(ents)
}

// settledPSS polls a process's PSS every 100 ms until two readings in a row
// differ by less than 0.5 % (or 3 s pass), and returns the last reading.
func settledPSS(pid int) (int64, error) {
	prev, err := procstat.PSSKiB(pid)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(3 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		<-tick.C
		cur, err := procstat.PSSKiB(pid)
		if err != nil {
			return 0, err
		}
		if math.Abs(float64(cur-prev)) < 0.005*float64(prev) {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

// cleanEnv is this process's environment without AWS_* variables.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			out = append(out, kv)
		}
	}
	return out
}
