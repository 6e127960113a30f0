package tunnelbench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/testutil/posternbin"
)

// proc is a running postern process.
type proc = posternbin.Proc

// startProc starts the binary with args; at cleanup it gets SIGTERM, then
// SIGKILL after 20 s.
func startProc(b testing.TB, env []string, args ...string) *proc {
	b.Helper()
	return posternbin.Start(b, env, args...)
}

// serverProcs is `postern server` (no embedded agent) and one `postern
// endpoint-agent` joined to an endpoint whose VPC holds 127.0.0.0/24.
type serverProcs struct {
	server, agent *proc
	dataDir       string
	env           []string // the client environment
	endpointID    string
	dnsName       string
	localInstance string // the server's own machine (embedded agent), or ""
	localEndpoint string // its endpoint
}

func (s *serverProcs) cli(b testing.TB, v any, args ...string) {
	b.Helper()
	cmd := exec.Command(posternBinary(b), args...)
	cmd.Env = s.env
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		b.Fatalf("postern %s: %v: %s%s\nserver:\n%s", strings.Join(args, " "), err, out, stderr, s.server.Out.String())
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			b.Fatalf("postern %s: %q: %v", strings.Join(args, " "), out, err)
		}
	}
}

// agentTunnels is the agent's open tunnel count as the server reports it.
func (s *serverProcs) agentTunnels(b testing.TB) int {
	var out struct {
		EndpointAgents []struct {
			State   string
			Tunnels int
		}
	}
	s.cli(b, &out, "ec2", "describe-endpoint-agents", "--instance-connect-endpoint-id", s.endpointID)
	n := -1
	for _, a := range out.EndpointAgents {
		if a.State == "connected" {
			n = max(n, 0) + a.Tunnels
		}
	}
	return n
}

var (
	runningOn     = regexp.MustCompile(`Postern is running on (\S+)`)
	localInstance = regexp.MustCompile(`This machine is instance (\S+) behind endpoint (\S+) `)
)

func startServerProcs(b testing.TB, concurrency int) *serverProcs {
	return startServerProcsWith(b, concurrency, false)
}

// startServerProcsWith is startServerProcs; with embedded the server also
// serves its own machine (the one-hop path, localInstance).
func startServerProcsWith(b testing.TB, concurrency int, embedded bool) *serverProcs {
	b.Helper()
	dir := b.TempDir()
	s := &serverProcs{dataDir: filepath.Join(dir, "data")}
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		b.Fatal(err)
	}
	// Issue 17's method: every port open, the audit file's copy of the
	// trail off (audit.file: none). Every record is still committed to
	// the store before the tunnel's first byte; the JSON Lines copy is an
	// extra fsync'd file whose cost is the operator's choice.
	yaml := fmt.Sprintf("version: 1\nlog_level: warn\naudit:\n  file: none\ntunnel:\n  ports: [\"*\"]\n  concurrency_per_endpoint: %d\nagent:\n  embedded: %t\n", concurrency, embedded)
	if err := os.WriteFile(filepath.Join(s.dataDir, "postern.yaml"), []byte(yaml), 0o600); err != nil {
		b.Fatal(err)
	}
	// gctrace: each process logs its live heap after every collection.
	procEnv := append(cleanEnv(), "GODEBUG=gctrace=1")
	s.server = startProc(b, procEnv, "server", "--data-dir", s.dataDir, "--listen", "127.0.0.1:0")
	s.server.WaitFor(b, "the server to start", 60*time.Second, func() bool {
		return strings.Contains(s.server.Out.String(), "postern sts get-caller-identity")
	})
	if m := localInstance.FindStringSubmatch(s.server.Out.String()); m != nil {
		s.localInstance, s.localEndpoint = m[1], m[2]
	}
	s.env = append(cleanEnv(),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(s.dataDir, "credentials"),
		"AWS_CONFIG_FILE="+filepath.Join(s.dataDir, "config"),
		"AWS_PROFILE=postern")

	var vpc struct{ Vpc struct{ VpcId string } }
	s.cli(b, &vpc, "ec2", "create-vpc", "--cidr-block", "127.0.0.0/16")
	var subnet struct{ Subnet struct{ SubnetId string } }
	s.cli(b, &subnet, "ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", "127.0.0.0/24")
	var ep struct {
		InstanceConnectEndpoint struct{ InstanceConnectEndpointId, DnsName string }
	}
	s.cli(b, &ep, "ec2", "create-instance-connect-endpoint", "--subnet-id", subnet.Subnet.SubnetId)
	s.endpointID, s.dnsName = ep.InstanceConnectEndpoint.InstanceConnectEndpointId, ep.InstanceConnectEndpoint.DnsName
	var tok struct{ JoinToken string }
	s.cli(b, &tok, "ec2", "create-endpoint-join-token", "--instance-connect-endpoint-id", s.endpointID)

	s.agent = startProc(b, procEnv, "endpoint-agent", "--state-dir", filepath.Join(dir, "agent"),
		"--join-token", tok.JoinToken, "--allow-loopback", "--log-level", "warn", "--drain-timeout", "1s")
	s.agent.WaitFor(b, "the agent to connect", 60*time.Second, func() bool { return s.agentTunnels(b) >= 0 })
	return s
}

