package tunnelbench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/pki"
	"github.com/postern/postern/internal/testutil/procstat"
)

// The relay helper ("relay" in helperEnv) is one hop of a bare crypto/tls
// relay chain: the shape of Postern's path with none of Postern's code.
const (
	relayModeEnv = "POSTERN_TUNNELBENCH_RELAY_MODE" // "tcp-tls", "tls-tls" or "tls-tcp": what it accepts, what it dials
	relayNextEnv = "POSTERN_TUNNELBENCH_RELAY_NEXT" // the address it dials for each accepted connection
	relayCertEnv = "POSTERN_TUNNELBENCH_RELAY_CERT" // the chain's certificate and key, PEM (relayCert)
)

// relayBuf is the relay's copy buffer: what Postern's bulk path moves per
// read and write (bufpool.BigChunk).
const relayBuf = 256 << 10

// relayHelper runs one hop: it listens on 127.0.0.1:0 (TLS or plain TCP),
// prints its address and, for each connection, dials the next hop and
// copies both ways with 256 KiB buffers, until its stdin ends.
func relayHelper() int {
	if m := os.Getenv(relayModeEnv); strings.HasPrefix(m, "open-") {
		return openFloorHelper(m) // the open floor's processes (openfloor_helper_test.go)
	}
	in, out, ok := strings.Cut(os.Getenv(relayModeEnv), "-")
	next := os.Getenv(relayNextEnv)
	if !ok || next == "" {
		fmt.Fprintf(os.Stderr, "relay helper: %s=%q, %s=%q\n", relayModeEnv, os.Getenv(relayModeEnv), relayNextEnv, next)
		return 2
	}
	pemData := []byte(os.Getenv(relayCertEnv))
	cert, err := tls.X509KeyPair(pemData, pemData)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay helper:", err)
		return 2
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemData)
	// Go's defaults, as Postern's client, server and agent use them: on
	// a machine with AES-NI they negotiate TLS 1.3,
	// TLS_AES_128_GCM_SHA256 and X25519MLKEM768 (Postern's client also
	// X25519 alone), with an ECDSA P-256 certificate, as this chain does.
	// MinVersion 1.3 only makes sure a chain never measures TLS 1.2.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay helper:", err)
		return 1
	}
	defer ln.Close()
	serverCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	clientCfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13, ServerName: "127.0.0.1"}
	batched, tuned := relayBatched(), relayTuned()
	if in == "tls" && !batched && !tuned {
		ln = tls.NewListener(ln, serverCfg)
	}
	dial := func() (net.Conn, error) {
		if tuned {
			return dialTuned(next, out == "tls", clientCfg)
		}
		if out != "tls" {
			return net.Dial("tcp", next)
		}
		if !batched {
			d := tls.Dialer{Config: clientCfg}
			return d.DialContext(context.Background(), "tcp", next)
		}
		raw, err := net.Dial("tcp", next)
		if err != nil {
			return nil, err
		}
		c, err := newBatchedTLS(raw, clientCfg, false)
		if err != nil {
			raw.Close()
			return nil, err
		}
		return c, nil
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					fmt.Fprintln(os.Stderr, "relay helper:", err)
				}
				return
			}
			go func() {
				defer c.Close()
				if tuned {
					tc, err := wrapTuned(c, in == "tls", serverCfg, true)
					if err != nil {
						fmt.Fprintln(os.Stderr, "relay helper: handshake:", err)
						return
					}
					c = tc
				}
				if in == "tls" && batched {
					bc, err := newBatchedTLS(c, serverCfg, true)
					if err != nil {
						fmt.Fprintln(os.Stderr, "relay helper: handshake:", err)
						return
					}
					c = bc
				}
				n, err := dial()
				if err != nil {
					fmt.Fprintln(os.Stderr, "relay helper: dial:", err)
					return
				}
				defer n.Close()
				relayBoth(c, n)
			}()
		}
	}()
	fmt.Println(ln.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// relayBoth copies a to b and b to a until both directions ended.
func relayBoth(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() { relayCopy(b, a) })
	relayCopy(a, b)
	wg.Wait()
}

