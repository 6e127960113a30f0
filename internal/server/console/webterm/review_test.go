package webterm_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/server/console/webterm"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/inproc"
	"github.com/postern/postern/internal/testutil/sshdtest"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// twoPortFixture is newFixture with two real sshds on one instance (two
// ports the tunnel may reach, each with its own host key): f.sshd and
// the returned second one.
func twoPortFixture(t *testing.T) (*fixture, *sshdtest.Server) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("sshd's AuthorizedKeysCommand needs a root-owned helper; CI runs as root")
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	helperBin := sshdtest.SafeExecutable(t, os.Args[0])
	helperConfig := filepath.Join(filepath.Dir(helperBin), "instance.json")
	start := func() *sshdtest.Server {
		return sshdtest.Start(t, sshdtest.Options{NoAuthorizedKeysFile: true, ExtraConfig: []string{
			fmt.Sprintf("AuthorizedKeysCommand %s authorized-keys --config %s -- %%u %%f", helperBin, helperConfig),
			"AuthorizedKeysCommandUser nobody",
		}})
	}
	sshd, other := start(), start()
	env := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		c.Tunnel.Ports = []string{strconv.Itoa(sshd.Port), strconv.Itoa(other.Port)}
	}})
	instance := env.Server.Local.InstanceID
	var out, errOut bytes.Buffer
	if code := cli.Main(context.Background(), []string{"instance", "init", "--instance-id", instance, "--keys-url", env.URL,
		"--signer-key-file", filepath.Join(env.Dir, "ssh-signer.pub"), "--config", helperConfig}, nil, &out, &errOut); code != 0 {
		t.Fatalf("instance init: %d %s %s", code, out.String(), errOut.String())
	}
	f := &fixture{env: env, sshd: sshd, instance: instance, osUser: me.Username, callers: map[string]*webterm.Caller{}}
	authn, err := identity.NewAuthenticator(identity.AuthConfig{Store: env.Server.Store, Sealer: env.Server.Sealer,
		AccountID: env.Server.AccountID, Region: env.Region})
	if err != nil {
		t.Fatal(err)
	}
	creds := env.NewUser("alice", allowAll)
	f.callers["alice"] = &webterm.Caller{Credentials: creds, Principal: principal(t, env, authn, creds)}
	f.loop = inproc.New(env.Server.Handler(), slog.New(slog.DiscardHandler))
	t.Cleanup(func() { f.loop.Close() })
	f.mount(t, config.Console{})
	return f, other
}

// openPort opens a terminal as alice to port of the fixture's instance
// and returns its first text message (hostkey or hostkey-changed).
func (f *fixture) openPort(t *testing.T, port int) (*browser, map[string]any) {
	t.Helper()
	b, _, err := f.dial(t, "/console/api/terminal", f.header("alice"))
	if err != nil {
		t.Fatalf("terminal WebSocket: %v", err)
	}
	b.sendJSON(map[string]any{"csrf": "csrf-alice", "instanceId": f.instance, "osUser": f.osUser, "port": port, "cols": 80, "rows": 24})
	return b, b.next()
}

// TestHostKeyPinnedPerPort: a host key is pinned per instance and port.
// Before, the first key accepted on any port was the instance's only pin:
// whoever may reach another port of the instance (an SSH service of their
// own there) pinned that service's key, and every later connection to
// port 22 was refused as "host key changed" until an operator reset it;
// an instance with two SSH services could never reach the second.
func TestHostKeyPinnedPerPort(t *testing.T) {
	f, other := twoPortFixture(t)
	trust := func(b *browser, hk map[string]any, key ssh.PublicKey) {
		t.Helper()
		fp := ssh.FingerprintSHA256(key)
		if hk == nil || hk["type"] != "hostkey" || hk["fingerprint"] != fp || hk["known"] != false {
			t.Fatalf("first message %v, want a new host key %s", hk, fp)
		}
		b.sendJSON(map[string]any{"type": "trust-host-key", "fingerprint": fp})
		b.expect("connected")
		b.echo(marker())
	}

	// The other service's key is accepted first ...
	b, hk := f.openPort(t, other.Port)
	trust(b, hk, other.HostKey)
	b.type_("exit\r")
	b.expect("closed")

	// ... and pins nothing for the main port, whose key is new.
	b, hk = f.openPort(t, f.sshd.Port)
	trust(b, hk, f.sshd.HostKey)
	b.type_("exit\r")
	b.expect("closed")

	// Both are known now, each with its own key.
	for _, tc := range []struct {
		port int
		key  ssh.PublicKey
	}{{other.Port, other.HostKey}, {f.sshd.Port, f.sshd.HostKey}} {
		b, hk := f.openPort(t, tc.port)
		if hk == nil || hk["type"] != "hostkey" || hk["known"] != true || hk["fingerprint"] != ssh.FingerprintSHA256(tc.key) {
			t.Fatalf("port %d: %v, want its known key", tc.port, hk)
		}
		b.expect("connected")
		b.type_("exit\r")
		b.expect("closed")
	}

	// A reset names the port (22 when it does not).
	req, err := http.NewRequest(http.MethodPost, f.web.URL+"/console/api/host-keys/reset",
		strings.NewReader(fmt.Sprintf(`{"instanceId":%q,"port":%d}`, f.instance, other.Port)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = f.header("alice")
	req.Header.Set("X-Postern-CSRF", "csrf-alice")
	resp, err := f.web.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	b, hk = f.openPort(t, other.Port)
	trust(b, hk, other.HostKey)
	b, hk = f.openPort(t, f.sshd.Port)
	if hk == nil || hk["known"] != true {
		t.Fatalf("the main port's pin after the other port's reset: %v", hk)
	}
	b.expect("connected")
}

// TestTerminalPortNotAllowed: the terminal reaches only what the person's
// own tunnel may: a port outside the server's tunnel ports is refused by
// the front door (AWS's error to the page), although something listens
// there and the person may open tunnels.
func TestTerminalPortNotAllowed(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a real service on a port tunnels may not reach
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	_, first := f.openPort(t, ln.Addr().(*net.TCPAddr).Port)
	if first == nil || first["type"] != "error" {
		t.Fatalf("first message %v, want the front door's refusal", first)
	}
	if msg, _ := first["message"].(string); first["code"] == "" || msg == "" {
		t.Fatalf("refusal %v without AWS's code and message", first)
	}
	select {
	case <-accepted:
		t.Fatal("the refused port was connected")
	default:
	}
}
