package linkbench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Memory per idle stream is measured one side at a time: this process runs
// the side being measured and a child process (this test binary again, in
// TestHelperProcess) runs the other, so the two heaps do not mix.

const helperEnv = "LINKBENCH_HELPER" // "server:<candidate>" or "agent:<candidate>:<addr>"

// snapshot is one side's resource use.
type snapshot struct {
	heapAlloc, heapInuse, stackInuse uint64
	goroutines, fds                  int
}

func takeSnapshot() snapshot {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := snapshot{
		heapAlloc:  ms.HeapAlloc,
		heapInuse:  ms.HeapInuse,
		stackInuse: ms.StackInuse,
		goroutines: runtime.NumGoroutine(),
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		s.fds = len(ents)
	}
	return s
}

// idleStreams opens n streams with a 1-byte echo (plus warm bytes each way),
// and leaves a goroutine per stream blocked in Read with a 512-byte buffer,
// as a relay's link→client copier would be. Sixteen openers work at once.
type idleStreams struct {
	mu     sync.Mutex
	conns  []net.Conn
	active *counter
}

func openIdle(l serverLink, n, warm int, shrink bool) (*idleStreams, error) {
	is := &idleStreams{active: newCounter()}
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, warm)
			for range jobs {
				c, err := openEcho(l)
				if err == nil && warm > 0 {
					if _, err = c.Write(buf); err == nil {
						_, err = io.ReadFull(c, buf)
					}
				}
				if err != nil {
					errs <- err
					return
				}
				is.mu.Lock()
				is.conns = append(is.conns, c)
				is.mu.Unlock()
				if s, ok := c.(shrinker); ok && shrink {
					s.Shrink()
				}
				is.active.add(1)
				go func() {
					defer is.active.add(-1)
					rb := make([]byte, 512)
					for {
						if _, err := c.Read(rb); err != nil {
							return
						}
					}
				}()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		is.close()
		return nil, err
	}
	return is, nil
}

func (is *idleStreams) close() {
	is.mu.Lock()
	for _, c := range is.conns {
		c.Close()
	}
	is.conns = nil
	is.mu.Unlock()
	is.active.waitFor(func(n int) bool { return n == 0 }, nil)
}

// countingHandler tracks how many agent handlers are running.
func countingHandler(h *handler, active *counter) func(net.Conn) {
	return func(c net.Conn) {
		active.add(1)
		defer active.add(-1)
		h.serve(c)
	}
}

// TestHelperProcess is the other side of TestIdleMemory; it does nothing
// unless started by it.
func TestHelperProcess(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		t.Skip("helper process for TestIdleMemory")
	}
	if err := runHelper(t, spec); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runHelper(t *testing.T, spec string) error {
	parts := strings.SplitN(spec, ":", 3)
	c, ok := candidateByName(parts[1])
	if !ok {
		return fmt.Errorf("no candidate %q", parts[1])
	}
	srvCfg, cliCfg := tlsConfigs(t)
	done := make(chan struct{})
	in := bufio.NewScanner(os.Stdin)
	switch parts[0] {
	case "agent":
		a, err := c.dial(parts[2], cliCfg, newHandler(done, make(chan struct{}, 1), c.shrinkIdle).serve)
		if err != nil {
			return err
		}
		for in.Scan() { // until stdin closes
		}
		close(done)
		a.Close() // errors from tearing down are not interesting here
		return nil
	case "server":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		fmt.Printf("addr %s\n", ln.Addr())
		l, err := c.accept(ln, srvCfg)
		if err != nil {
			return err
		}
		defer l.Close()
		settle(l, done)
		fmt.Println("ready")
		var is *idleStreams
		for in.Scan() {
			f := strings.Fields(in.Text())
			switch {
			case len(f) == 3 && f[0] == "open":
				n, _ := strconv.Atoi(f[1])
				warm, _ := strconv.Atoi(f[2])
				if is, err = openIdle(l, n, warm, c.shrinkIdle); err != nil {
					return err
				}
				settle(l, done)
			case len(f) == 1 && f[0] == "close" && is != nil:
				is.close()
				is = nil
			}
			fmt.Println("ok")
		}
		close(done)
		return nil
	}
	return fmt.Errorf("bad helper spec %q", spec)
}

