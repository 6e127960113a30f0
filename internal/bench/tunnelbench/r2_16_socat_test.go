package tunnelbench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/procstat"
)

// The foreign floor: BenchmarkRelayFloorCLI's chain built with socat and
// OpenSSL instead of Go's crypto/tls, to tell whether the throughput
// targets are beyond this machine or only beyond Go's TLS. socat is not
// among make test-deps' packages: without it these skip.

// socatOpenSSLConf makes OpenSSL negotiate what Postern and the Go chain
// negotiate (TLS 1.3, TLS_AES_128_GCM_SHA256; X25519, the handshake only):
// OpenSSL's own TLS 1.3 default is AES-256-GCM, which costs more per byte.
// socat 1.7 has no option for TLS 1.3 suites, so it goes by OPENSSL_CONF.
const socatOpenSSLConf = `openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1.3
Ciphersuites = TLS_AES_128_GCM_SHA256
Groups = X25519
`

// socatListening is socat's -d -d line that gives the port it bound.
var socatListening = regexp.MustCompile(`listening on AF=2 (127\.0\.0\.1:[0-9]+)`)

// socatHop is one running socat process of a chain.
type socatHop struct {
	cmd  *exec.Cmd
	addr string           // where it listens
	log  *strings.Builder // its -d -d lines after "listening"
	done chan struct{}    // closed when its stderr ended
}

// startSocatHop runs socat listening on 127.0.0.1:0 (listen: a socat
// address's type and options, without the port) and, for its one
// connection, opening next; bytes are moved 256 KiB per read (-b), as the
// Go chain's copies do. It is killed at the test's end if still running.
func startSocatHop(tb testing.TB, dir, listen, next string) *socatHop {
	tb.Helper()
	cmd := exec.Command("socat", "-d", "-d", "-b", fmt.Sprint(relayBuf), "-t", "60",
		strings.Replace(listen, ":", ":0,bind=127.0.0.1,", 1), next)
	cmd.Env = append(os.Environ(), "OPENSSL_CONF="+filepath.Join(dir, "openssl.cnf"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	h := &socatHop{cmd: cmd, log: &strings.Builder{}, done: make(chan struct{})}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-h.done
		_ = cmd.Wait()
	})
	r := bufio.NewReader(stderr)
	found := make(chan error, 1)
	go func() {
		defer close(h.done)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				found <- err
				return
			}
			if m := socatListening.FindStringSubmatch(line); m != nil {
				h.addr = m[1]
				found <- nil
				break
			}
		}
		_, _ = io.Copy(h.log, r)
	}()
	// A bound on a socat whose log reads otherwise (another version),
	// not a timing: the test fails instead of hanging; Kill ends the
	// reader.
	select {
	case err := <-found:
		if err != nil {
			tb.Fatalf("socat %s: no listening line: %v", listen, err)
		}
	case <-time.After(time.Minute):
		tb.Fatalf("socat %s: no listening line within a minute", listen)
	}
	return h
}

// socatChain is the socat counterpart of relayChain: the same hops, names
// and addresses.
type socatChain struct {
	addr  string
	procs map[string]*socatHop
}

// startSocatChain starts hops (1 or 2 TLS hops) to target, last hop first,
// in dir, which holds cert.pem (relayCert) and openssl.cnf. Each socat
// process serves one connection.
func startSocatChain(tb testing.TB, dir string, hops int, target string) *socatChain {
	tb.Helper()
	cert := filepath.Join(dir, "cert.pem")
	tlsIn := "OPENSSL-LISTEN:cert=" + cert + ",verify=0"
	tlsOut := func(addr string) string { return "OPENSSL:" + addr + ",cafile=" + cert + ",commonname=127.0.0.1" }
	ch := &socatChain{procs: map[string]*socatHop{}}
	last := "server"
	if hops == 2 {
		last = "agent"
	}
	next := startSocatHop(tb, dir, tlsIn, "TCP:"+target)
	ch.procs[last] = next
	if hops == 2 {
		next = startSocatHop(tb, dir, tlsIn, tlsOut(next.addr))
		ch.procs["server"] = next
	}
	c := startSocatHop(tb, dir, "TCP-LISTEN:", tlsOut(next.addr))
	ch.procs["client"] = c
	ch.addr = c.addr
	return ch
}

