package tunnelbench

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/posternbin"
	"github.com/postern/postern/internal/testutil/procstat"
)

// localClient is a running `postern ec2-instance-connect open-tunnel
// --local-port` process and the port it listens on.
type localClient struct {
	p    *proc
	port int
}

// startLocalClient starts open-tunnel with args plus --local-port on a port
// the kernel just had free (retried when someone took it) and waits until
// it listens.
func startLocalClient(b testing.TB, env []string, args ...string) *localClient {
	b.Helper()
	for attempt := 0; ; attempt++ {
		port := freePort(b)
		a := append(append([]string{"ec2-instance-connect", "open-tunnel"}, args...),
			"--local-port", strconv.Itoa(port), "--max-websocket-connections", "100000")
		// The client build (make client, postern-client-OS-ARCH): what
		// workstations install.
		p := posternbin.StartBinary(b, posternbin.ClientPath(b), env, a...)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if strings.Contains(p.Out.String(), "Listening for connections on port") {
				return &localClient{p: p, port: port}
			}
			select {
			case <-p.Done:
				deadline = time.Time{}
			case <-time.After(5 * time.Millisecond):
			}
		}
		if attempt == 2 {
			b.Fatalf("open-tunnel --local-port did not start:\n%s", p.Out.String())
		}
	}
}

// BenchmarkTunnelOpenLocalPort is the open through a running client, on
// the binaries as a user runs them: `postern server` (its embedded agent
// is the one-hop path), `postern endpoint-agent` (the two-hop path) and
// one `postern ec2-instance-connect open-tunnel --local-port` per path.
// b.N new local connections are made one after the other, each timed
// from the start of the local dial to the first echoed byte, then closed
// (not timed). Baselines: direct (TCP dial to the echo target) and ssh
// (a new connection to a running `ssh -L` bastion forward). Reports
// p50-ms and p99-ms, and for the Postern paths the CPU each process
// spent per open.
func BenchmarkTunnelOpenLocalPort(b *testing.B) {
	port := listen(b, echo)
	s := startServerProcsWith(b, 1<<20, true)
	if s.localInstance == "" {
		b.Fatalf("the server did not say which instance it serves:\n%s", s.server.Out.String())
	}
	rp := strconv.Itoa(port)
	one := startLocalClient(b, s.env, "--instance-id", s.localInstance, "--remote-port", rp)
	two := startLocalClient(b, s.env, "--private-ip-address", "127.0.0.1", "--instance-connect-endpoint-id", s.endpointID,
		"--instance-connect-endpoint-dns-name", s.dnsName, "--remote-port", rp)
	ssh := path{name: "ssh", skip: sshMissing()}
	if ssh.skip == "" {
		br := startBastion(b, port)
		ssh.dial = func(ctx context.Context, port int) (io.ReadWriteCloser, error) { return dialTCP(ctx, br.ports[port]) }
	}
	cases := []path{
		{name: "direct", dial: dialTCP},
		ssh,
		{name: "postern1", dial: func(ctx context.Context, _ int) (io.ReadWriteCloser, error) { return dialTCP(ctx, one.port) }},
		{name: "postern2", dial: func(ctx context.Context, _ int) (io.ReadWriteCloser, error) { return dialTCP(ctx, two.port) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if c.skip != "" {
				b.Skip(c.skip)
			}
			ctx := context.Background()
			dial := func() (io.ReadWriteCloser, error) { return c.dial(ctx, port) }
			said := func() string {
				return fmt.Sprintf("\nserver:\n%s\nclients:\n%s\n%s", s.server.Out.String(), one.p.Out.String(), two.p.Out.String())
			}
			once := func() time.Duration { return openEchoOnce(b, c.name, dial, said) }
			once() // warm-up: the first tunnel of a process pays its one-time costs
			procs := map[string]*proc{"server": s.server, "agent": s.agent, "client": one.p}
			if c.name == "postern2" {
				procs["client"] = two.p
			}
			cpu0 := map[string]time.Duration{}
			for k, p := range procs {
				cpu0[k] = procstat.CPUTime(p.Cmd.Process.Pid)
			}
			lat := make(latencies, 0, b.N)
			b.ResetTimer()
			for range b.N {
				lat = append(lat, once())
			}
			b.StopTimer()
			lat.report(b)
			if strings.HasPrefix(c.name, "postern") {
				// CPU per open, less noisy than latency on a shared machine.
				for k, p := range procs {
					d := procstat.CPUTime(p.Cmd.Process.Pid) - cpu0[k]
					b.ReportMetric(float64(d.Microseconds())/float64(b.N), k+"-cpu-us/open")
				}
			}
		})
	}
}

