package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/netns"
	"github.com/postern/postern/internal/testutil/sshdtest"
)

// TestSSHThroughTunnel is the one-machine run as a new user does it: a
// fresh `postern server` (embedded agent, this machine as an instance at
// 127.0.0.1), real OpenSSH through `postern ec2-instance-connect
// open-tunnel` as ProxyCommand: a command, a 100 MiB scp each way with the
// same SHA-256, and a user whose policy allows only port 3389 refused with
// AccessDeniedException. The ProxyCommand never outlives ssh.
func TestSSHThroughTunnel(t *testing.T) {
	// sshd in inetd mode on a kernel-chosen loopback port: the host's own
	// port 22 is never used. The server allows that port for tunnels.
	sshd := sshdtest.Start(t, sshdtest.Options{})
	dataDir := filepath.Join(t.TempDir(), "data")
	writeServerConfig(t, dataDir, fmt.Sprintf("version: 1\ntunnel:\n  ports: [\"22\", \"3389\", \"%d\"]\n", sshd.Port))
	srv := startServer(t, dataDir)
	logs := func() string { return srv.logs(sshd) }

	var desc struct {
		Reservations []struct {
			Instances []struct{ InstanceId, PrivateIpAddress string }
		}
	}
	srv.mustJSON(t, &desc, "ec2", "describe-instances")
	instanceID := ""
	for _, r := range desc.Reservations {
		for _, in := range r.Instances {
			if in.PrivateIpAddress == "127.0.0.1" {
				instanceID = in.InstanceId
			}
		}
	}
	if instanceID == "" {
		t.Fatalf("no instance at 127.0.0.1 on a fresh server: %+v\n%s", desc, logs())
	}

	// The ProxyCommand runs postern through a symlink in a directory of
	// this test's own, so that its processes can be found by that path.
	bin := markedBinary(t)
	proxy := fmt.Sprintf("'%s' ec2-instance-connect open-tunnel --instance-id %%h --remote-port %d", bin, sshd.Port)

	t.Run("command", func(t *testing.T) {
		out, errOut, code := runSSH(t, sshd.Command(context.Background(), proxy, instanceID, "echo", "hello"), srv.env())
		if code != 0 || out != "hello\n" {
			t.Fatalf("ssh through the tunnel: exit %d, stdout %q, stderr %q\n%s", code, out, errOut, logs())
		}
		waitNoProcess(t, bin, logs)
	})

	t.Run("scp100MiB", func(t *testing.T) {
		dir := t.TempDir()
		src, remote, back := filepath.Join(dir, "random.bin"), filepath.Join(dir, "remote.bin"), filepath.Join(dir, "back.bin")
		want := writeRandomFile(t, src, 100<<20)
		start := time.Now()
		if out, errOut, code := runSSH(t, sshd.SCPCommand(context.Background(), proxy, instanceID, src, ":"+remote), srv.env()); code != 0 {
			t.Fatalf("scp up: exit %d: %s%s\n%s", code, out, errOut, logs())
		}
		up := time.Since(start)
		start = time.Now()
		if out, errOut, code := runSSH(t, sshd.SCPCommand(context.Background(), proxy, instanceID, ":"+remote, back), srv.env()); code != 0 {
			t.Fatalf("scp down: exit %d: %s%s\n%s", code, out, errOut, logs())
		}
		t.Logf("100 MiB through the tunnel: up %v, down %v", up.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		for _, f := range []string{remote, back} {
			if got := fileSHA256(t, f); got != want {
				t.Fatalf("%s: SHA-256 %s, want %s (the original's)", filepath.Base(f), got, want)
			}
		}
		waitNoProcess(t, bin, logs)
	})

	t.Run("deniedUser", func(t *testing.T) {
		policy := filepath.Join(t.TempDir(), "port3389.json")
		writeFile(t, policy, `{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"},
  {"Effect":"Allow","Action":"ec2-instance-connect:OpenTunnel","Resource":"*",
   "Condition":{"NumericEquals":{"ec2-instance-connect:remotePort":"3389"}}}]}`)
		srv.mustCLI(t, "iam", "create-user", "--user-name", "dev")
		srv.mustCLI(t, "iam", "put-user-policy", "--user-name", "dev", "--policy-name", "rdp-only", "--policy-document", "file://"+policy)
		var key struct {
			AccessKey struct{ AccessKeyId, SecretAccessKey string }
		}
		srv.mustJSON(t, &key, "iam", "create-access-key", "--user-name", "dev")
		// dev's own credentials file; the server's config file (endpoint,
		// CA bundle, region) as before.
		creds := filepath.Join(t.TempDir(), "credentials")
		writeFile(t, creds, fmt.Sprintf("[postern]\naws_access_key_id = %s\naws_secret_access_key = %s\n", key.AccessKey.AccessKeyId, key.AccessKey.SecretAccessKey))
		env := []string{"AWS_SHARED_CREDENTIALS_FILE=" + creds, "AWS_CONFIG_FILE=" + filepath.Join(dataDir, "config"), "AWS_PROFILE=postern"}

		var who struct{ Arn string }
		out, errOut, code := srv.cli(t, env[:1], "sts", "get-caller-identity")
		if code != 0 || json.Unmarshal([]byte(out), &who) != nil || !strings.HasSuffix(who.Arn, ":user/dev") {
			t.Fatalf("dev's credentials: exit %d, %s%s", code, out, errOut)
		}
		out, errOut, code = runSSH(t, sshd.Command(context.Background(), proxy, instanceID, "echo", "hello"), env)
		if code == 0 || strings.Contains(out, "hello") {
			t.Fatalf("ssh as dev (allowed only port 3389) to port %d succeeded: stdout %q, stderr %q", sshd.Port, out, errOut)
		}
		const want = "An error occurred (AccessDeniedException) when calling the OpenTunnel operation"
		if !strings.Contains(errOut, want) {
			t.Fatalf("ssh as dev: exit %d, stderr %q lacks %q\n%s", code, errOut, want, logs())
		}
		waitNoProcess(t, bin, logs)
	})
}

// TestTunnelAcrossNetworkNamespaces runs the pieces where they belong: the
// server on the "public side" (the host namespace, listening on its end of
// a veth), and in a private namespace an sshd on a private address the host
// cannot reach plus an endpoint agent that dials out to the server. It
// checks the tunnel, an agent killed mid-tunnel (the client is told), an
// agent restarted from its state directory, and a server restarted on the
// same data directory and port (the agent comes back by itself).
func TestTunnelAcrossNetworkNamespaces(t *testing.T) {
	netns.Require(t)
	ctx := context.Background()

	priv := netns.New(t, "priv")
	pn := netns.PrivateNet(t)
	privIP := netns.Nth(pn, 10)
	priv.AddDummy(t, "private0", privIP.String()+"/32")
	veth := netns.Link(t, netns.Host, priv, "", "")
	publicIP := veth.AAddr.Addr() // the server's address, reachable from priv
	sshAddr := net.JoinHostPort(privIP.String(), "22")

	sshd := sshdtest.Start(t, sshdtest.Options{
		ListenAddr:    sshAddr,
		CommandPrefix: priv.ExecPrefix(),
		Ready:         func(ctx context.Context) error { return priv.CanDial(ctx, sshAddr) },
	})

	// (a) The private address is private: the host cannot connect to it.
	if err := netns.Host.CanDial(ctx, sshAddr); err == nil {
		t.Fatalf("the host can connect to %s directly; the test network is not private", sshAddr)
	}

	// The server: no embedded agent, known to clients and agents by the
	// veth address (the first name on its self-made certificate). The test
	// holds the listening socket, so that a restart keeps the port.
	dataDir := filepath.Join(t.TempDir(), "data")
	port := reservePort(t, publicIP)
	listen := port.addr
	writeServerConfig(t, dataDir, fmt.Sprintf("version: 1\npublic_host: %s\nadvertise: %s\nagent:\n  embedded: false\n", publicIP, listen))
	srv := startServerOn(t, dataDir, []*reservedPort{port})
	var agentProc *netns.Proc
	logs := func() string {
		s := srv.logs(sshd)
		if agentProc != nil {
			s += "\n--- agent output:\n" + agentProc.Output()
		}
		return s
	}

	// The private network, through the CLI as an operator would.
	var vpc struct{ Vpc struct{ VpcId string } }
	srv.mustJSON(t, &vpc, "ec2", "create-vpc", "--cidr-block", pn.String())
	var subnet struct{ Subnet struct{ SubnetId string } }
	srv.mustJSON(t, &subnet, "ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", pn.String())
	var sg struct{ GroupId string }
	srv.mustJSON(t, &sg, "ec2", "create-security-group", "--group-name", "ssh", "--description", "ssh from the VPC", "--vpc-id", vpc.Vpc.VpcId)
	srv.mustCLI(t, "ec2", "authorize-security-group-ingress", "--group-id", sg.GroupId, "--protocol", "tcp", "--port", "22", "--cidr", pn.String())
	var reg struct{ Instances []struct{ InstanceId string } }
	srv.mustJSON(t, &reg, "ec2", "register-instance", "--subnet-id", subnet.Subnet.SubnetId, "--private-ip-address", privIP.String(), "--security-group-ids", sg.GroupId)
	if len(reg.Instances) != 1 {
		t.Fatalf("register-instance: %+v", reg)
	}
	instanceID := reg.Instances[0].InstanceId
	var ep struct {
		InstanceConnectEndpoint struct{ InstanceConnectEndpointId, DnsName string }
	}
	srv.mustJSON(t, &ep, "ec2", "create-instance-connect-endpoint", "--subnet-id", subnet.Subnet.SubnetId)
	endpointID := ep.InstanceConnectEndpoint.InstanceConnectEndpointId
	if want := listen; ep.InstanceConnectEndpoint.DnsName != want {
		t.Errorf("endpoint DnsName %q, want the advertised %q", ep.InstanceConnectEndpoint.DnsName, want)
	}
	var tok struct{ JoinToken, Server string }
	srv.mustJSON(t, &tok, "ec2", "create-endpoint-join-token", "--instance-connect-endpoint-id", endpointID)
	if tok.Server != listen {
		t.Errorf("join token names server %q, want %q", tok.Server, listen)
	}

	// The agent, inside priv. sshd runs on the agent's own host there, so
	// the agent must be allowed to dial its host's addresses.
	stateDir := filepath.Join(t.TempDir(), "agent-state")
	startAgent := func(args ...string) *netns.Proc {
		args = append([]string{"endpoint-agent", "--state-dir", stateDir, "--allow-host-addresses"}, args...)
		cmd := priv.Command(context.Background(), binPath, args...)
		cmd.Env = cleanEnv()
		return priv.StartCmd(t, cmd)
	}
	agentProc = startAgent("--join-token", tok.JoinToken)
	since := srv.waitAgentConnected(t, endpointID, "", logs)
	waitUntil(t, 30*time.Second, "the endpoint to be create-complete", logs, func() (bool, string) {
		out := srv.mustCLI(t, "ec2", "describe-instance-connect-endpoints", "--instance-connect-endpoint-ids", endpointID)
		return strings.Contains(out, `"create-complete"`), out
	})

	proxy := fmt.Sprintf("'%s' ec2-instance-connect open-tunnel --instance-id %%h", binPath)
	// sshOK runs a command through the tunnel and checks that it ran in
	// the private sshd: SSH_CONNECTION ends with the private address and 22.
	sshOK := func(when string) {
		t.Helper()
		cmd := sshd.Command(ctx, proxy, instanceID, `echo "$SSH_CONNECTION"`)
		out, errOut, code := runSSH(t, cmd, srv.env())
		f := strings.Fields(out)
		if code != 0 || len(f) != 4 || f[2] != privIP.String() || f[3] != "22" {
			t.Fatalf("%s: ssh through the tunnel: exit %d, stdout %q, stderr %q\n%s", when, code, out, errOut, logs())
		}
	}

	// (b) ssh reaches the private sshd through the tunnel.
	sshOK("first agent")

	// (c) A tunnel open while its agent dies ends with the reason.
	tun := startTunnelClient(t, srv, instanceID)
	tun.waitStdout(t, "SSH-2.0-", 30*time.Second, logs)
	if err := agentProc.Cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9 the agent: %v", err)
	}
	select {
	case <-agentProc.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("the agent did not die after SIGKILL")
	}
	code, stderr := tun.wait(t, 30*time.Second, logs)
	if code != 255 || !strings.Contains(stderr, "Websocket Closure Reason: ") || !strings.Contains(stderr, "lost") {
		t.Fatalf("tunnel client after its agent was killed: exit %d, stderr %q; want 255 and a closure reason saying the agent was lost\n%s", code, stderr, logs())
	}
	t.Logf("agent killed: the tunnel client exited %d: %s", code, strings.TrimSpace(stderr))
	// With no agent, a new tunnel is refused with a reason.
	out, errOut, code := runSSH(t, sshd.Command(ctx, proxy, instanceID, "true"), srv.env())
	if code == 0 || !strings.Contains(errOut, "when calling the OpenTunnel operation") {
		t.Fatalf("ssh with no agent: exit %d, stdout %q, stderr %q; want a refusal\n%s", code, out, errOut, logs())
	}
	t.Logf("no agent: ssh exited %d: %s", code, strings.TrimSpace(errOut))

	// (d) The agent restarted with only its state directory rejoins.
	agentProc = startAgent()
	since = srv.waitAgentConnected(t, endpointID, since, logs)
	sshOK("restarted agent")

	// (e) The server restarted on the same data directory and port: the
	// agent reconnects by itself.
	if err := srv.stop(); err != nil {
		t.Fatalf("stopping the server: %v\n%s", err, logs())
	}
	old := srv
	srv, err := tryStartServerOn(t, dataDir, []*reservedPort{port})
	if err != nil {
		t.Fatalf("restarting the server: %v\nfirst run:\n%s", err, old.output())
	}
	srv.waitAgentConnected(t, endpointID, since, logs)
	select {
	case <-agentProc.Done():
		t.Fatalf("the agent exited when the server restarted:\n%s", logs())
	default:
	}
	sshOK("restarted server")
}