// socatDir writes the chain's certificate and OpenSSL configuration into a
// new temporary directory, or skips without socat.
func socatDir(tb testing.TB) string {
	tb.Helper()
	if _, err := exec.LookPath("socat"); err != nil {
		tb.Skip("socat is not installed (apt-get install socat): no OpenSSL floor")
	}
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), []byte(relayCert(tb)), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "openssl.cnf"), []byte(socatOpenSSLConf), 0o600); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// BenchmarkRelayFloorSocat is BenchmarkRelayFloorCLI's one-hop and
// two-hops chains built with socat (OpenSSL: TLS 1.3, AES-128-GCM) instead
// of Go's crypto/tls, same transfer, same metrics: a foreign floor, to
// tell what of the floor's CPU per GB is Go's and what is the machine's
// (AES-GCM, loopback, scheduling). Each round starts its own processes
// (socat serves one connection each), so their handshakes fall in the
// measured CPU as the Go chain's do.
func BenchmarkRelayFloorSocat(b *testing.B) {
	dir := socatDir(b)
	ports := map[string]int{"up": listen(b, sink), "down": listen(b, source)}
	for _, h := range relayVariants[:2] {
		for _, dir2 := range []string{"up", "down"} {
			b.Run(h.name+"/"+dir2, func(b *testing.B) {
				ch := startSocatChain(b, dir, h.hops, fmt.Sprintf("127.0.0.1:%d", ports[dir2]))
				c, err := net.Dial("tcp", ch.addr)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				b.SetBytes(chunk)
				each0 := map[string]time.Duration{}
				for name, p := range ch.procs {
					each0[name] = procstat.CPUTime(p.cmd.Process.Pid)
				}
				ends0 := procstat.CPUTime(os.Getpid())
				moveBytes(b, c, dir2)
				gb := float64(b.N) * chunk / 1e9
				var all time.Duration
				for name, p := range ch.procs {
					d := procstat.CPUTime(p.cmd.Process.Pid) - each0[name]
					all += d
					b.ReportMetric(d.Seconds()/gb, name+"-cpu-s/GB")
				}
				b.ReportMetric(all.Seconds()/gb, "cpu-s/GB")
				b.ReportMetric((procstat.CPUTime(os.Getpid())-ends0).Seconds()/gb, "ends-cpu-s/GB")
			})
		}
	}
}

// TestRelayFloorSocatChain sends 4 MiB of random bytes through the socat
// chains (one and two hops) to an echo target and back, as
// TestRelayFloorChain does for the Go chain, and checks that every TLS
// hop negotiated what the floor claims: TLS 1.3 with AES-128-GCM.
func TestRelayFloorSocatChain(t *testing.T) {
	dir := socatDir(t)
	target := fmt.Sprintf("127.0.0.1:%d", listen(t, echo))
	for _, h := range relayVariants[:2] {
		t.Run(h.name, func(t *testing.T) {
			ch := startSocatChain(t, dir, h.hops, target)
			wantEchoed(t, ch.addr)
			// Every hop's log is complete once its process ended: the
			// stream's end went through, so each one exits.
			for name, p := range ch.procs {
				select {
				case <-p.done:
				case <-time.After(time.Minute):
					t.Fatalf("socat %s did not end after the stream's end", name)
				}
				log := p.log.String()
				// The client hop accepts plain TCP; it is the TLS client
				// of the next, and logs the suite too.
				if !strings.Contains(log, "SSL proto version used: TLSv1.3") || !strings.Contains(log, "SSL connection using TLS_AES_128_GCM_SHA256") {
					t.Errorf("socat %s did not negotiate TLS 1.3 AES-128-GCM:\n%s", name, log)
				}
			}
		})
	}
}