// binaryPaths is the server and agent processes with one `open-tunnel
// --local-port` client per path and target port.
type binaryPaths struct {
	s       *serverProcs
	clients map[string]map[int]*localClient // path name → target port → client
}

// startBinaryPaths starts `postern server` (embedded agent: postern1),
// `postern endpoint-agent` (postern2) and, for each target port, one
// open-tunnel --local-port client per path.
func startBinaryPaths(b testing.TB, targets ...int) *binaryPaths {
	b.Helper()
	s := startServerProcsWith(b, 1<<20, true)
	if s.localInstance == "" {
		b.Fatalf("the server did not say which instance it serves:\n%s", s.server.Out.String())
	}
	bp := &binaryPaths{s: s, clients: map[string]map[int]*localClient{"postern1": {}, "postern2": {}}}
	for _, port := range targets {
		rp := strconv.Itoa(port)
		bp.clients["postern1"][port] = startLocalClient(b, s.env, "--instance-id", s.localInstance, "--remote-port", rp)
		bp.clients["postern2"][port] = startLocalClient(b, s.env, "--private-ip-address", "127.0.0.1",
			"--instance-connect-endpoint-id", s.endpointID, "--instance-connect-endpoint-dns-name", s.dnsName, "--remote-port", rp)
	}
	return bp
}

// procs is the processes a path's bytes go through: the client of the
// target port, the server and, for two hops, the agent.
func (bp *binaryPaths) procs(name string, port int) map[string]*proc {
	m := map[string]*proc{"client": bp.clients[name][port].p, "server": bp.s.server}
	if name == "postern2" {
		m["agent"] = bp.s.agent
	}
	return m
}

// pathsOf is direct TCP, the ssh -L bastion (when OpenSSH is installed)
// and the two Postern paths through their local clients.
func (bp *binaryPaths) pathsOf(b testing.TB, targets ...int) []path {
	ssh := path{name: "ssh", skip: sshMissing()}
	if ssh.skip == "" {
		br := startBastion(b, targets...)
		ssh.dial = func(ctx context.Context, port int) (io.ReadWriteCloser, error) { return dialTCP(ctx, br.ports[port]) }
	}
	out := []path{{name: "direct", dial: dialTCP}, ssh}
	for _, name := range []string{"postern1", "postern2"} {
		out = append(out, path{name: name, dial: func(ctx context.Context, port int) (io.ReadWriteCloser, error) {
			return dialTCP(ctx, bp.clients[name][port].port)
		}})
	}
	return out
}

// cpuOf is the CPU time the processes used so far.
func cpuOf(ps map[string]*proc) time.Duration {
	var d time.Duration
	for _, p := range ps {
		d += procstat.CPUTime(p.Cmd.Process.Pid)
	}
	return d
}

// cpuEach is the CPU time each of the processes has used so far, by name.
func cpuEach(ps map[string]*proc) map[string]time.Duration {
	m := make(map[string]time.Duration, len(ps))
	for name, p := range ps {
		m[name] = procstat.CPUTime(p.Cmd.Process.Pid)
	}
	return m
}