// writeServerConfig writes DATA_DIR/postern.yaml.
func writeServerConfig(t *testing.T, dataDir, yaml string) {
	t.Helper()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dataDir, "postern.yaml"), yaml)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// logs returns the server's output and the sshd log, for failure messages.
func (p *serverProc) logs(sshd *sshdtest.Server) string {
	return "--- server output:\n" + p.output() + "\n--- sshd log:\n" + sshd.Log()
}

// mustCLI runs a postern command with the server's environment and
// returns its stdout; a failure is fatal and shows the server's log.
func (p *serverProc) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := p.cli(t, nil, args...)
	if code != 0 {
		t.Fatalf("postern %s: exit %d: %s%s\n--- server output:\n%s", strings.Join(args, " "), code, out, errOut, p.output())
	}
	return out
}

// mustJSON is mustCLI decoding the JSON output into v.
func (p *serverProc) mustJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := p.mustCLI(t, args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("postern %s: output %q: %v", strings.Join(args, " "), out, err)
	}
}

// waitAgentConnected polls describe-endpoint-agents until an agent of the
// endpoint is connected with a ConnectedSince other than notSince (the
// previous connection's), and returns its ConnectedSince.
func (p *serverProc) waitAgentConnected(t *testing.T, endpointID, notSince string, logs func() string) string {
	t.Helper()
	since := ""
	waitUntil(t, 60*time.Second, "an agent to connect", logs, func() (bool, string) {
		var agents struct {
			EndpointAgents []struct{ AgentId, State, ConnectedSince string }
		}
		out, errOut, code := p.cli(t, nil, "ec2", "describe-endpoint-agents", "--instance-connect-endpoint-id", endpointID)
		if code != 0 || json.Unmarshal([]byte(out), &agents) != nil {
			return false, fmt.Sprintf("exit %d: %s%s", code, out, errOut)
		}
		for _, a := range agents.EndpointAgents {
			if a.State == "connected" && a.ConnectedSince != "" && a.ConnectedSince != notSince {
				since = a.ConnectedSince
				return true, ""
			}
		}
		return false, out
	})
	return since
}