// dialer is a tunnel dialer for the administrator, from the data directory's
// files.
func (s *serverProcs) dialer(b testing.TB) *client.Dialer {
	b.Helper()
	creds, err := os.ReadFile(filepath.Join(s.dataDir, "credentials"))
	if err != nil {
		b.Fatal(err)
	}
	var akid, secret string
	for _, line := range strings.Split(string(creds), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			switch strings.TrimSpace(k) {
			case "aws_access_key_id":
				akid = strings.TrimSpace(v)
			case "aws_secret_access_key":
				secret = strings.TrimSpace(v)
			}
		}
	}
	ca, err := os.ReadFile(filepath.Join(s.dataDir, "ca.pem"))
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	return &client.Dialer{Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
		Region: "us-east-1", TLS: &tls.Config{RootCAs: roots}}
}

// lastGCHeapMB is the live heap after the process's last collection, from
// its gctrace lines ("gc N @…: …, A->B->C MB, …"); 0 before the first
// collection. The figure is in whole MB and as of that collection.
func lastGCHeapMB(out string) float64 {
	re := regexp.MustCompile(`(?m)^gc \d+ @.*?(\d+)->(\d+)->(\d+) MB`)
	m := re.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0 // no collection yet: the live heap is below the first goal (4 MB)
	}
	v, _ := strconv.ParseFloat(m[len(m)-1][3], 64)
	return v
}

// forcedGC reports whether out logs a forced collection after offset
// (gctrace's "(forced)": the idle release of package idlemem, or
// debug.FreeOSMemory otherwise).
func forcedGC(out string, offset int) bool {
	return offset <= len(out) && regexp.MustCompile(`(?m)^gc \d+ @.*\(forced\)`).MatchString(out[offset:])
}

// awaitRelease waits up to timeout for each of ps to log a forced
// collection after its output's length in offsets (a process that
// released its free memory once its tunnels stopped opening) and returns
// which did. Binaries without the idle release (older ones) never do:
// they are read after the timeout, idle as long.
func awaitRelease(ps []*proc, offsets []int, timeout time.Duration) []bool {
	done := make([]bool, len(ps))
	deadline := time.Now().Add(timeout)
	for {
		all := true
		for i, p := range ps {
			done[i] = done[i] || forcedGC(p.Out.String(), offsets[i])
			all = all && done[i]
		}
		if all || time.Now().After(deadline) {
			return done
		}
		time.Sleep(50 * time.Millisecond) // bounded by timeout: a measurement's idle wait
	}
}

// outLen is the length of each process's output so far.
func outLen(ps ...*proc) []int {
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = len(p.Out.String())
	}
	return out
}

// releaseWait bounds the wait for a process's idle release: its quiet
// period plus its interval (idlemem's defaults: 1 s, then at most one
// release per 10 s or 20 times the last one's duration) with room.
const releaseWait = 30 * time.Second

// tunnelCount is N: POSTERN_BENCH_TUNNELS or 1,000.
func tunnelCount(b testing.TB) int {
	n := 1000
	if s := os.Getenv("POSTERN_BENCH_TUNNELS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("POSTERN_BENCH_TUNNELS=%q is not a positive number", s)
		}
	}
	return n
}