// BenchmarkTunnelThroughputCLI is BenchmarkTunnelThroughput on the
// binaries as a user runs them: b.N × 64 KiB through one connection to a
// running `open-tunnel --local-port` (postern1: the server's embedded
// agent; postern2: a separate `postern endpoint-agent`), beside direct
// TCP and an `ssh -L` forward. For the Postern paths it also reports the
// CPU the path's processes (client, server, agent) spent per GB moved,
// in all and each.
func BenchmarkTunnelThroughputCLI(b *testing.B) {
	sinkPort := listen(b, sink)
	sourcePort := listen(b, source)
	bp := startBinaryPaths(b, sinkPort, sourcePort)
	ps := bp.pathsOf(b, sinkPort, sourcePort)
	for _, dir := range []string{"up", "down"} {
		for _, p := range ps {
			b.Run(dir+"/"+p.name, func(b *testing.B) {
				if p.skip != "" {
					b.Skip(p.skip)
				}
				port := sinkPort
				if dir == "down" {
					port = sourcePort
				}
				var procs map[string]*proc
				if strings.HasPrefix(p.name, "postern") {
					procs = bp.procs(p.name, port)
				}
				c, err := p.dial(context.Background(), port)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				b.SetBytes(chunk)
				cpu0 := cpuOf(procs)
				each0 := cpuEach(procs)
				moveBytes(b, c, dir)
				if procs != nil {
					gb := float64(b.N) * chunk / 1e9
					b.ReportMetric((cpuOf(procs)-cpu0).Seconds()/gb, "cpu-s/GB")
					// Each process's share: a change to one process
					// shows there, above the others' noise.
					for name, d := range cpuEach(procs) {
						b.ReportMetric((d-each0[name]).Seconds()/gb, name+"-cpu-s/GB")
					}
				}
			})
		}
	}
}