// relayCopy copies src to dst with one 256 KiB buffer, read by read (a
// TLS read brings at most one record; a batched or tuned one what
// crypto/tls holds too: drainHeld), then half-closes dst (a TLS
// connection sends close_notify) so the end travels down the chain.
func relayCopy(dst, src net.Conn) {
	buf := make([]byte, relayBuf)
	_, drains := src.(*batchedTLS)
	if _, tuned := src.(*tunedTLS); tuned {
		drains = true
	}
	for {
		n, err := src.Read(buf)
		if err == nil && drains {
			n = drainHeld(src, buf, n)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			break
		}
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// relayCert returns a server certificate for 127.0.0.1, the CA that
// issued it and its key, PEM, for every TLS hop of the chain: issued by
// the server's own package (pki), so the hops present what Postern's
// server does (an ECDSA P-256 leaf and its CA).
func relayCert(tb testing.TB) string {
	tb.Helper()
	b, err := pki.LoadOrCreate(tb.TempDir(), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(b.ServerTLS.PrivateKey)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.ServerTLS.Leaf.Raw})) + string(b.CAPEM) +
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

// relayHop is a running relay helper process and the address it listens on.
type relayHop struct {
	cmd  *exec.Cmd
	addr string
}

// startRelayHop starts the test binary as a relay hop (mode: relayModeEnv)
// that dials next, batched ("1"), tuned ("tuned") or plain ("") as batch
// says (relayBatchEnv); it stops at the test's end.
func startRelayHop(tb testing.TB, certPEM, mode, next, batch string) *relayHop {
	tb.Helper()
	env := []string{helperEnv + "=relay", relayModeEnv + "=" + mode, relayNextEnv + "=" + next, relayCertEnv + "=" + certPEM}
	if batch != "" {
		env = append(env, relayBatchEnv+"="+batch)
	}
	cmd, line := startHelperProcess(tb, "relay hop "+mode, env...)
	return &relayHop{cmd: cmd, addr: strings.TrimSpace(line)}
}

// relayChain is a bare crypto/tls relay chain to one target: "client"
// (TCP in, TLS out), for two hops "server" (TLS in, TLS out), and the last
// hop (TLS in, TCP out to the target): "server" for one hop, "agent" for
// two, named after the Postern process in the same place.
type relayChain struct {
	addr  string // the client hop's plain TCP address
	procs map[string]*relayHop
}

// startRelayChain starts a chain of hops (1 or 2 TLS hops; batched as
// startRelayHop's batch) to the target address, last hop first.
func startRelayChain(tb testing.TB, certPEM string, hops int, batched string, target string) *relayChain {
	tb.Helper()
	ch := &relayChain{procs: map[string]*relayHop{}}
	last := "server"
	if hops == 2 {
		last = "agent"
	}
	next := startRelayHop(tb, certPEM, "tls-tcp", target, batched)
	ch.procs[last] = next
	if hops == 2 {
		next = startRelayHop(tb, certPEM, "tls-tls", next.addr, batched)
		ch.procs["server"] = next
	}
	c := startRelayHop(tb, certPEM, "tcp-tls", next.addr, batched)
	ch.procs["client"] = c
	ch.addr = c.addr
	return ch
}

// cpu is the CPU time the chain's processes used so far, in all and each.
func (ch *relayChain) cpu() map[string]time.Duration {
	m := make(map[string]time.Duration, len(ch.procs))
	for name, h := range ch.procs {
		m[name] = procstat.CPUTime(h.cmd.Process.Pid)
	}
	return m
}

// relayVariants are the relay chains measured: one and two TLS hops, plain
// and batched (relayfloor_batch_test.go).
var relayVariants = []struct {
	name    string
	hops    int
	batched string // relayBatchEnv
}{{"one-hop", 1, ""}, {"two-hops", 2, ""}, {"one-hop-batched", 1, "1"}, {"two-hops-batched", 2, "1"},
	{"one-hop-tuned", 1, "tuned"}, {"two-hops-tuned", 2, "tuned"}} // r2_16_tuned_test.go

// BenchmarkRelayFloorCLI is BenchmarkTunnelThroughputCLI's transfer (b.N ×
// 64 KiB through one connection, into the sink or from the source) through
// a bare crypto/tls relay chain in separate processes of this test binary:
// the same shape as Postern's path with none of Postern's code (no
// WebSocket, no link multiplexer, no authentication, no records), Go's
// crypto/tls with its defaults (TLS 1.3, TLS_AES_128_GCM_SHA256 here) and
// copy loops with 256 KiB buffers:
//
//	one-hop:  bench → client (TCP→TLS) → server (TLS→TCP) → target
//	two-hops: bench → client (TCP→TLS) → server (TLS→TLS) → agent (TLS→TCP) → target
//
// one-hop-batched and two-hops-batched are the same chains with what any
// crypto/tls relay can do about system calls (relayfloor_batch_test.go):
// the records of one write leave in one write(2), and a TLS read takes
// every record crypto/tls already holds. one-hop-tuned and
// two-hops-tuned add the socket tools Postern's own path uses (tlsbatch,
// sockio: r2_16_tuned_test.go): the floor to hold Postern's CPU against.
//
// It reports MB/s and, as the CLI benchmark does, the chain's CPU per GB
// moved (cpu-s/GB) and each process's (client-, server-, agent-cpu-s/GB):
// the floor that Postern's figures are measured against; and the CPU of
// the two ends, this process (ends-cpu-s/GB), which share the cores.
func BenchmarkRelayFloorCLI(b *testing.B) {
	sinkPort := listen(b, sink)
	sourcePort := listen(b, source)
	certPEM := relayCert(b)
	for _, h := range relayVariants {
		chains := map[string]*relayChain{
			"up":   startRelayChain(b, certPEM, h.hops, h.batched, fmt.Sprintf("127.0.0.1:%d", sinkPort)),
			"down": startRelayChain(b, certPEM, h.hops, h.batched, fmt.Sprintf("127.0.0.1:%d", sourcePort)),
		}
		for _, dir := range []string{"up", "down"} {
			b.Run(h.name+"/"+dir, func(b *testing.B) {
				ch := chains[dir]
				c, err := net.Dial("tcp", ch.addr)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				b.SetBytes(chunk)
				each0 := ch.cpu()
				ends0 := procstat.CPUTime(os.Getpid())
				moveBytes(b, c, dir)
				gb := float64(b.N) * chunk / 1e9
				var all time.Duration
				for name, d := range ch.cpu() {
					all += d - each0[name]
					b.ReportMetric((d-each0[name]).Seconds()/gb, name+"-cpu-s/GB")
				}
				b.ReportMetric(all.Seconds()/gb, "cpu-s/GB")
				// The ends (this process: the writer or reader and the
				// sink or source) are not the path's, but they share the
				// machine's cores with it: what is left for the path.
				b.ReportMetric((procstat.CPUTime(os.Getpid())-ends0).Seconds()/gb, "ends-cpu-s/GB")
			})
		}
	}
}

// TestRelayFloorChain sends 4 MiB of random bytes through the relay chain
// (one and two hops) to an echo target and reads them back: what returns
// must be what was sent (SHA-256), so BenchmarkRelayFloorCLI cannot
// measure a relay that drops or corrupts bytes in either direction, or
// one that does not pass the end of a stream on.
func TestRelayFloorChain(t *testing.T) {
	certPEM := relayCert(t)
	target := fmt.Sprintf("127.0.0.1:%d", listen(t, echo))
	for _, h := range relayVariants {
		t.Run(h.name, func(t *testing.T) {
			ch := startRelayChain(t, certPEM, h.hops, h.batched, target)
			wantEchoed(t, ch.addr)
		})
	}
}

// wantEchoed sends 4 MiB of random bytes to addr, a chain to an echo
// target, half-closes, and fails t unless it reads back what it sent,
// then the end of the stream; the connection is closed when it returns.
func wantEchoed(t *testing.T, addr string) {
	t.Helper()
	if err := echoed(addr, 4<<20); err != nil {
		t.Fatal(err)
	}
}

// echoed sends size random bytes to addr, a chain to an echo target,
// half-closes, and returns an error unless it reads back what it sent,
// then the end of the stream; the connection is closed when it returns.
// It returns, not fails, so that tests can call it from many goroutines.
func echoed(addr string, size int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	// A bound on a broken chain, not a timing: the test fails instead of
	// hanging.
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	sent := make([]byte, size)
	_, _ = rand.Read(sent)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(sent)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("read back %d bytes, then: %w", len(got), err)
	}
	if err := <-werr; err != nil {
		return err
	}
	if len(got) != len(sent) || sha256.Sum256(got) != sha256.Sum256(sent) {
		return fmt.Errorf("read back %d bytes (SHA-256 %x), sent %d (SHA-256 %x)", len(got), sha256.Sum256(got), len(sent), sha256.Sum256(sent))
	}
	return nil
}
