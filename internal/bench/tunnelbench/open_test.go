package tunnelbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/sshdtest"
	"github.com/postern/postern/internal/testutil/syncbuf"
)

// BenchmarkTunnelOpen opens b.N connections one after the other, each
// timed from the start of the dial to the first echoed byte, then closed
// (the close is not timed): direct (TCP dial), postern1 and postern2
// (client.Dialer.Dial: TLS handshake, presigned WebSocket upgrade, the
// server's checks, audit record, the agent's dial). Reports p50-ms and
// p99-ms.
func BenchmarkTunnelOpen(b *testing.B) {
	port := listen(b, echo)
	p := startPostern(b)
	type dialFunc func(ctx context.Context) (io.ReadWriteCloser, error)
	cases := []struct {
		name string
		dial dialFunc
	}{
		{"direct", func(ctx context.Context) (io.ReadWriteCloser, error) { return dialTCP(ctx, port) }},
		{"postern1", func(ctx context.Context) (io.ReadWriteCloser, error) { return p.dial(ctx, p.oneHop(port)) }},
		{"postern2", func(ctx context.Context) (io.ReadWriteCloser, error) { return p.dial(ctx, p.twoHops(port)) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			lat := make(latencies, 0, b.N)
			buf := []byte{'x'}
			for range b.N {
				start := time.Now()
				conn, err := c.dial(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := conn.Write(buf); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(conn, buf); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				b.StopTimer()
				closeGracefully(conn)
				b.StartTimer()
			}
			lat.report(b)
		})
	}
}

// closeGracefully half-closes conn, waits (bounded) for the other side's
// end, and closes it, as a finished ssh session would.
func closeGracefully(c io.ReadWriteCloser) {
	type closeWriter interface{ CloseWrite() error }
	type deadliner interface{ SetReadDeadline(time.Time) error }
	if cw, ok := c.(closeWriter); ok {
		_ = cw.CloseWrite()
		if d, ok := c.(deadliner); ok {
			_ = d.SetReadDeadline(time.Now().Add(5 * time.Second))
		}
		_, _ = io.Copy(io.Discard, c)
	}
	_ = c.Close()
}

// BenchmarkTunnelOpenCLI runs `postern ec2-instance-connect open-tunnel`
// in stdin/stdout mode b.N times against `postern server` (its embedded
// agent: postern1) and `postern endpoint-agent` (postern2), timed from
// exec to the first byte echoed back on its stdout; then its stdin is
// closed and it must exit 0 (not timed). The client process finds its
// server and credentials only through AWS_SHARED_CREDENTIALS_FILE,
// AWS_CONFIG_FILE and AWS_PROFILE=postern.
//
//	postern1         --private-ip-address, --instance-connect-endpoint-id
//	                 and --instance-connect-endpoint-dns-name: no lookup
//	postern1-lookup  --instance-id: DescribeInstances and
//	                 DescribeInstanceConnectEndpoints first, as ssh's
//	                 ProxyCommand usually runs it
//	postern2         flags, through the remote agent
//	postern1-lookup-local  --instance-id with --local-port: exec to the
//	                 first byte echoed through a connection to that port
//	exec             baseline: `postern version` from exec to exit
func BenchmarkTunnelOpenCLI(b *testing.B) {
	bin := posternBinary(b)
	port := listen(b, echo)
	s := startServerProcsWith(b, 1<<20, true)
	if s.localInstance == "" {
		b.Fatalf("the server did not say which instance it serves:\n%s", s.server.Out.String())
	}
	env := s.env
	flags := func(ep, dns string) []string {
		return []string{"ec2-instance-connect", "open-tunnel", "--private-ip-address", "127.0.0.1",
			"--instance-connect-endpoint-id", ep, "--instance-connect-endpoint-dns-name", dns, "--remote-port", strconv.Itoa(port)}
	}
	cases := []struct {
		name string
		args []string
	}{
		{"postern1", flags(s.localEndpoint, s.dnsName)},
		{"postern1-lookup", []string{"ec2-instance-connect", "open-tunnel", "--instance-id", s.localInstance, "--remote-port", strconv.Itoa(port)}},
		// Both look-ups, independent of each other: made concurrently.
		{"postern1-lookup-byid", []string{"ec2-instance-connect", "open-tunnel", "--instance-id", s.localInstance,
			"--instance-connect-endpoint-id", s.localEndpoint, "--remote-port", strconv.Itoa(port)}},
		{"postern2", flags(s.endpointID, s.dnsName)},
		{"postern1-lookup-local", []string{"ec2-instance-connect", "open-tunnel", "--instance-id", s.localInstance, "--remote-port", strconv.Itoa(port)}},
	}
	// POSTERN_BENCH_CLIENT_B names a second client binary: each exec then
	// alternates between the two (A/B in one run, against one server),
	// and the B figures are reported beside A's with a "B-" prefix.
	clients := []string{bin}
	if p := os.Getenv("POSTERN_BENCH_CLIENT_B"); p != "" {
		clients = append(clients, p)
	}
	b.Run("exec", func(b *testing.B) {
		ab := newABLatencies(len(clients), b.N)
		for i := range b.N {
			for _, j := range abOrder(len(clients), i) {
				c := clients[j]
				start := time.Now()
				cmd := exec.Command(c, "version")
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("postern version: %v: %s", err, out)
				}
				ab.add(j, time.Since(start), cmd.ProcessState)
			}
		}
		ab.report(b)
	})
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ab := newABLatencies(len(clients), b.N)
			for i := range b.N {
				run := openCLI
				if strings.HasSuffix(c.name, "-local") {
					run = openCLILocal
				}
				for _, j := range abOrder(len(clients), i) {
					d, ps, err := run(clients[j], env, c.args)
					if err != nil {
						b.Fatal(err)
					}
					ab.add(j, d, ps)
				}
			}
			ab.report(b)
		})
	}
}