type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startChild(tb testing.TB, spec string) *child {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.timeout=0")
	tlsConfigs(tb)
	cmd.Env = append(os.Environ(), helperEnv+"="+spec, certEnv+"="+certForChild)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	ch := &child{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	tb.Cleanup(func() {
		in.Close()
		cmd.Wait()
	})
	return ch
}

// expect reads lines until one starts with prefix and returns the rest.
func (c *child) expect(tb testing.TB, prefix string) string {
	tb.Helper()
	for c.out.Scan() {
		if rest, ok := strings.CutPrefix(c.out.Text(), prefix); ok {
			return strings.TrimSpace(rest)
		}
	}
	tb.Fatalf("child ended before %q: %v", prefix, c.out.Err())
	return ""
}

func (c *child) command(tb testing.TB, line string) {
	tb.Helper()
	if _, err := fmt.Fprintln(c.in, line); err != nil {
		tb.Fatal(err)
	}
	c.expect(tb, "ok")
}

// idleCost measures one side's cost of n idle streams for a candidate.
func idleCost(t *testing.T, c candidate, side string, n, warm int) (before, after snapshot) {
	srvCfg, cliCfg := tlsConfigs(t)
	done := make(chan struct{})
	defer close(done)
	switch side {
	case "server":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ch := startChild(t, "agent:"+c.name+":"+ln.Addr().String())
		l, err := c.accept(ln, srvCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			l.Close()
			ch.in.Close()
		}()
		settle(l, done)
		warmup, err := openIdle(l, 32, warm, c.shrinkIdle)
		if err != nil {
			t.Fatal(err)
		}
		warmup.close()
		settle(l, done)
		before = takeSnapshot()
		is, err := openIdle(l, n, warm, c.shrinkIdle)
		if err != nil {
			t.Fatal(err)
		}
		settle(l, done)
		after = takeSnapshot()
		is.close()
	case "agent":
		ch := startChild(t, "server:"+c.name)
		addr := ch.expect(t, "addr ")
		active := newCounter()
		a, err := c.dial(addr, cliCfg, countingHandler(newHandler(done, make(chan struct{}, 1), c.shrinkIdle), active))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		ch.expect(t, "ready")
		ch.command(t, fmt.Sprintf("open 32 %d", warm))
		ch.command(t, "close")
		active.waitFor(func(k int) bool { return k == 0 }, done)
		settle(a, done)
		before = takeSnapshot()
		ch.command(t, fmt.Sprintf("open %d %d", n, warm))
		active.waitFor(func(k int) bool { return k == n }, done)
		settle(a, done)
		after = takeSnapshot()
		ch.command(t, "close")
	}
	return before, after
}

// TestIdleMemory reports, for each candidate and each side, the cost per
// idle open stream with 5,000 streams (POSTERN_BENCH_STREAMS overrides):
// Go heap in use + goroutine stacks, live heap, goroutines and file
// descriptors (kernel socket buffers are not included). "warm" rows first move 64 KiB each way through every stream,
// so buffers that grow with use and are kept afterwards show up. Heavy:
// runs only with POSTERN_BENCH=1.
func TestIdleMemory(t *testing.T) {
	if os.Getenv("POSTERN_BENCH") != "1" {
		t.Skip("set POSTERN_BENCH=1 to measure memory per idle stream (5,000 streams)")
	}
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("POSTERN_BENCH_STREAMS")); err == nil && v > 0 {
		n = v
	}
	only := os.Getenv("POSTERN_BENCH_CANDIDATES") // comma-separated, optional
	t.Logf("%d idle streams; per stream: heap+stack = HeapInuse+StackInuse delta, live = HeapAlloc delta", n)
	t.Logf("%-24s %-6s %-5s %10s %10s %8s %6s", "candidate", "side", "warm", "heap+stack", "live", "gorout.", "fds")
	for _, c := range candidates() {
		if (c.sameDataPathAs != "" && !c.shrinkIdle) || (only != "" && !strings.Contains(","+only+",", ","+c.name+",")) {
			continue
		}
		for _, warm := range []int{0, 64 << 10} {
			for _, side := range []string{"server", "agent"} {
				b, a := idleCost(t, c, side, n, warm)
				per := func(x, y uint64) float64 { return (float64(y) - float64(x)) / float64(n) }
				t.Logf("%-24s %-6s %-5s %10.0f %10.0f %8.2f %6.2f", c.name, side, map[bool]string{true: "64K", false: "1B"}[warm > 0],
					per(b.heapInuse+b.stackInuse, a.heapInuse+a.stackInuse),
					per(b.heapAlloc, a.heapAlloc),
					float64(a.goroutines-b.goroutines)/float64(n),
					float64(a.fds-b.fds)/float64(n))
			}
		}
	}
}