// waitUntil polls cond every 100 ms until it holds, failing t after
// timeout with cond's last detail and logs.
func waitUntil(t *testing.T, timeout time.Duration, what string, logs func() string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last: %s\n%s", timeout, what, detail, logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runSSH runs an ssh or scp command with the given AWS environment (for
// its ProxyCommand), bounded in time, and returns its output and exit code.
func runSSH(t *testing.T, cmd *exec.Cmd, awsEnv []string) (stdout, stderr string, code int) {
	t.Helper()
	cmd.Env = append(cleanEnv(), awsEnv...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	// The ProxyCommand inherits ssh's stderr: bound the wait for it.
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("%v: %v\nstderr: %s", cmd.Args, err, e.String())
	}
	return o.String(), e.String(), code
}

// markedBinary returns the path of a symlink to the postern binary in a
// directory of the test's own: processes started through it show that
// path in their command line.
func markedBinary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "postern")
	if err := os.Symlink(binPath, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitNoProcess waits (bounded) until no process runs the program at path
// (pgrep -f on a command line starting with it; ssh's own command line,
// which holds the ProxyCommand, does not count).
func waitNoProcess(t *testing.T, path string, logs func() string) {
	t.Helper()
	waitUntil(t, time.Minute, "no process running "+path, logs, func() (bool, string) {
		out, err := exec.Command("pgrep", "-a", "-f", "^"+regexp.QuoteMeta(path)+"( |$)").Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return true, "" // none matched
		}
		return false, fmt.Sprintf("pgrep: %v: still running:\n%s", err, out)
	})
}