// abOrder is the order of n (1 or 2) binaries in round i: A B, then B A,
// so that neither is always the one that runs while the server still
// finishes the other's tunnel (its CloseTunnel record).
func abOrder(n, i int) []int {
	if n == 2 && i%2 == 1 {
		return []int{1, 0}
	}
	if n == 2 {
		return []int{0, 1}
	}
	return []int{0}
}

// abLatencies are the latencies and CPU times of one or two client
// binaries run alternately.
type abLatencies struct {
	wall, cpu []latencies
	faults    [][]int64 // minor page faults per exec
}

func newABLatencies(n, iters int) *abLatencies {
	ab := &abLatencies{wall: make([]latencies, n), cpu: make([]latencies, n), faults: make([][]int64, n)}
	for j := range n {
		ab.wall[j] = make(latencies, 0, iters)
		ab.cpu[j] = make(latencies, 0, iters)
	}
	return ab
}

func (ab *abLatencies) add(j int, wall time.Duration, ps *os.ProcessState) {
	ab.wall[j] = append(ab.wall[j], wall)
	ab.cpu[j] = append(ab.cpu[j], ps.UserTime()+ps.SystemTime())
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		ab.faults[j] = append(ab.faults[j], ru.Minflt)
	}
}

// report reports A's p50/p99 wall time and p50 CPU (user + system) per
// exec and the median of its minor page faults, and B's beside them.
func (ab *abLatencies) report(b *testing.B) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for j := range ab.wall {
		if len(ab.wall[j]) == 0 {
			continue
		}
		prefix := ""
		if j == 1 {
			prefix = "B-"
		}
		b.ReportMetric(ms(ab.wall[j].percentile(50)), prefix+"p50-ms")
		b.ReportMetric(ms(ab.wall[j].percentile(99)), prefix+"p99-ms")
		b.ReportMetric(ms(ab.cpu[j].percentile(50)), prefix+"cpu-p50-ms")
		if f := slices.Clone(ab.faults[j]); len(f) > 0 {
			slices.Sort(f)
			b.ReportMetric(float64(f[len(f)/2]), prefix+"faults-p50")
		}
	}
}

