package tunnelbench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/testutil/procstat"
)

// openFloorRequest is the upgrade request Postern's client sends to open
// a two-hop tunnel (client.Dialer: the presigned URL, the WebSocket
// handshake's headers, the CLI's User-Agent), captured byte for byte
// from a Dialer whose connection is an in-memory pipe; the open floor's
// client sends these bytes, so its request is Postern's size.
func openFloorRequest(tb testing.TB) string {
	tb.Helper()
	a, b := net.Pipe()
	got := make(chan string, 1)
	go func() {
		defer b.Close()
		head, err := readHead(bufio.NewReader(b))
		if err != nil {
			head = nil
		}
		got <- string(head)
	}()
	// What the benchmarks' open-tunnel client sends: an access key of
	// Postern's form (20 characters) and no session token, an endpoint
	// id, a dnsName host:port, the CLI's User-Agent (internal/cli).
	d := &client.Dialer{Credentials: credentials.NewStaticCredentialsProvider("AKIA0123456789ABCDEF", "0123456789012345678901234567890123456789", ""),
		Region: "us-east-1", UserAgent: "postern/0.1.0-dev command/ec2-instance-connect.open-tunnel",
		NetDial: func(context.Context) (net.Conn, error) { return a, nil }}
	_, _ = d.Dial(context.Background(), client.Target{EndpointID: "eice-0123456789abcdef0", DNSName: "127.0.0.1:40123",
		PrivateIP: "127.0.0.1", RemotePort: 40124})
	req := <-got
	if len(req) < 100 {
		tb.Fatalf("the client's upgrade request was not captured: %q", req)
	}
	return req
}

// openFloorChain is the open floor's chain of helper processes:
//
//	one hop:  bench → client → server → target
//	two hops: bench → client → server ⇒ agent → target (⇒: a stream on one TLS link)
//
// It is a relayChain (addr: the client helper's local port; procs and
// cpu: the same CPU reading as the relay floor's) with the record file.
type openFloorChain struct {
	relayChain
	recordFile string // the server's record file, or ""
}

// startOpenFloorChain starts an open floor chain of hops (1 or 2) to
// target, last process first; with record the server records each
// attempt in a file of dir.
func startOpenFloorChain(tb testing.TB, certPEM, req string, hops int, record bool, target string) *openFloorChain {
	tb.Helper()
	start := func(what, mode, next string, env ...string) *relayHop {
		env = append(env, helperEnv+"=relay", relayModeEnv+"="+mode, relayNextEnv+"="+next, relayCertEnv+"="+certPEM)
		cmd, line := startHelperProcess(tb, "open floor "+what, env...)
		addr := line
		if n := len(addr); n > 0 && addr[n-1] == '\n' {
			addr = addr[:n-1]
		}
		return &relayHop{cmd: cmd, addr: addr}
	}
	ch := &openFloorChain{relayChain: relayChain{procs: map[string]*relayHop{}}}
	var rec []string
	if record {
		ch.recordFile = filepath.Join(tb.TempDir(), "attempts")
		rec = []string{openFloorRecordEnv + "=" + ch.recordFile}
	}
	if hops == 2 {
		ag := start("agent", "open-agent", "")
		ch.procs["agent"] = ag
		ch.procs["server"] = start("server", "open-server2", ag.addr, append(rec, openFloorTargetEnv+"="+target)...)
	} else {
		ch.procs["server"] = start("server", "open-server1", target, rec...)
	}
	c := start("client", "open-client", ch.procs["server"].addr, openFloorReqEnv+"="+req)
	ch.procs["client"] = c
	ch.addr = c.addr
	return ch
}

// openFloorVariants are the open floor's chains: one and two hops, with
// no record and with each attempt durably recorded before its first byte.
var openFloorVariants = []struct {
	name   string
	hops   int
	record bool
}{{"one-hop", 1, false}, {"two-hops", 2, false}, {"one-hop-record", 1, true}, {"two-hops-record", 2, true}}

