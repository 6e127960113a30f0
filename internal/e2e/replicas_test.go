package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
	"github.com/postern/postern/internal/testutil/pgtest"
)

// TestReplicaKilled runs two `postern server` replicas on one PostgreSQL
// database and one external endpoint agent that joined through replica A
// (and so learned of B and linked to it too). A client whose API calls
// and tunnels go to B reaches a target through that agent. Under load on
// both replicas, A is killed with SIGKILL: the tunnel open through B goes
// on, the one through A ends, a new tunnel through B opens within seconds,
// the agent keeps running, and every request either replica answered
// (API calls, opened and refused tunnels) has its audit event in the store.
// It also runs postern open-tunnel as a user would, through A and, after
// the kill, with B's profile to the endpoint's dnsName: the load
// balancer's address, which both replicas advertise.
func TestReplicaKilled(t *testing.T) {
	dsn := pgtest.Start(t)
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// An L4 load balancer in front, as the README says: clients and new
	// agents use its address (every replica's advertise, so endpoints'
	// dnsName); each replica also has its own (replica_address), which
	// agents link to. Replica A on a fresh data directory; B on a copy of
	// it, made once A is ready, so that both have the same secrets.
	lb := startBalancer(t)
	_, lbPort, _ := net.SplitHostPort(lb.addr)
	public := net.JoinHostPort("localhost", lbPort)
	root := t.TempDir()
	dirA, dirB := filepath.Join(root, "a"), filepath.Join(root, "b")
	startReplica := func(dir string, prepare func()) *serverProc {
		t.Helper()
		ln := reservePort(t, netip.MustParseAddr("127.0.0.1"))
		_, port, _ := net.SplitHostPort(ln.addr)
		if prepare != nil {
			prepare()
		}
		writeServerConfig(t, dir, fmt.Sprintf("version: 1\ndatabase: '%s'\nadvertise: %s\nreplica_address: %s\ntunnel:\n  ports: [\"*\"]\n",
			strings.ReplaceAll(dsn, "'", "''"), public, net.JoinHostPort("localhost", port)))
		p := startServerOn(t, dir, []*reservedPort{ln})
		// The replica holds the port now; the test lets go of it, so
		// that A's kill makes its address refuse connections.
		ln.release()
		return p
	}
	a := startReplica(dirA, nil)
	b := startReplica(dirB, func() { copyDataDir(t, dirA, dirB) })
	addrA, addrB := strings.TrimPrefix(a.url, "https://"), strings.TrimPrefix(b.url, "https://")
	lb.setBackends(addrA, addrB) // A first: the agent joins through A
	var ag *replicaAgent
	logs := func() string {
		s := "--- replica A output:\n" + a.output() + "\n--- replica B output:\n" + b.output()
		if ag != nil {
			s += "\n--- agent output:\n" + ag.output()
		}
		return s
	}

	// The store as a third party sees it. Each replica announces, for
	// agents to link to, an address that leads to its own listener: its
	// port, on a name that resolves to its listen address.
	st, err := sqlstore.OpenPostgres(ctx, dsn, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	advertised := map[string]string{} // listen address → advertised one
	waitUntil(t, 30*time.Second, "both replicas to announce themselves", logs, func() (bool, string) {
		rs, err := st.ListReplicas(ctx, time.Now().Add(-time.Minute))
		if err != nil {
			return false, err.Error()
		}
		clear(advertised)
		var got []string
		for _, r := range rs {
			got = append(got, r.Advertise)
			for _, listen := range []string{addrA, addrB} {
				if leadsTo(r.Advertise, listen) {
					advertised[listen] = r.Advertise
				}
			}
		}
		return len(rs) == 2 && len(advertised) == 2, fmt.Sprintf("replicas advertise %q; want one leading to each of %s and %s", got, addrA, addrB)
	})
	advA, advB := advertised[addrA], advertised[addrB]
	t.Logf("replica A listens on %s, advertises %s; B listens on %s, advertises %s", addrA, advA, addrB, advB)

	// The private network (127.0.0.0/16, overlapping the embedded agent's
	// local one), an endpoint and a join token, all through A.
	var vpc struct{ Vpc struct{ VpcId string } }
	a.mustJSON(t, &vpc, "ec2", "create-vpc", "--cidr-block", "127.0.0.0/16")
	var subnet struct{ Subnet struct{ SubnetId string } }
	a.mustJSON(t, &subnet, "ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", "127.0.0.0/24")
	var ep struct {
		InstanceConnectEndpoint struct{ InstanceConnectEndpointId, DnsName string }
	}
	a.mustJSON(t, &ep, "ec2", "create-instance-connect-endpoint", "--subnet-id", subnet.Subnet.SubnetId)
	endpointID := ep.InstanceConnectEndpoint.InstanceConnectEndpointId
	var tok struct{ JoinToken, Server string }
	a.mustJSON(t, &tok, "ec2", "create-endpoint-join-token", "--instance-connect-endpoint-id", endpointID)
	if tok.Server != public {
		t.Fatalf("the join token made on A names server %q, want the public address %q", tok.Server, public)
	}
	if got := ep.InstanceConnectEndpoint.DnsName; got != public {
		t.Fatalf("the endpoint's dnsName is %q, want the public address %q", got, public)
	}

	// The agent joins through A. The echo target is on loopback.
	ag = startReplicaAgent(t, "endpoint-agent", "--state-dir", filepath.Join(t.TempDir(), "agent-state"),
		"--join-token", tok.JoinToken, "--allow-loopback", "--drain-timeout", "1s")
	agentStart := time.Now()
	a.waitAgentConnected(t, endpointID, "", logs)
	t.Logf("the agent connected through A %v after it started", time.Since(agentStart).Round(time.Millisecond))
	echoPort := echoServer(t)

	cfgA, cfgB := a.adminConfig(t), b.adminConfig(t)
	pemBytes, err := os.ReadFile(filepath.Join(dirA, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemBytes)
	// Each replica's dialer reaches that replica only: the dnsName (Host,
	// SNI, signed host) and the address dialled are the replica's.
	dialers := map[string]*client.Dialer{}
	targets := map[string]client.Target{}
	for name, r := range map[string]struct {
		listen, advertised string
		cfg                aws.Config
	}{"A": {addrA, advA, cfgA}, "B": {addrB, advB, cfgB}} {
		dialers[name] = &client.Dialer{Credentials: r.cfg.Credentials, Region: r.cfg.Region, TLS: &tls.Config{RootCAs: roots}, DialAddr: r.listen}
		targets[name] = client.Target{EndpointID: endpointID, DNSName: public, PrivateIP: "127.0.0.1", RemotePort: echoPort}
	}

	// Every answered request: id → replica and action.
	var mu sync.Mutex
	type answer struct{ replica, action string }
	answered := map[string]answer{}
	record := func(id, replica, action string) {
		if id == "" {
			return
		}
		mu.Lock()
		answered[id] = answer{replica, action}
		mu.Unlock()
	}
	// open opens a tunnel through a replica and echoes a message through
	// it; a refusal's request id is recorded too (it was answered).
	open := func(ctx context.Context, replica string) (*client.Tunnel, error) {
		tun, err := dialers[replica].Dial(ctx, targets[replica])
		var ref *client.RefusedError
		if errors.As(err, &ref) {
			record(ref.RequestID, replica, "OpenTunnel refused "+ref.ErrorCode)
		}
		if err != nil {
			return nil, err
		}
		record(tun.RequestID, replica, "OpenTunnel")
		if err := echoThrough(tun, "hello "+replica); err != nil {
			tun.Close()
			return nil, fmt.Errorf("tunnel %s through %s opened but did not echo: %w", tun.RequestID, replica, err)
		}
		return tun, nil
	}

	// A tunnel through B reaches the agent once A told it of B and it
	// linked to B (within a heartbeat or two).
	start := time.Now()
	var last error
	for deadline := start.Add(30 * time.Second); ; {
		tun, err := open(ctx, "B")
		if err == nil {
			tun.Close()
			break
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("no tunnel through B within 30 s of the agent joining through A; last: %v\n%s", last, logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("first tunnel through B %v after the agent connected through A (last refusal: %v)", time.Since(start).Round(time.Millisecond), last)

	// Long-lived tunnels, one through each replica.
	tunB, err := open(ctx, "B")
	if err != nil {
		t.Fatalf("long-lived tunnel through B: %v\n%s", err, logs())
	}
	t.Cleanup(func() { tunB.Close() })
	tunA, err := open(ctx, "A")
	if err != nil {
		t.Fatalf("long-lived tunnel through A: %v\n%s", err, logs())
	}
	t.Cleanup(func() { tunA.Close() })
	// And one as a user opens it: postern ec2-instance-connect
	// open-tunnel through A, on stdin and stdout.
	cliA := startOpenTunnel(t, a, "ec2-instance-connect", "open-tunnel", "--instance-connect-endpoint-id", endpointID,
		"--instance-connect-endpoint-dns-name", advA, "--private-ip-address", "127.0.0.1", "--remote-port", fmt.Sprint(echoPort))
	if _, err := io.WriteString(cliA.stdin, "cli ping\n"); err != nil {
		t.Fatal(err)
	}
	cliA.waitStdout(t, "cli ping\n", 30*time.Second, logs)
	endedA := make(chan error, 1)
	go func() {
		buf := make([]byte, 1024)
		for {
			if _, err := tunA.Read(buf); err != nil {
				endedA <- err
				return
			}
		}
	}()

	// Load on both replicas: signed API calls on A and B, tunnels through
	// B. The workers on A stop when A is killed, the others at the end.
	// The load's HTTP transports are the test's own, so that it can close
	// their idle connections at the end: a connection dialled for a call
	// the load's end cancelled stays in the pool without a request, and
	// a server's graceful stop (net/http Shutdown) waits 5 s for such a
	// connection.
	var transports []*http.Transport
	noRetry := func(cfg aws.Config) (*sts.Client, *ec2.Client) {
		cfg = cfg.Copy()
		bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
		if !ok {
			t.Fatalf("the SDK's HTTP client is a %T, not a BuildableClient", cfg.HTTPClient)
		}
		tr := bc.GetTransport() // a copy, with the profile's CA bundle
		transports = append(transports, tr)
		cfg.HTTPClient = &http.Client{Transport: tr, Timeout: 30 * time.Second}
		cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
		return sts.NewFromConfig(cfg), ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Retryer = retry.AddWithMaxAttempts(retry.NewStandard(), 1) })
	}
	stsA, ec2A := noRetry(cfgA)
	stsB, ec2B := noRetry(cfgB)
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	ctxA, stopA := context.WithCancel(loadCtx)
	defer stopA()
	var killed atomic.Bool
	var apiA, apiB, apiBAfter, tunnelsB, tunnelsBAfter, tunnelFailures atomic.Int64
	var failMu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	api := func(ctx context.Context, replica string, w int, stsc *sts.Client, ec2c *ec2.Client, n *atomic.Int64) {
		defer wg.Done()
		for i := 0; i < 3000 && ctx.Err() == nil; i++ { // bounded
			if id, action := signedCall(ctx, stsc, ec2c, w+i); id != "" {
				record(id, replica, action)
				n.Add(1)
				if replica == "B" && killed.Load() {
					apiBAfter.Add(1)
				}
			}
		}
	}
	for w := 0; w < 2; w++ {
		wg.Add(2)
		go api(ctxA, "A", w, stsA, ec2A, &apiA)
		go api(loadCtx, "B", w, stsB, ec2B, &apiB)
	}
	wg.Add(1)
	go func() { // tunnels through B, each echoing
		defer wg.Done()
		for i := 0; i < 1000 && loadCtx.Err() == nil; i++ { // bounded
			tun, err := open(loadCtx, "B")
			if err != nil {
				if loadCtx.Err() == nil && strings.Contains(err.Error(), "did not echo") {
					tunnelFailures.Add(1)
					failMu.Lock()
					failures = append(failures, err.Error())
					failMu.Unlock()
				}
				continue
			}
			tun.Close()
			tunnelsB.Add(1)
			if killed.Load() {
				tunnelsBAfter.Add(1)
			}
		}
	}()

	// Kill A in the middle of the load.
	deadline := time.Now().Add(60 * time.Second)
	for apiA.Load()+apiB.Load()+tunnelsB.Load() < 200 || apiA.Load() < 50 || apiB.Load() < 50 || tunnelsB.Load() < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("load too slow: %d calls on A, %d on B, %d tunnels through B in 60 s\n%s", apiA.Load(), apiB.Load(), tunnelsB.Load(), logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-endedA:
		t.Fatalf("the tunnel through A ended before A was killed: %v\n%s", err, logs())
	default:
	}
	killedAt := time.Now()
	killed.Store(true)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	stopA()
	beforeKill := struct{ apiA, apiB, tunnelsB int64 }{apiA.Load(), apiB.Load() - apiBAfter.Load(), tunnelsB.Load() - tunnelsBAfter.Load()}

	// The tunnel through A ended with A, and so did postern open-tunnel's.
	// A could not send a reason, but the client knows the connection
	// broke without a WebSocket close (1006) and must not take it for a
	// normal end.
	var errA error
	select {
	case errA = <-endedA:
	case <-time.After(time.Minute): // a guard against a hang: A's sockets closed with it
		t.Fatalf("the tunnel through A still open a minute after A was killed\n%s", logs())
	}
	t.Logf("the tunnel through A ended %v after the kill: client.Tunnel.Read: %v", time.Since(killedAt).Round(time.Millisecond), errA)
	code, stderr := cliA.wait(t, time.Minute, logs)
	t.Logf("postern open-tunnel through A exited %d after the kill; stderr %q", code, stderr)
	if errors.Is(errA, io.EOF) || code == 0 || strings.TrimSpace(stderr) == "" {
		t.Errorf("a tunnel whose replica was killed ends like a normal close: Read returned %v, postern open-tunnel exited %d with stderr %q", errA, code, stderr)
	}
	// The tunnel through B goes on.
	if err := echoThrough(tunB, "still there"); err != nil {
		t.Fatalf("the long-lived tunnel through B after A was killed: %v\n%s", err, logs())
	}
	// A new tunnel through B opens within seconds.
	var newTunnel time.Duration
	for deadline := killedAt.Add(10 * time.Second); ; {
		tun, err := open(ctx, "B")
		if err == nil {
			tun.Close()
			newTunnel = time.Since(killedAt)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new tunnel through B within 10 s of A's kill; last: %v\n%s", err, logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A user of B opens a tunnel as the CLI does by default: to the
	// endpoint's dnsName, looked up through B. It must reach a live
	// replica: the dnsName is the load balancer, which sends it to B.
	var desc struct {
		InstanceConnectEndpoints []struct{ InstanceConnectEndpointId, DnsName string }
	}
	b.mustJSON(t, &desc, "ec2", "describe-instance-connect-endpoints", "--instance-connect-endpoint-ids", endpointID)
	if len(desc.InstanceConnectEndpoints) != 1 {
		t.Fatalf("describe-instance-connect-endpoints on B: %+v", desc)
	}
	dnsName := desc.InstanceConnectEndpoints[0].DnsName
	cliB := startOpenTunnel(t, b, "ec2-instance-connect", "open-tunnel", "--instance-connect-endpoint-id", endpointID,
		"--private-ip-address", "127.0.0.1", "--remote-port", fmt.Sprint(echoPort))
	_, _ = io.WriteString(cliB.stdin, "cli ping B\n")
	cliBOut, cliBErr, cliBOK := "", "", false
	for deadline := time.Now().Add(30 * time.Second); ; { // a hang guard: a -race CLI process starts slowly under load
		cliBOut, cliBErr = cliB.output()
		if cliBOK = strings.Contains(cliBOut, "cli ping B\n"); cliBOK {
			break
		}
		exited := false
		select {
		case <-cliB.done:
			exited = true
		default:
		}
		if exited || time.Now().After(deadline) {
			cliBOut, cliBErr = cliB.output()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("after the kill the endpoint's dnsName (on B) is %s; postern open-tunnel with B's profile: echoed %v, stderr %q", dnsName, cliBOK, cliBErr)
	if dnsName != public || !cliBOK {
		t.Errorf("after A's kill the endpoint's dnsName is %s (want the public %s) and postern open-tunnel with B's profile echoed %v: stdout %q, stderr %q",
			dnsName, public, cliBOK, cliBOut, cliBErr)
	}

	// B goes on answering under load.
	deadline = time.Now().Add(20 * time.Second)
	for apiBAfter.Load() < 50 || tunnelsBAfter.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("after A's kill, B answered only %d calls and opened %d tunnels in 20 s\n%s", apiBAfter.Load(), tunnelsBAfter.Load(), logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopLoad()
	wg.Wait()
	for _, tr := range transports {
		tr.CloseIdleConnections()
	}
	if err := echoThrough(tunB, "and after the load"); err != nil {
		t.Fatalf("the long-lived tunnel through B after the load: %v\n%s", err, logs())
	}
	if n := tunnelFailures.Load(); n > 0 {
		failMu.Lock()
		t.Errorf("%d tunnels through B opened but did not echo; first: %s", n, failures[0])
		failMu.Unlock()
	}
	select {
	case <-ag.done:
		t.Fatalf("the agent exited after A was killed: %v\n%s", ag.err, logs())
	default:
	}

	// Every answered request is on record, whichever replica answered.
	evs, err := st.ListEvents(ctx, store.EventQuery{}) // Limit 0: all
	if err != nil {
		t.Fatal(err)
	}
	recorded := make(map[string]bool, len(evs))
	for _, e := range evs {
		recorded[e.RequestID] = true
	}
	mu.Lock()
	defer mu.Unlock()
	lost := 0
	perReplica := map[string]int{}
	refused := 0
	for id, an := range answered {
		perReplica[an.replica]++
		if strings.HasPrefix(an.action, "OpenTunnel refused") {
			refused++
		}
		if !recorded[id] {
			lost++
			if lost <= 5 {
				t.Errorf("%s answered %s %s, which is not on record", an.replica, an.action, id)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d answered requests lost their event", lost, len(answered))
	}
	t.Logf("before the kill: %d calls answered by A, %d by B, %d tunnels through B; after: %d calls by B, %d tunnels through B; new tunnel through B %v after the kill",
		beforeKill.apiA, beforeKill.apiB, beforeKill.tunnelsB, apiBAfter.Load(), tunnelsBAfter.Load(), newTunnel.Round(time.Millisecond))
	t.Logf("%d answered requests (A %d, B %d; %d refused tunnels), all on record (%d events in the store)",
		len(answered), perReplica["A"], perReplica["B"], refused, len(evs))
}

// startOpenTunnel starts postern with args (an open-tunnel on stdin and
// stdout) and srv's client environment; it is killed at cleanup if still
// running.
func startOpenTunnel(t *testing.T, srv *serverProc, args ...string) *tunnelClient {
	t.Helper()
	c := &tunnelClient{done: make(chan struct{}), changed: make(chan struct{}, 1)}
	c.cmd = exec.Command(binPath, args...)
	c.cmd.Env = append(cleanEnv(), srv.env()...)
	c.cmd.Stdout, c.cmd.Stderr = notifyWriter{c, &c.stdout}, notifyWriter{c, &c.stderr}
	c.cmd.WaitDelay = 5 * time.Second
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.stdin.Close()
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// leadsTo reports whether the advertised HOST:PORT reaches listen: the
// same port, on a host that is listen's IP or resolves to it.
func leadsTo(advertised, listen string) bool {
	host, port, err1 := net.SplitHostPort(advertised)
	lhost, lport, err2 := net.SplitHostPort(listen)
	if err1 != nil || err2 != nil || port != lport {
		return false
	}
	if host == lhost {
		return true
	}
	ips, err := net.LookupHost(host)
	return err == nil && slices.Contains(ips, lhost)
}

// echoThrough writes msg through the tunnel and reads it back, within a
// minute: a guard against a tunnel that carries nothing, not a measure (a
// starved 2-core CI machine under -race, with the test's own load, may
// take more than 10 s over an echo).
func echoThrough(tun *client.Tunnel, msg string) error {
	if err := tun.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		return err
	}
	defer tun.SetReadDeadline(time.Time{}) //nolint:errcheck // best effort
	if _, err := tun.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(tun, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("echoed %q, want %q", buf, msg)
	}
	return nil
}

// copyDataDir copies the regular files under src to dst (created), keeping
// their modes: a replica's data directory from the first one's.
func copyDataDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(to, info.Mode().Perm())
		case info.Mode().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(to, b, info.Mode().Perm())
		}
		return nil // sockets and the like belong to the running replica
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}

// replicaAgent is a running `postern endpoint-agent`, stopped (SIGTERM, then
// SIGKILL) at cleanup.
type replicaAgent struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	mu   sync.Mutex
	out  bytes.Buffer
}

func (p *replicaAgent) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *replicaAgent) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func startReplicaAgent(t *testing.T, args ...string) *replicaAgent {
	t.Helper()
	p := &replicaAgent{done: make(chan struct{})}
	p.cmd = exec.Command(binPath, args...)
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// balancer is a TCP load balancer for the test: each connection goes to
// the first backend that accepts it, as an L4 balancer whose health check
// is the connect.
type balancer struct {
	addr     string
	mu       sync.Mutex // guards backends, conns
	backends []string
	conns    map[net.Conn]bool
}

func startBalancer(t *testing.T) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.serve(c)
			}()
		}
	}()
	return b
}

func (b *balancer) setBackends(addrs ...string) {
	b.mu.Lock()
	b.backends = addrs
	b.mu.Unlock()
}

// track adds (or removes) a connection to close at cleanup.
func (b *balancer) track(c net.Conn, on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if on {
		b.conns[c] = true
	} else {
		delete(b.conns, c)
	}
}

func (b *balancer) serve(c net.Conn) {
	b.track(c, true)
	defer b.track(c, false)
	defer c.Close()
	b.mu.Lock()
	backends := slices.Clone(b.backends)
	b.mu.Unlock()
	for _, addr := range backends {
		up, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			continue
		}
		b.track(up, true)
		defer b.track(up, false)
		defer up.Close()
		done := make(chan struct{}, 2)
		go func() { io.Copy(up, c); done <- struct{}{} }()
		go func() { io.Copy(c, up); done <- struct{}{} }()
		<-done // either side ended: end both
		return
	}
}
