package tunnelbench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/sshdtest"
	"github.com/postern/postern/internal/testutil/syncbuf"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// postern is an in-process server (package tunneltest) with its embedded
// agent (one hop) and a remote agent joined to a second endpoint whose VPC
// holds 127.0.0.0/24 (two hops: its link is TLS over loopback).
type postern struct {
	e        *tunneltest.Env
	remoteEP string
}

func startPostern(b testing.TB) *postern {
	b.Helper()
	var logger *slog.Logger
	if os.Getenv("POSTERN_TEST_LOG") == "" {
		logger = slog.New(slog.DiscardHandler)
	}
	e := tunneltest.Start(b, tunneltest.Options{Logger: logger, Config: func(c *config.Server) {
		c.Tunnel.Ports = []string{"*"}
		c.Tunnel.ConcurrencyPerEndpoint = 1 << 20
	}})
	_, _, ep, _ := e.Network("127.0.0.0/16", "127.0.0.0/24")
	a := e.StartAgent(ep, agent.Config{AllowLoopback: true, DrainTimeout: time.Second, Logger: logger})
	e.WaitConnected(a.ID.AgentID, 30*time.Second)
	return &postern{e: e, remoteEP: ep}
}

// oneHop is a target reached through the embedded agent.
func (p *postern) oneHop(port int) client.Target { return p.e.Local(port) }

// twoHops is a target reached through the remote agent.
func (p *postern) twoHops(port int) client.Target {
	return client.Target{EndpointID: p.remoteEP, DNSName: p.e.DNSName(), PrivateIP: "127.0.0.1", RemotePort: port}
}

// dial opens a tunnel as the administrator.
func (p *postern) dial(ctx context.Context, t client.Target) (*client.Tunnel, error) {
	return p.e.Dialer(p.e.Admin).Dial(ctx, t)
}

// sshMissing says why the OpenSSH baseline cannot run, or "".
func sshMissing() string {
	if _, err := os.Stat(sshdtest.DefaultSSHD); err != nil {
		return "OpenSSH server not found (" + err.Error() + "); not measured (run make test-deps)"
	}
	for _, c := range []string{"ssh", "scp"} {
		if _, err := exec.LookPath(c); err != nil {
			return c + " not found; not measured (run make test-deps)"
		}
	}
	return ""
}

// bastion is an OpenSSH bastion: a real sshd and one `ssh -N -L` process
// forwarding local ports to targets on the sshd's side.
type bastion struct {
	sshd  *sshdtest.Server
	ports map[int]int // target port → forwarded local port
}

// startBastion starts an sshd and `ssh -N -L` for each target port, with
// OpenSSH's default cipher chacha20-poly1305@openssh.com, and waits until
// the forwards accept connections.
func startBastion(b testing.TB, targets ...int) *bastion {
	b.Helper()
	br := &bastion{sshd: sshdtest.Start(b, sshdtest.Options{}), ports: map[int]int{}}
	// ssh cannot report a kernel-chosen -L port, so take a port the kernel
	// just had free and retry (ExitOnForwardFailure) if someone took it.
	for attempt := 0; ; attempt++ {
		args := []string{"-N", "-c", "chacha20-poly1305@openssh.com", "-o", "ExitOnForwardFailure=yes", "-o", "Compression=no"}
		ports := map[int]int{}
		for _, t := range targets {
			p := freePort(b)
			ports[t] = p
			args = append(args, "-L", fmt.Sprintf("127.0.0.1:%d:127.0.0.1:%d", p, t))
		}
		cmd := exec.Command("ssh", br.sshd.SSHArgs(append(args, br.sshd.Host)...)...)
		var out syncbuf.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-done
		}
		// Bounded polling of the ssh process's forwards.
		deadline := time.Now().Add(20 * time.Second)
		ready := false
		for !ready && time.Now().Before(deadline) {
			select {
			case <-done:
				deadline = time.Time{}
				continue
			case <-time.After(20 * time.Millisecond):
			}
			ready = true
			for _, p := range ports {
				c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(p))
				if err != nil {
					ready = false
					break
				}
				c.Close()
			}
		}
		if ready {
			b.Cleanup(stop)
			br.ports = ports
			return br
		}
		stop()
		if attempt == 2 {
			b.Fatalf("ssh -L did not start: %s\nsshd log:\n%s", out.String(), br.sshd.Log())
		}
	}
}

// freePort returns a port the kernel just had free on 127.0.0.1.
func freePort(b testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// path is one way of reaching a target port.
type path struct {
	name string
	skip string // why it is not measured, or ""
	dial func(ctx context.Context, port int) (io.ReadWriteCloser, error)
}

func dialTCP(ctx context.Context, port int) (io.ReadWriteCloser, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(port))
}

// paths returns direct TCP, the ssh -L bastion (when OpenSSH is installed),
// Postern one hop and Postern two hops, set up for the given target ports.
func paths(b testing.TB, targets ...int) []path {
	b.Helper()
	p := startPostern(b)
	ssh := path{name: "ssh", skip: sshMissing()}
	if ssh.skip == "" {
		br := startBastion(b, targets...)
		ssh.dial = func(ctx context.Context, port int) (io.ReadWriteCloser, error) {
			return dialTCP(ctx, br.ports[port])
		}
	}
	return []path{
		{name: "direct", dial: dialTCP},
		ssh,
		{name: "postern1", dial: func(ctx context.Context, port int) (io.ReadWriteCloser, error) {
			return p.dial(ctx, p.oneHop(port))
		}},
		{name: "postern2", dial: func(ctx context.Context, port int) (io.ReadWriteCloser, error) {
			return p.dial(ctx, p.twoHops(port))
		}},
	}
}