// BenchmarkConcurrentLocalPort opens N connections at once (1,000, or
// POSTERN_BENCH_CONNS) through one running `open-tunnel --local-port`,
// each echoing one byte, for each path (direct and ssh -L: the time only). It reports the time until every
// connection had its echo (open-s), failures, the idle path's memory
// before (client, and server plus agent: idle-client-KiB, idle-path-KiB,
// PSS; and of the client: idle-client-anon-KiB, the anonymous part of its
// PSS, its own memory; idle-client-file-KiB, the binary's pages it mapped,
// its share of them; idle-client-alone-KiB, its RSS, what its PSS reads
// with no other process of the same binary, as on a workstation: see
// memParts) and the whole path's PSS growth per open connection
// (path-KiB/conn: client + server + agent), and how the burst went: the
// median and 99th percentile of the time to each echo (echo-p50-ms,
// echo-p99-ms) and the longest time in which no connection had its echo
// (max-stall-ms, see burstTimes).
func BenchmarkConcurrentLocalPort(b *testing.B) {
	n := burstConns(b)
	if lim := raiseNoFile(uint64(n)*4 + 1024); lim < uint64(n)*2+512 {
		b.Fatalf("RLIMIT_NOFILE is %d; %d connections need about %d", lim, n, n*2+512)
	}
	echoPort := startEchoProcess(b)
	bp := startBinaryPaths(b, echoPort)
	for _, pa := range bp.pathsOf(b, echoPort) {
		name := pa.name
		b.Run(name, func(b *testing.B) {
			if pa.skip != "" {
				b.Skip(pa.skip)
			}
			var procs map[string]*proc
			var lc *localClient
			pbp, dial := bp, pa.dial
			if name == "postern2" {
				// Processes of their own: the one-hop step's server keeps
				// the heap its burst grew (until its collector gives it
				// back), and the two-hop burst reusing it made the path's
				// memory per connection read low (23.9 KiB in a run where
				// its three processes grew by ~50).
				pbp = startBinaryPaths(b, echoPort)
				dial = func(ctx context.Context, port int) (io.ReadWriteCloser, error) {
					return dialTCP(ctx, pbp.clients[name][port].port)
				}
			}
			if strings.HasPrefix(name, "postern") {
				procs, lc = pbp.procs(name, echoPort), pbp.clients[name][echoPort]
			}
			ctx := context.Background()
			// done[i] is when connection i had its echo (zero: it failed).
			var done []time.Time
			openAll := func(count int) ([]net.Conn, int, time.Duration) {
				conns, failed, took, d := openBurst(b, count, func() (io.ReadWriteCloser, error) { return dial(ctx, echoPort) })
				done = d
				if failed > 0 && lc != nil {
					var lines []string
					for _, l := range strings.Split(lc.p.Out.String(), "\n") {
						if !strings.Contains(l, "Accepted new tcp") && !strings.Contains(l, "Closing tcp") && len(lines) < 5 {
							lines = append(lines, l)
						}
					}
					b.Logf("the client said: %s", strings.Join(lines, "\n"))
				}
				return conns, failed, took
			}
			waitTunnels := func(want int) {
				pbp.s.server.WaitFor(b, fmt.Sprintf("the client to hold %d tunnels", want), 60*time.Second, func() bool {
					return strings.Count(lc.p.Out.String(), "Closing tcp connection") == strings.Count(lc.p.Out.String(), "Accepted new tcp connection")-want
				})
			}
			if lc == nil { // a baseline: only the time
				conns, failed, took := openAll(n)
				closeConns(conns)
				b.ReportMetric(float64(failed), "failures")
				b.ReportMetric(took.Seconds(), "open-s")
				return
			}
			warm, _, _ := openAll(64)
			closeConns(warm)
			waitTunnels(0)
			pss := func() map[string]int64 {
				m := map[string]int64{}
				for k, p := range procs {
					v, err := settledPSS(p.Cmd.Process.Pid)
					if err != nil {
						b.Fatal(err)
					}
					m[k] = v
				}
				return m
			}
			before := pss()
			// What the idle client's PSS is made of: its own memory
			// (anonymous: heap, stacks, the runtime) and the binary's
			// pages it mapped, which it shares here with the server,
			// the agent and the other client (the same file) and would
			// not on a workstation: there its PSS is its RSS.
			idleClient, err := readMemParts(lc.p.Cmd.Process.Pid)
			if err != nil {
				b.Fatal(err)
			}
			cpuBefore := map[string]time.Duration{}
			for k, p := range procs {
				cpuBefore[k] = procstat.CPUTime(p.Cmd.Process.Pid)
			}
			b.ResetTimer()
			start := time.Now()
			conns, failed, took := openAll(n)
			b.StopTimer()
			defer closeConns(conns)
			for k, p := range procs {
				// CPU per connection opened, each process of the path
				// (clock ticks of 10 ms over all N opens).
				b.ReportMetric(float64(procstat.CPUTime(p.Cmd.Process.Pid)-cpuBefore[k])/float64(time.Millisecond)/float64(n), k+"-cpu-ms/conn")
			}
			// The client gives a burst's memory back once the burst has
			// been over for 50 ms, but not within 1 s of its last such
			// release (the warm-up's, just before): then it does so when
			// that second is over (internal/cli: burstSettle,
			// burstRelease). settledPSS could read a steady PSS before
			// that, so the reading waits it out: what a user sees a moment
			// after a burst, not the burst's garbage.
			time.Sleep(1500 * time.Millisecond)
			after := pss()
			var grow, idle int64
			for k := range procs {
				grow += after[k] - before[k]
				if k != "client" {
					idle += before[k]
				}
			}
			open := float64(n - failed)
			reportBurst(b, n, failed, took, start, done)
			b.ReportMetric(float64(before["client"]), "idle-client-KiB")
			b.ReportMetric(float64(idleClient.anon), "idle-client-anon-KiB")
			b.ReportMetric(float64(idleClient.file), "idle-client-file-KiB")
			b.ReportMetric(float64(idleClient.rss), "idle-client-alone-KiB")
			b.ReportMetric(float64(idle), "idle-path-KiB")
			b.ReportMetric(float64(grow)/open, "path-KiB/conn")
			b.Logf("N=%d opened in %v; PSS before %v, after %v (KiB); idle client %+v (KiB)", n, took.Round(time.Millisecond), before, after, idleClient)
		})
	}
}

// memParts is a process's memory in KiB, from /proc/PID/smaps_rollup:
// its PSS; the anonymous part of the PSS (heap, goroutine stacks, the Go
// runtime's own: the process's memory); the file-backed part (the pages
// of its binary it has mapped, divided among the processes that map them
// too, clean and the kernel's to reclaim); and its RSS, which is what its
// PSS reads when no other process maps the same binary (a client alone on
// a workstation).
type memParts struct {
	pss, anon, file, rss int64
}

// readMemParts reads pid's memParts.
func readMemParts(pid int) (memParts, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return memParts{}, err
	}
	defer f.Close()
	m, err := parseMemParts(f)
	if err != nil {
		return memParts{}, fmt.Errorf("/proc/%d/smaps_rollup: %w", pid, err)
	}
	return m, nil
}

