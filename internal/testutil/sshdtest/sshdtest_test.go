package sshdtest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/hostenv"
	"github.com/postern/postern/internal/testutil/netns"
	"github.com/postern/postern/internal/testutil/sshdtest"
)

// When the test binary is run as a ProxyCommand (see proxyCommand), it
// checks the %h it was given and then joins stdin/stdout to the address in
// proxyToEnv, like a minimal tunnel.
const (
	proxyToEnv   = "SSHDTEST_PROXY_TO"
	proxyHostEnv = "SSHDTEST_PROXY_HOST"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(proxyToEnv); addr != "" {
		os.Exit(runProxy(addr))
	}
	// ssh runs the ProxyCommand with the user's shell, which warns on
	// stderr about a locale the machine lacks (LC_ALL): the tests'
	// environment is their own.
	restore := hostenv.Isolate()
	code := m.Run()
	restore()
	os.Exit(code)
}

func runProxy(addr string) int {
	if len(os.Args) != 2 || os.Args[1] != os.Getenv(proxyHostEnv) {
		fmt.Fprintf(os.Stderr, "proxy: got args %q, want the single host %q\n", os.Args[1:], os.Getenv(proxyHostEnv))
		return 2
	}
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		return 1
	}
	go func() {
		io.Copy(c, os.Stdin)
		c.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(os.Stdout, c)
	return 0
}

// proxyCommand returns a ProxyCommand running this test binary as a proxy
// to addr, and the environment ssh must be given for it.
func proxyCommand(t *testing.T, addr, host string) (string, []string) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe + " %h", append(os.Environ(), proxyToEnv+"="+addr, proxyHostEnv+"="+host)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDirect(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := sshdtest.Start(t, sshdtest.Options{})
	if out, err := srv.Command(ctx, "", "", "true").CombinedOutput(); err != nil {
		t.Fatalf("ssh true: %v\n%s", err, out)
	}
	out, err := srv.Command(ctx, "", "", "echo", "hello").CombinedOutput()
	if err != nil || string(out) != "hello\n" {
		t.Fatalf("ssh echo hello: %v, output %q", err, out)
	}
	out, err = srv.Command(ctx, "", "", "id", "-un").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != srv.User {
		t.Fatalf("ssh id -un: %v, output %q, want %q", err, out, srv.User)
	}
	// The raw options work with a plain exec too, and stdin reaches the
	// remote command.
	cmd := srv.Command(ctx, "", "instance-alias", "cat")
	cmd.Stdin = strings.NewReader("through stdin")
	out, err = cmd.CombinedOutput()
	if err != nil || string(out) != "through stdin" {
		t.Fatalf("ssh cat: %v, output %q", err, out)
	}
	if !strings.Contains(srv.Log(), "Accepted publickey for "+srv.User) {
		t.Errorf("sshd log lacks the accepted login:\n%s", srv.Log())
	}
}

func TestSCPRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := sshdtest.Start(t, sshdtest.Options{})
	dir := t.TempDir()
	data := make([]byte, 1<<20)
	rand.Read(data)
	local := filepath.Join(dir, "up.bin")
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	remote := filepath.Join(dir, "remote.bin") // the "server" shares this file system
	if out, err := srv.SCPCommand(ctx, "", "", local, ":"+remote).CombinedOutput(); err != nil {
		t.Fatalf("scp up: %v\n%s", err, out)
	}
	back := filepath.Join(dir, "back.bin")
	if out, err := srv.SCPCommand(ctx, "", "", ":"+remote, back).CombinedOutput(); err != nil {
		t.Fatalf("scp down: %v\n%s", err, out)
	}
	want := sha256.Sum256(data)
	for _, p := range []string{remote, back} {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(got) != want {
			t.Errorf("%s: checksum differs from the original (%d bytes)", p, len(got))
		}
	}
}

func TestProxyCommand(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := sshdtest.Start(t, sshdtest.Options{})
	const instance = "i-0123456789abcdef0"
	pc, env := proxyCommand(t, srv.Addr, instance)

	cmd := srv.Command(ctx, pc, instance, "echo", "via", "proxy")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "via proxy\n" {
		t.Fatalf("ssh through ProxyCommand: %v, output %q", err, out)
	}

	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("scp via proxy"), 0o644); err != nil {
		t.Fatal(err)
	}
	scp := srv.SCPCommand(ctx, pc, instance, src, ":"+filepath.Join(dir, "dst"))
	scp.Env = env
	if out, err := scp.CombinedOutput(); err != nil {
		t.Fatalf("scp through ProxyCommand: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "dst")); string(got) != "scp via proxy" {
		t.Errorf("scp through ProxyCommand copied %q", got)
	}
}

