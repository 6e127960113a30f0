package wsbench

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gobwas/ws"
)

var (
	idleUp     = []byte("hello from client") // client → server, 17 bytes
	idleDown   = []byte("hello from agent")  // server → client, 16 bytes
	burstChunk = make([]byte, serverChunk)   // shared, so no tunnel owns it
)

// TestIdleMemory measures the server's memory per idle tunnel: n TLS
// WebSocket connections (held by a helper process, so the client side is not
// counted) that exchanged one small frame each way and now wait for the next
// one, with the reader blocked in the library's read and the pump blocked
// waiting for the agent side. Variant "burst" first moves one full frame
// each way, to show what buffers stay behind after traffic.
//
// Run it with POSTERN_BENCH=1 (POSTERN_BENCH_CONNS sets n, default 2000;
// POSTERN_BENCH_HEAPPROFILE=dir writes a heap profile of each idle state).
func TestIdleMemory(t *testing.T) {
	if os.Getenv("POSTERN_BENCH") != "1" {
		t.Skip("set POSTERN_BENCH=1 to measure idle memory")
	}
	n := 2000
	if s := os.Getenv("POSTERN_BENCH_CONNS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-14s %-6s %10s %10s %10s %10s %10s\n", "library", "burst", "heapB/conn", "stackB/conn", "totalB/conn", "inuseB/conn", "gor/conn")
	for _, burst := range []bool{false, true} {
		for _, l := range append(append([]lib{}, libs...), inlineLibs...) {
			name := l.name
			if burst {
				name += "/burst"
			}
			t.Run(name, func(t *testing.T) {
				r := measureIdle(t, l, n, burst)
				fmt.Fprintf(&table, "%-14s %-6v %10.0f %10.0f %10.0f %10.0f %10.2f\n", l.name, burst,
					r.heap, r.stack, r.heap+r.stack, r.heapInuse+r.stack, r.goroutines)
			})
		}
	}
	t.Log(table.String())
}

type idleResult struct {
	heap, heapInuse, stack, goroutines float64 // per connection
}

func measureIdle(t *testing.T, l lib, n int, burst bool) idleResult {
	_, caPEM := testCert(t)
	var recvWG, idleWG, doneWG sync.WaitGroup
	recvWG.Add(n)
	idleWG.Add(n)
	doneWG.Add(n)
	addr := startServer(t, l.serve, func(*http.Request) tunnel {
		chunks := [][]byte{idleDown}
		want := len(idleUp)
		if burst {
			chunks = [][]byte{burstChunk, idleDown}
			want += clientFrame
		}
		return tunnel{
			src:  newChanSource(idleWG.Done, chunks...),
			sink: writerOnly{&signalSink{want: want, onTotal: recvWG.Done}},
			done: doneWG.Done,
		}
	})

	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()

	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleHelper$")
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("POSTERN_WSBENCH_HELPER=%s %d %v", addr, n, burst),
		"POSTERN_WSBENCH_CA="+string(caPEM))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	ready := false
	for !ready && sc.Scan() {
		line := sc.Text()
		if line == "ready" {
			ready = true
		} else if strings.HasPrefix(line, "error") {
			t.Error(line)
		}
	}
	if !ready {
		_ = stdin.Close()
		_ = cmd.Wait()
		t.Fatal("helper did not get ready")
	}
	recvWG.Wait()
	idleWG.Wait()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	g1 := runtime.NumGoroutine()
	if dir := os.Getenv("POSTERN_BENCH_HEAPPROFILE"); dir != "" {
		f, err := os.Create(filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".heap"))
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
	}

	_ = stdin.Close()
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if err := cmd.Wait(); err != nil {
		t.Errorf("helper: %v", err)
	}
	doneWG.Wait()

	f := float64(n)
	return idleResult{
		heap:       (float64(m1.HeapAlloc) - float64(m0.HeapAlloc)) / f,
		heapInuse:  (float64(m1.HeapInuse) - float64(m0.HeapInuse)) / f,
		stack:      (float64(m1.StackInuse) - float64(m0.StackInuse)) / f,
		goroutines: float64(g1-g0) / f,
	}
}

// TestIdleHelper is the client side of TestIdleMemory, run in a subprocess.
func TestIdleHelper(t *testing.T) {
	spec := os.Getenv("POSTERN_WSBENCH_HELPER")
	if spec == "" {
		t.Skip("subprocess of TestIdleMemory")
	}
	var addr string
	var n int
	var burst bool
	if _, err := fmt.Sscanf(spec, "%s %d %v", &addr, &n, &burst); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientTLSConfig([]byte(os.Getenv("POSTERN_WSBENCH_CA")))
	if err != nil {
		t.Fatal(err)
	}
	clients := make([]*rawClient, n)
	idx := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range idx {
				conn, err := dialTLS(addr, cfg)
				if err != nil {
					errs <- err
					continue
				}
				c := newRawClient(conn, 4096)
				clients[i] = c
				if err := idleExchange(c, burst); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		idx <- i
	}
	close(idx)
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range clients {
		_ = c.conn.Close()
	}
}

func idleExchange(c *rawClient, burst bool) error {
	if err := c.upgrade("remotePort=22"); err != nil {
		return err
	}
	want := len(idleDown)
	if burst {
		want += serverChunk
		if err := c.writeFrame(ws.OpBinary, make([]byte, clientFrame)); err != nil {
			return err
		}
	}
	if err := c.writeFrame(ws.OpBinary, idleUp); err != nil {
		return err
	}
	for got := 0; got < want; {
		h, p, err := c.readFrame()
		if err != nil {
			return err
		}
		if h.OpCode != ws.OpBinary {
			return fmt.Errorf("unexpected %v", h.OpCode)
		}
		got += len(p)
	}
	return nil
}