// writeRandomFile writes size random bytes to path and returns their
// SHA-256.
func writeRandomFile(t *testing.T, path string, size int64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// tunnelClient is a plain `postern tunnel` process using stdin/stdout.
type tunnelClient struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	err   error

	mu      sync.Mutex
	stdout  bytes.Buffer
	stderr  bytes.Buffer
	changed chan struct{}
}

type notifyWriter struct {
	c   *tunnelClient
	buf *bytes.Buffer
}

func (w notifyWriter) Write(b []byte) (int, error) {
	w.c.mu.Lock()
	w.buf.Write(b)
	w.c.mu.Unlock()
	select {
	case w.c.changed <- struct{}{}:
	default:
	}
	return len(b), nil
}

// startTunnelClient starts `postern tunnel --instance-id ID` with stdin
// held open; it is killed at cleanup if still running.
func startTunnelClient(t *testing.T, srv *serverProc, instanceID string) *tunnelClient {
	t.Helper()
	return startOpenTunnel(t, srv, "tunnel", "--instance-id", instanceID)
}

func (c *tunnelClient) output() (stdout, stderr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stdout.String(), c.stderr.String()
}

// waitStdout waits until the tunnel has carried substr from the target.
func (c *tunnelClient) waitStdout(t *testing.T, substr string, timeout time.Duration, logs func() string) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		out, errOut := c.output()
		if strings.Contains(out, substr) {
			return
		}
		select {
		case <-c.changed:
		case <-c.done:
			if out, _ := c.output(); strings.Contains(out, substr) {
				return
			}
			t.Fatalf("postern tunnel exited (%v) before %q came through; stdout %q, stderr %q\n%s", c.err, substr, out, errOut, logs())
		case <-timer.C:
			t.Fatalf("%q did not come through the tunnel within %v; stdout %q, stderr %q\n%s", substr, timeout, out, errOut, logs())
		}
	}
}

// wait waits for the client to exit and returns its exit code and stderr.
func (c *tunnelClient) wait(t *testing.T, timeout time.Duration, logs func() string) (int, string) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		_, errOut := c.output()
		t.Fatalf("postern tunnel still running %v after its tunnel should have ended; stderr %q\n%s", timeout, errOut, logs())
	}
	_, errOut := c.output()
	var ee *exec.ExitError
	if c.err != nil && !errors.As(c.err, &ee) {
		t.Fatalf("postern tunnel: %v", c.err)
	}
	code := 0
	if ee != nil {
		code = ee.ExitCode()
	}
	return code, errOut
}