// TestHostKeyChecked shows the client options really check the host key:
// a name that was never allowed, or another server's key, is refused.
func TestHostKeyChecked(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := sshdtest.Start(t, sshdtest.Options{})
	other := sshdtest.Start(t, sshdtest.Options{})
	const instance = "i-0fedcba9876543210"

	pc, env := proxyCommand(t, srv.Addr, instance)
	cmd := exec.CommandContext(ctx, "ssh", srv.SSHArgs("-o", "ProxyCommand="+pc, instance, "true")...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Host key verification failed") {
		t.Fatalf("unknown alias: err %v, output %q; want host key verification failure", err, out)
	}

	// other's known_hosts trusts the alias with other's key, but the proxy
	// leads to srv.
	cmd = other.Command(ctx, pc, instance, "true")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Host key verification failed") {
		t.Fatalf("wrong host key: err %v, output %q; want host key verification failure", err, out)
	}
}

func TestNoAuthorizedKeysFile(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := sshdtest.Start(t, sshdtest.Options{NoAuthorizedKeysFile: true})
	out, err := srv.Command(ctx, "", "", "true").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Fatalf("login without any authorized key: err %v, output %q; want permission denied", err, out)
	}
}

// TestAuthorizedKeysCommand is the set-up keyless SSH needs: no
// authorized_keys file, keys from a command run as nobody.
func TestAuthorizedKeysCommand(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("AuthorizedKeysCommandUser needs sshd running as root")
	}
	ctx := testContext(t)
	// The key is only known once the server exists, so the script reads it
	// from a file next to itself, written after Start.
	script := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(script, []byte(`#!/bin/sh
# $1 = user, $2 = key fingerprint
echo "$1 $2" >> "$(dirname "$0")/calls"
cat "$(dirname "$0")/keys.txt"
`), 0o755); err != nil {
		t.Fatal(err)
	}
	cmdPath := sshdtest.SafeExecutable(t, script)
	dir := filepath.Dir(cmdPath)
	for _, f := range []string{"calls", "keys.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o666); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dir, f), 0o666)
	}
	srv := sshdtest.Start(t, sshdtest.Options{
		NoAuthorizedKeysFile: true,
		ExtraConfig: []string{
			"AuthorizedKeysCommand " + cmdPath + " %u %f",
			"AuthorizedKeysCommandUser nobody",
		},
	})
	if out, err := srv.Command(ctx, "", "", "true").CombinedOutput(); err == nil {
		t.Fatalf("login succeeded before the command knew the key: %s", out)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys.txt"), []byte(srv.UserPublicKey+"\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	if out, err := srv.Command(ctx, "", "", "echo", "ok").CombinedOutput(); err != nil || string(out) != "ok\n" {
		t.Fatalf("login with key from AuthorizedKeysCommand: %v, output %q", err, out)
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	if !strings.HasPrefix(string(calls), srv.User+" SHA256:") {
		t.Errorf("AuthorizedKeysCommand calls %q; want user and fingerprint", calls)
	}
}

func TestExtraConfigOverridesDefaults(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := sshdtest.Start(t, sshdtest.Options{ExtraConfig: []string{
		"PubkeyAuthentication no",
		"Match User nosuchuser",
		"  PermitTTY no",
	}})
	out, err := srv.Command(ctx, "", "", "true").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Fatalf("with PubkeyAuthentication no: err %v, output %q; want permission denied", err, out)
	}
	cfg, _ := os.ReadFile(srv.ConfigPath)
	if i, j := bytes.Index(cfg, []byte("Match User")), bytes.Index(cfg, []byte("Subsystem sftp")); i < j {
		t.Errorf("Match block not at the end of the config:\n%s", cfg)
	}
}

// TestDaemonInNamespace runs `sshd -D` inside a network namespace on port 22
// and logs in from the host over a veth.
func TestDaemonInNamespace(t *testing.T) {
	t.Parallel()
	netns.Require(t)
	ctx := testContext(t)
	ns := netns.New(t, "sshd")
	veth := netns.Link(t, nil, ns, "", "")
	addr := net.JoinHostPort(veth.BAddr.Addr().String(), "22")
	srv := sshdtest.Start(t, sshdtest.Options{
		CommandPrefix: ns.ExecPrefix(),
		ListenAddr:    addr,
		Ready: func(ctx context.Context) error {
			return netns.Host.CanDial(ctx, addr) // from the host, where ssh runs
		},
	})
	if srv.Addr != addr || srv.Port != 22 {
		t.Fatalf("Addr %q Port %d; want %q", srv.Addr, srv.Port, addr)
	}
	out, err := srv.Command(ctx, "", "", "echo", "hello").CombinedOutput()
	if err != nil || string(out) != "hello\n" {
		t.Fatalf("ssh into the namespace: %v, output %q", err, out)
	}
	// The connection came in over the veth, from the host end.
	if want := "Connection from " + veth.AAddr.Addr().String(); !strings.Contains(srv.Log(), want) {
		t.Errorf("sshd log lacks %q:\n%s", want, srv.Log())
	}
}