// BenchmarkConcurrentTunnels holds N tunnels open at once through one
// endpoint: the server and the agent run as their own processes of the
// built binary (`postern server` with agent.embedded false, `postern
// endpoint-agent --allow-loopback`), the echo target in a helper process,
// the clients in this process (64 openers at once). Each tunnel echoes one
// byte and stays open, idle (its client reading, which answers the
// server's pings). It reports failures (must be 0), tunnels/s
// while opening, and for the server and the agent separately the PSS
// growth per open tunnel (KiB, /proc/PID/smaps_rollup, each settled) and
// the growth of the live heap after the last GC (gctrace) per tunnel.
// Before the baseline reading, 64 tunnels are opened and closed to warm
// up. Both readings are of idle processes: each is taken once the server
// and the agent have given their free memory back (package idlemem: a
// forced collection in their gctrace, about a second after the last
// tunnel opened or closed), or after releaseWait for binaries that do
// not. N is 1,000 or POSTERN_BENCH_TUNNELS; one round whatever b.N is.
func BenchmarkConcurrentTunnels(b *testing.B) {
	n := tunnelCount(b)
	if lim := raiseNoFile(uint64(n)*2 + 1024); lim < uint64(n)+512 {
		b.Fatalf("RLIMIT_NOFILE is %d; %d tunnels need about %d", lim, n, n+512)
	}
	s := startServerProcs(b, n+1000)
	echoAddrs := startEchoProcessAll(b)
	// Tunnels are spread over several loopback addresses on both sides
	// (client → server and agent → target), each pair of addresses having
	// about 28,000 ephemeral ports: 100,000 tunnels need several.
	var dialers []*client.Dialer
	var targets []client.Target
	for i, a := range echoAddrs {
		d := s.dialer(b)
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i))}
		dialers = append(dialers, d)
		targets = append(targets, client.Target{EndpointID: s.endpointID, DNSName: s.dnsName, PrivateIP: a.IP.String(), RemotePort: a.Port})
	}
	ctx := context.Background()
	const openers = 64

	open := func(count int) ([]*client.Tunnel, int64, error) {
		tuns := make([]*client.Tunnel, count)
		var failures atomic.Int64
		var firstErr atomic.Value
		next := atomic.Int64{}
		var wg sync.WaitGroup
		for range openers {
			wg.Go(func() {
				buf := []byte{'x'}
				for {
					i := int(next.Add(1)) - 1
					if i >= count {
						return
					}
					tun, err := dialers[i%len(dialers)].Dial(ctx, targets[i%len(targets)])
					if err == nil {
						_ = tun.SetReadDeadline(time.Now().Add(30 * time.Second))
						if _, err = tun.Write(buf); err == nil {
							_, err = io.ReadFull(tun, buf)
						}
						_ = tun.SetReadDeadline(time.Time{})
						if err != nil {
							tun.Close()
						}
					}
					if err != nil {
						failures.Add(1)
						firstErr.CompareAndSwap(nil, err)
						continue
					}
					tuns[i] = tun
					// An idle client still reads, as a real one does: its
					// Read answers the server's pings (every 30 s to a
					// silent client), without which the server ends the
					// tunnel after 90 s (ClientTimeout), before a large N
					// has finished opening.
					go func() { _, _ = io.Copy(io.Discard, tun) }()
				}
			})
		}
		wg.Wait()
		err, _ := firstErr.Load().(error)
		return tuns, failures.Load(), err
	}
	closeAll := func(tuns []*client.Tunnel) {
		for _, t := range tuns {
			if t != nil {
				t.Close()
			}
		}
	}
	waitTunnels := func(want int) {
		s.server.WaitFor(b, fmt.Sprintf("the server to count %d open tunnels", want), 60*time.Second,
			func() bool { return s.agentTunnels(b) == want })
	}

	// Warm up, then the baseline.
	warm, f, err := open(openers)
	if f > 0 {
		b.Fatalf("warm-up: %d failures, first: %v", f, err)
	}
	offsets := outLen(s.server, s.agent)
	closeAll(warm)
	waitTunnels(0)
	rel0 := awaitRelease([]*proc{s.server, s.agent}, offsets, releaseWait)
	type reading struct {
		pss    int64
		heapMB float64
		fds    int
	}
	read := func(p *proc) reading {
		pss, err := settledPSS(p.Cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		return reading{pss: pss, heapMB: lastGCHeapMB(p.Out.String()), fds: fdCount(p.Cmd.Process.Pid)}
	}
	srv0, agt0 := read(s.server), read(s.agent)

	b.ResetTimer()
	start := time.Now()
	tuns, failures, firstErr := open(n)
	elapsed := time.Since(start)
	b.StopTimer()
	defer closeAll(tuns)
	if failures > 0 {
		b.Errorf("%d of %d tunnels failed; first: %v", failures, n, firstErr)
	}
	offsets = outLen(s.server, s.agent)
	waitTunnels(n - int(failures))
	rel1 := awaitRelease([]*proc{s.server, s.agent}, offsets, releaseWait)
	srv1, agt1 := read(s.server), read(s.agent)
	b.Logf("idle release seen (server, agent): before the baseline %v, after opening %v", rel0, rel1)

	open1 := float64(n - int(failures))
	b.ReportMetric(float64(n), "tunnels")
	b.ReportMetric(float64(failures), "failures")
	b.ReportMetric(open1/elapsed.Seconds(), "tunnels/s")
	b.ReportMetric(float64(srv1.pss-srv0.pss)/open1, "server-KiB/tunnel")
	b.ReportMetric(float64(agt1.pss-agt0.pss)/open1, "agent-KiB/tunnel")
	b.ReportMetric((srv1.heapMB-srv0.heapMB)*1024/open1, "server-heap-KiB/tunnel")
	b.ReportMetric((agt1.heapMB-agt0.heapMB)*1024/open1, "agent-heap-KiB/tunnel")
	b.Logf("N=%d opened in %v; server PSS %d→%d KiB, fds %d→%d, last-GC heap %.0f→%.0f MB; agent PSS %d→%d KiB, fds %d→%d, last-GC heap %.0f→%.0f MB",
		n, elapsed.Round(time.Millisecond), srv0.pss, srv1.pss, srv0.fds, srv1.fds, srv0.heapMB, srv1.heapMB,
		agt0.pss, agt1.pss, agt0.fds, agt1.fds, agt0.heapMB, agt1.heapMB)
}