// parseMemParts reads a smaps_rollup file's Pss, Pss_Anon, Pss_File and
// Rss lines (Linux 5.14 and later have the two split ones).
func parseMemParts(r io.Reader) (memParts, error) {
	var m memParts
	fields := map[string]*int64{"Pss": &m.pss, "Pss_Anon": &m.anon, "Pss_File": &m.file, "Rss": &m.rss}
	seen := map[string]bool{}
	data, err := io.ReadAll(r)
	if err != nil {
		return memParts{}, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		dst := fields[k]
		if !ok || dst == nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return memParts{}, fmt.Errorf("%s: %w", k, err)
		}
		*dst, seen[k] = n, true
	}
	for k := range fields {
		if !seen[k] {
			return memParts{}, fmt.Errorf("no %s line", k)
		}
	}
	return m, nil
}

func TestMemParts(t *testing.T) {
	const rollup = `00400000-7ffe21058000 ---p 00000000 00:00 0                              [rollup]
Rss:               54388 kB
Pss:               31935 kB
Pss_Dirty:         31934 kB
Pss_Anon:          15724 kB
Pss_File:          16211 kB
Pss_Shmem:             0 kB
Anonymous:         15724 kB
`
	for _, tc := range []struct {
		name, in string
		want     memParts
		err      bool
	}{
		{"a rollup", rollup, memParts{pss: 31935, anon: 15724, file: 16211, rss: 54388}, false},
		{"an old kernel: no Pss_Anon", strings.Replace(rollup, "Pss_Anon:", "Pss_Anonx:", 1), memParts{}, true},
		{"not a number", strings.Replace(rollup, "31935 kB", "many kB", 1), memParts{}, true},
		{"empty", "", memParts{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMemParts(strings.NewReader(tc.in))
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("parseMemParts = %+v, %v; want %+v, error %t", got, err, tc.want, tc.err)
			}
		})
	}
	// This process's own: the parts add up to its PSS (no shared memory
	// here), which is at most its RSS.
	m, err := readMemParts(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.anon <= 0 || m.file <= 0 || m.pss > m.rss || m.anon+m.file > m.pss+1 || m.anon+m.file < m.pss-1 {
		t.Fatalf("this process's memory reads %+v", m)
	}
}

// burstTimes sums up a burst of connections started together at start,
// done[i] being when connection i had its echo (zero when it failed): the
// median and 99th percentile of the time from start to an echo, and the
// longest stall, the longest time between two consecutive echoes (from
// the first to the last). Connections queue for the client's few opens at
// once, so the percentiles mostly tell how the burst progressed; a stall
// is a pause of the whole path (e.g. a slow disk commit that every open
// waits for).
func burstTimes(start time.Time, done []time.Time) (p50, p99, stall time.Duration) {
	var ds []time.Duration
	for _, t := range done {
		if !t.IsZero() {
			ds = append(ds, t.Sub(start))
		}
	}
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	for i := 1; i < len(ds); i++ {
		stall = max(stall, ds[i]-ds[i-1])
	}
	return ds[len(ds)/2], ds[(len(ds)*99)/100], stall
}

func TestBurstTimes(t *testing.T) {
	start := time.Unix(1000, 0)
	at := func(ms ...int) []time.Time {
		var ts []time.Time
		for _, m := range ms {
			if m < 0 {
				ts = append(ts, time.Time{}) // a failed connection
				continue
			}
			ts = append(ts, start.Add(time.Duration(m)*time.Millisecond))
		}
		return ts
	}
	ms := func(m int) time.Duration { return time.Duration(m) * time.Millisecond }
	for _, tc := range []struct {
		name            string
		done            []time.Time
		p50, p99, stall time.Duration
	}{
		{"none", nil, 0, 0, 0},
		{"all failed", at(-1, -1), 0, 0, 0},
		{"one", at(7), ms(7), ms(7), 0},
		{"out of order, a stall, a failure", at(30, 10, -1, 400, 20), ms(30), ms(400), ms(370)},
		{"even", at(1, 2, 3, 4), ms(3), ms(4), ms(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p50, p99, stall := burstTimes(start, tc.done)
			if p50 != tc.p50 || p99 != tc.p99 || stall != tc.stall {
				t.Errorf("burstTimes = %v, %v, %v; want %v, %v, %v", p50, p99, stall, tc.p50, tc.p99, tc.stall)
			}
		})
	}
}