// openCLI runs one open-tunnel process: exec, write one byte to its stdin,
// time until that byte comes back on its stdout, close stdin, wait for a
// clean exit (bounded). It returns the wall time to the echoed byte and
// the process's state (its CPU time and page faults over its whole run).
func openCLI(bin string, env, args []string) (time.Duration, *os.ProcessState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, nil, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	buf := []byte{'x'}
	_, err = stdin.Write(buf)
	if err == nil {
		_, err = io.ReadFull(stdout, buf)
	}
	d := time.Since(start)
	stdin.Close()
	_, _ = io.Copy(io.Discard, stdout)
	werr := cmd.Wait()
	if err != nil || werr != nil {
		return 0, nil, fmt.Errorf("postern %v: %v / %v\n%s", args, err, werr, stderr.String())
	}
	return d, cmd.ProcessState, nil
}

// openCLILocal runs one open-tunnel process with --local-port (a port the
// kernel just had free): exec, wait until the process says it listens
// (bounded polling of its output), connect, write one byte, time until it
// comes back; then interrupt the process, which must exit 130. If the
// process exits before it listens (someone took the port between the
// check and its bind), it is run again on another port, at most three
// times; the port is never dialled before our process holds it, so a
// foreign listener that took it is never measured.
func openCLILocal(bin string, env, args []string) (time.Duration, *os.ProcessState, error) {
	for attempt := 1; ; attempt++ {
		d, ps, listened, err := openCLILocalOnce(bin, env, args)
		if err == nil || listened || attempt == 3 {
			return d, ps, err
		}
	}
}

// openCLILocalOnce is one attempt of openCLILocal; listened reports
// whether the process got as far as listening on the port.
func openCLILocalOnce(bin string, env, args []string) (d time.Duration, ps *os.ProcessState, listened bool, err error) {
	port, err := freePortErr()
	if err != nil {
		return 0, nil, false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(slices.Clone(args), "--local-port", strconv.Itoa(port))...)
	cmd.Env = env
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, nil, false, err
	}
	exited := make(chan struct{})
	var werr error
	go func() { werr = cmd.Wait(); close(exited) }()
	for !listened && ctx.Err() == nil {
		if strings.Contains(out.String(), "Listening for connections on port") {
			listened = true
			break
		}
		select {
		case <-exited:
			return 0, nil, false, fmt.Errorf("postern %v exited before listening on port %d: %v\n%s", args, port, werr, out.String())
		case <-time.After(100 * time.Microsecond):
		}
	}
	var conn net.Conn
	if err = ctx.Err(); err == nil {
		conn, err = net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	}
	buf := []byte{'x'}
	if err == nil {
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err = conn.Write(buf); err == nil {
			_, err = io.ReadFull(conn, buf)
		}
	}
	d = time.Since(start)
	if conn != nil {
		conn.Close()
	}
	_ = cmd.Process.Signal(os.Interrupt)
	<-exited
	// Interrupted, it exits 130, as the AWS CLI does after Ctrl-C.
	if ee := (*exec.ExitError)(nil); errors.As(werr, &ee) && ee.ExitCode() == 130 {
		werr = nil
	}
	if err != nil || werr != nil {
		return 0, nil, listened, fmt.Errorf("postern %v: %v / %v\n%s", args, err, werr, out.String())
	}
	return d, cmd.ProcessState, true, nil
}

// freePortErr returns a port the kernel just had free on 127.0.0.1 (the
// caller must cope with someone taking it before its child binds).
func freePortErr() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// BenchmarkSSHSessionOpen is the bastion's open latency: a new `ssh …
// true` session to the sshd (key exchange, authentication, a session
// channel running true), timed from exec to exit.
func BenchmarkSSHSessionOpen(b *testing.B) {
	if why := sshMissing(); why != "" {
		b.Skip(why)
	}
	sshd := sshdtest.Start(b, sshdtest.Options{})
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		cmd := sshd.Command(context.Background(), "", "", "true")
		cmd.Env = cleanEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("ssh true: %v: %s\nsshd log:\n%s", err, out, sshd.Log())
		}
		lat = append(lat, time.Since(start))
	}
	lat.report(b)
}