// BenchmarkOpenFloorCLI is the floor under the open benchmarks on the
// binaries (BenchmarkTunnelOpenLocalPort, BenchmarkConcurrentLocalPort):
// a chain of Postern's shape in separate processes of this test binary
// (openfloor_helper_test.go) that does per connection only what a tunnel
// physically needs and none of what Postern adds (no signature check,
// no policy, no store, no WebSocket framing, no link protocol beyond
// open/data/close frames, no limits): the client's TCP dial and resumed
// TLS 1.3 handshake (X25519), an upgrade request of Postern's bytes
// (openFloorRequest) and its 101, the server's dial of the target (one
// hop) or a stream on one persistent TLS link to the agent, whose dial
// reaches the target (two hops); the "-record" chains add the attempt
// on disk before the first byte (an append, fsync'd with group commit).
//
//	open/VARIANT   b.N opens one after the other, as TunnelOpenLocalPort
//	               (after one warm-up open: the first handshake is a full
//	               one, then sessions resume): p50-ms, p99-ms and each
//	               process's CPU per open (client-, server-, agent-cpu-us/open)
//	burst/VARIANT  N connections at once (1,000, or POSTERN_BENCH_CONNS), as
//	               ConcurrentLocalPort (after a warm-up of 64 on fresh
//	               processes): open-s, failures, echo-p50-ms, echo-p99-ms,
//	               max-stall-ms, each process's CPU per connection
//	               (client-, server-, agent-cpu-ms/conn), this
//	               process's, the dialers' (ends-cpu-ms/conn), and the echo
//	               target's (target-cpu-ms/conn); run it with
//	               -benchtime 1x (one burst per call, b.N unused)
//
// The targets are the same echo servers: in this process for open (as
// TunnelOpenLocalPort's), the echo helper process for burst (as
// ConcurrentLocalPort's).
func BenchmarkOpenFloorCLI(b *testing.B) {
	n := burstConns(b)
	certPEM := relayCert(b)
	req := openFloorRequest(b)
	b.Run("open", func(b *testing.B) {
		target := fmt.Sprintf("127.0.0.1:%d", listen(b, echo))
		for _, v := range openFloorVariants {
			b.Run(v.name, func(b *testing.B) {
				ch := startOpenFloorChain(b, certPEM, req, v.hops, v.record, target)
				dial := func() (io.ReadWriteCloser, error) { return net.Dial("tcp", ch.addr) }
				openEchoOnce(b, v.name, dial, nil) // warm-up: the full handshake, the link's first stream
				cpu0 := ch.cpu()
				lat := make(latencies, 0, b.N)
				b.ResetTimer()
				for range b.N {
					lat = append(lat, openEchoOnce(b, v.name, dial, nil))
				}
				b.StopTimer()
				lat.report(b)
				for k, d := range ch.cpu() {
					b.ReportMetric(float64((d-cpu0[k]).Microseconds())/float64(b.N), k+"-cpu-us/open")
				}
			})
		}
	})
	b.Run("burst", func(b *testing.B) {
		if lim := raiseNoFile(uint64(n)*4 + 1024); lim < uint64(n)*2+512 {
			b.Fatalf("RLIMIT_NOFILE is %d; %d connections need about %d", lim, n, n*2+512)
		}
		// The echo helper, as ConcurrentLocalPort's (startEchoProcess),
		// kept to read its CPU: the whole machine's work per connection.
		echoCmd, line := startHelperProcess(b, "echo helper", helperEnv+"=echo")
		target, _, _ := strings.Cut(strings.TrimSpace(line), " ") // 127.0.0.1's first
		for _, v := range openFloorVariants {
			b.Run(v.name, func(b *testing.B) {
				ch := startOpenFloorChain(b, certPEM, req, v.hops, v.record, target)
				dial := func() (io.ReadWriteCloser, error) { return net.Dial("tcp", ch.addr) }
				idleFDs := fdCount(ch.procs["client"].cmd.Process.Pid)
				warm, _, _, _ := openBurst(b, 64, dial)
				closeConns(warm)
				// The warm-up's connections gone from the client (its
				// descriptors back to what they were), as
				// ConcurrentLocalPort waits for its client's tunnels.
				deadline := time.Now().Add(60 * time.Second)
				tick := time.NewTicker(5 * time.Millisecond)
				for fdCount(ch.procs["client"].cmd.Process.Pid) > idleFDs && time.Now().Before(deadline) {
					<-tick.C
				}
				tick.Stop()
				cpu0 := ch.cpu()
				ends0 := procstat.CPUTime(os.Getpid())
				echo0 := procstat.CPUTime(echoCmd.Process.Pid)
				b.ResetTimer()
				start := time.Now()
				conns, failed, took, done := openBurst(b, n, dial)
				b.StopTimer()
				defer closeConns(conns)
				for k, d := range ch.cpu() {
					b.ReportMetric(float64(d-cpu0[k])/float64(time.Millisecond)/float64(n), k+"-cpu-ms/conn")
				}
				// This process's (the N dialers'), not the path's: it
				// shares the two cores with the chain, and what it takes
				// is not left for the path.
				b.ReportMetric(float64(procstat.CPUTime(os.Getpid())-ends0)/float64(time.Millisecond)/float64(n), "ends-cpu-ms/conn")
				b.ReportMetric(float64(procstat.CPUTime(echoCmd.Process.Pid)-echo0)/float64(time.Millisecond)/float64(n), "target-cpu-ms/conn")
				reportBurst(b, n, failed, took, start, done)
			})
		}
	})
}

// TestOpenFloorChain opens connections through each open floor chain
// (one and two hops, with and without the record), one after the other
// and 16 at once, each sending 64 KiB of random bytes to an echo target:
// what returns must be what was sent, then the end of the stream, so
// BenchmarkOpenFloorCLI cannot measure a chain that does not open, relay
// or close; with the record, the file must hold one record per open.
func TestOpenFloorChain(t *testing.T) {
	certPEM := relayCert(t)
	req := openFloorRequest(t)
	target := fmt.Sprintf("127.0.0.1:%d", listen(t, echo))
	for _, v := range openFloorVariants {
		t.Run(v.name, func(t *testing.T) {
			ch := startOpenFloorChain(t, certPEM, req, v.hops, v.record, target)
			echoOnce := func() error { return echoed(ch.addr, 64<<10) }
			opens := 0
			for range 3 {
				if err := echoOnce(); err != nil {
					t.Fatal(err)
				}
				opens++
			}
			errs := make(chan error, 16)
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() { errs <- echoOnce() })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
				opens++
			}
			if !v.record {
				return
			}
			fi, err := os.Stat(ch.recordFile)
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(opens * openFloorRecordSize); fi.Size() != want {
				t.Errorf("the record file holds %d bytes after %d opens, want %d", fi.Size(), opens, want)
			}
		})
	}
}
