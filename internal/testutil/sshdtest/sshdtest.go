// Package sshdtest starts a real OpenSSH sshd for a test and builds ssh and
// scp command lines that log in to it, so that tests of the tunnel, the
// agent and keyless SSH exercise the same OpenSSH a user runs.
//
// Start writes an ed25519 host key, an ed25519 user key, a known_hosts file
// and a throwaway sshd_config into a fresh temporary directory, then serves
// SSH in one of two ways:
//
//   - Default (inetd mode): the helper listens on 127.0.0.1:0 itself and, for
//     each accepted connection, runs `/usr/sbin/sshd -i -f CONFIG -E LOG`
//     with the connection as its stdin and stdout. No fixed port is used on
//     the host, and Server.Addr is a real address any process can dial.
//   - Daemon mode (Options.ListenAddr set): `sshd -D` listens on ListenAddr,
//     optionally run through Options.CommandPrefix — typically
//     `ip netns exec NS` so sshd listens inside a network namespace the test
//     made (see package netns), where a fixed port such as 22 is fine.
//     Start waits for sshd to log that it is listening.
//
// The client logs in as the current OS user (root in CI; sshd is configured
// with PermitRootLogin prohibit-password) using Server.UserKeyPath:
//
//	srv := sshdtest.Start(t, sshdtest.Options{})
//	out, err := srv.Command(ctx, "", "", "echo", "hello").CombinedOutput()
//
//	// Through a ProxyCommand, the way users reach an instance through an
//	// EC2 Instance Connect Endpoint (known_hosts gets the alias):
//	cmd := srv.Command(ctx, postern+" ec2-instance-connect open-tunnel --instance-id %h",
//		"i-0123456789abcdef0", "true")
//
//	// scp: operands starting with ':' are paths on the server.
//	cmd = srv.SCPCommand(ctx, "", "", "local.bin", ":/tmp/remote.bin")
//
// Everything (the listener, every sshd and the sessions it started, the
// temporary directory) is removed by t.Cleanup; if the test failed, the sshd
// log is written to the test log first. A missing sshd, ssh or scp is a test
// failure with a hint to run `make test-deps`, never a skip.
package sshdtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/postern/postern/internal/testutil/internal/proctree"
)

// DefaultSSHD is where Debian's openssh-server installs sshd. sshd must be
// started by absolute path (it re-executes itself).
const DefaultSSHD = "/usr/sbin/sshd"

// Options configures Start. The zero value gives an inetd-mode server on a
// kernel-chosen loopback port that accepts the generated user key.
type Options struct {
	// User is the account the ssh client logs in as; default: the current
	// OS user. Unless the test runs as root, sshd can only log in the
	// user it runs as.
	User string

	// NoAuthorizedKeysFile writes "AuthorizedKeysFile none", so only an
	// AuthorizedKeysCommand given in ExtraConfig can authorise keys.
	// Otherwise the file at Server.AuthorizedKeysPath holds UserPublicKey.
	NoAuthorizedKeysFile bool

	// ExtraConfig holds extra sshd_config lines, e.g.
	// "AuthorizedKeysCommand /path/postern authorized-keys %u %f" and
	// "AuthorizedKeysCommandUser nobody". sshd keeps the first value it reads
	// for a keyword, so these lines are written before the helper's defaults
	// and override them; lines from the first "Match" line on are written at
	// the end of the file. The result is checked with `sshd -t`.
	ExtraConfig []string

	// ListenAddr selects daemon mode: `sshd -D` listens on this IP:port
	// (e.g. "10.77.1.10:22" inside a namespace; an IP literal, as Start
	// waits for sshd's "Server listening on IP port PORT." log line). Empty: inetd mode on
	// 127.0.0.1 with a kernel-chosen port.
	ListenAddr string

	// CommandPrefix is put before the sshd command line in daemon mode, e.g.
	// []string{"ip", "netns", "exec", "ns1"}. It requires ListenAddr.
	CommandPrefix []string

	// Ready, if set, is called in daemon mode after sshd has logged that it
	// listens, repeatedly until it returns nil or StartTimeout passes; use
	// it to check reachability from where the clients will be (e.g. a
	// netns.NS's CanDial).
	Ready func(ctx context.Context) error

	// StartTimeout bounds the wait for a daemon-mode sshd; default 15s.
	StartTimeout time.Duration

	// SSHD is the sshd binary; default DefaultSSHD.
	SSHD string

	// Env adds variables to sshd's environment, e.g. nss_wrapper's
	// LD_PRELOAD, NSS_WRAPPER_PASSWD and NSS_WRAPPER_GROUP to give sshd
	// users that the host does not have. (sshd starts the
	// AuthorizedKeysCommand and sessions with an environment of its own.)
	Env []string
}

// Server is a running sshd and the files a client needs to log in to it.
type Server struct {
	// Addr is the host:port to connect to; Host and Port are its parts.
	Addr string
	Host string
	Port int
	// User is the login user.
	User string

	// Dir is the temporary directory holding all the files below.
	Dir                string
	ConfigPath         string
	LogPath            string
	KnownHostsPath     string
	AuthorizedKeysPath string // empty with Options.NoAuthorizedKeysFile
	HostKeyPath        string

	// UserKeyPath is the client's private key (OpenSSH format, mode 0600).
	UserKeyPath string
	// UserPublicKey is the client's public key as an authorized_keys line
	// ("ssh-ed25519 AAAA…"), without a newline.
	UserPublicKey string
	// UserSigner is the same key for Go SSH clients.
	UserSigner ssh.Signer

	// HostPublicKey is sshd's host key as "ssh-ed25519 AAAA…"; HostKey is
	// the same key parsed.
	HostPublicKey string
	HostKey       ssh.PublicKey

	t         testing.TB
	sshd      string
	sshPath   string
	scpPath   string
	env       []string // sshd's environment; nil: the test's
	ln        net.Listener
	logFile   *os.File
	mu        sync.Mutex // guards the fields below
	closed    bool
	procs     map[*proc]struct{}
	knownHost map[string]bool
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts an sshd for t and arranges for it to be stopped at cleanup.
// Any failure is fatal.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{t: t, procs: map[*proc]struct{}{}, knownHost: map[string]bool{}}
	s.sshd = opts.SSHD
	if s.sshd == "" {
		s.sshd = DefaultSSHD
	}
	if !filepath.IsAbs(s.sshd) {
		t.Fatalf("sshdtest: sshd must be given by absolute path, got %q", s.sshd)
	}
	if _, err := os.Stat(s.sshd); err != nil {
		t.Fatalf("sshdtest: OpenSSH server not found (%v); run `make test-deps` (installs openssh-server)", err)
	}
	var err error
	if s.sshPath, err = exec.LookPath("ssh"); err != nil {
		t.Fatalf("sshdtest: ssh client not found (%v); run `make test-deps` (installs openssh-client)", err)
	}
	if s.scpPath, err = exec.LookPath("scp"); err != nil {
		t.Fatalf("sshdtest: scp not found (%v); run `make test-deps` (installs openssh-client)", err)
	}
	if len(opts.CommandPrefix) > 0 && opts.ListenAddr == "" {
		t.Fatalf("sshdtest: Options.CommandPrefix needs Options.ListenAddr")
	}

	s.User = opts.User
	if len(opts.Env) > 0 {
		s.env = append(os.Environ(), opts.Env...)
	}
	if s.User == "" {
		u, err := user.Current()
		if err != nil {
			t.Fatalf("sshdtest: current user: %v", err)
		}
		s.User = u.Username
	}
	if os.Geteuid() == 0 {
		// sshd running as root insists on its privilege separation
		// directory, which Debian only creates when the service starts.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshdtest: creating sshd's privilege separation directory: %v", err)
		}
	}

	s.Dir, err = os.MkdirTemp("", "sshdtest-")
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(s.Dir) })
	// Readable by others so that an AuthorizedKeysCommandUser or another
	// login user can reach the public files; private keys stay 0600.
	if err := os.Chmod(s.Dir, 0o755); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	s.ConfigPath = filepath.Join(s.Dir, "sshd_config")
	s.LogPath = filepath.Join(s.Dir, "sshd.log")
	s.KnownHostsPath = filepath.Join(s.Dir, "known_hosts")
	s.HostKeyPath = filepath.Join(s.Dir, "ssh_host_ed25519_key")
	s.UserKeyPath = filepath.Join(s.Dir, "id_ed25519")

	var hostSigner ssh.Signer
	s.HostPublicKey, hostSigner = writeKey(t, s.HostKeyPath, "sshdtest host key")
	s.HostKey = hostSigner.PublicKey()
	s.UserPublicKey, s.UserSigner = writeKey(t, s.UserKeyPath, "sshdtest user key")
	if !opts.NoAuthorizedKeysFile {
		s.AuthorizedKeysPath = filepath.Join(s.Dir, "authorized_keys")
		if err := os.WriteFile(s.AuthorizedKeysPath, []byte(s.UserPublicKey+"\n"), 0o644); err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
	}
	if err := os.WriteFile(s.KnownHostsPath, nil, 0o644); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}

	s.logFile, err = os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sshdtest: sshd log %s:\n%s", s.LogPath, s.Log())
		}
	})
	t.Cleanup(s.stop)

	if opts.ListenAddr != "" {
		host, port, err := net.SplitHostPort(opts.ListenAddr)
		if err != nil {
			t.Fatalf("sshdtest: Options.ListenAddr: %v", err)
		}
		s.setAddr(host, port)
	} else {
		s.ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("sshdtest: listen: %v", err)
		}
		host, port, _ := net.SplitHostPort(s.ln.Addr().String())
		s.setAddr(host, port)
	}

	if err := os.WriteFile(s.ConfigPath, []byte(s.config(opts)), 0o644); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	if out, err := exec.Command(s.sshd, "-t", "-f", s.ConfigPath).CombinedOutput(); err != nil {
		cfg, _ := os.ReadFile(s.ConfigPath)
		t.Fatalf("sshdtest: sshd rejects the config: %v\n%s\nconfig:\n%s", err, out, cfg)
	}
	s.AllowHost(s.Host)

	if s.ln != nil {
		go s.acceptLoop()
	} else {
		s.startDaemon(opts)
	}
	return s
}

func (s *Server) setAddr(host, port string) {
	p, err := strconv.Atoi(port)
	if err != nil {
		s.t.Fatalf("sshdtest: bad port %q", port)
	}
	s.Host, s.Port, s.Addr = host, p, net.JoinHostPort(host, port)
}

// writeKey writes a new ed25519 private key in OpenSSH format to path (0600)
// and its public half to path+".pub", and returns the authorized_keys line.
func writeKey(t testing.TB, path, comment string) (string, ssh.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	if err := os.WriteFile(path+".pub", []byte(line+" "+comment+"\n"), 0o644); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	return line, signer
}

// quote makes a path safe to use as one sshd_config argument.
func quote(s string) string { return strconv.Quote(s) }

func (s *Server) config(opts Options) string {
	var head, tail []string
	inMatch := false
	for _, l := range opts.ExtraConfig {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], "Match") {
			inMatch = true
		}
		if inMatch {
			tail = append(tail, l)
		} else {
			head = append(head, l)
		}
	}
	var b strings.Builder
	b.WriteString("# Written by sshdtest for one test; removed when the test ends.\n")
	for _, l := range head {
		b.WriteString(l + "\n")
	}
	if opts.ListenAddr != "" {
		fmt.Fprintf(&b, "ListenAddress %s\n", s.Addr)
	}
	fmt.Fprintf(&b, "HostKey %s\n", quote(s.HostKeyPath))
	fmt.Fprintf(&b, "PidFile %s\n", quote(filepath.Join(s.Dir, "sshd.pid")))
	if s.AuthorizedKeysPath != "" {
		fmt.Fprintf(&b, "AuthorizedKeysFile %s\n", quote(s.AuthorizedKeysPath))
	} else {
		b.WriteString("AuthorizedKeysFile none\n")
	}
	// SetEnv SHLVL=1: bash reads ~/.bashrc for a command run by sshd only
	// when it believes it is the top-level shell (SHLVL unset or 0), so
	// this keeps the host user's dotfiles out of the test's remote
	// commands. A CI host's root ~/.bashrc ran `pyenv init`, whose
	// concurrent rehashes printed to stderr and failed tests that compare
	// a command's output. Interactive (pty) shells still read it.
	b.WriteString(`UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
AllowStreamLocalForwarding no
X11Forwarding no
PermitTunnel no
PrintMotd no
PrintLastLog no
UseDNS no
LogLevel VERBOSE
Subsystem sftp internal-sftp
SetEnv SHLVL=1
`)
	for _, l := range tail {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// acceptLoop runs one `sshd -i` per accepted connection until the listener
// is closed.
func (s *Server) acceptLoop() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				fmt.Fprintf(s.logFile, "sshdtest: accept: %v\n", err)
			}
			return
		}
		s.serve(c.(*net.TCPConn))
	}
}

func (s *Server) serve(c *net.TCPConn) {
	f, err := c.File() // sshd gets the socket itself, not a pipe
	c.Close()
	if err != nil {
		fmt.Fprintf(s.logFile, "sshdtest: %v\n", err)
		return
	}
	defer f.Close()
	cmd := exec.Command(s.sshd, "-i", "-f", s.ConfigPath, "-E", s.LogPath)
	cmd.Env = s.env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, s.logFile
	if _, err := s.startProc(cmd); err != nil {
		fmt.Fprintf(s.logFile, "sshdtest: starting sshd -i: %v\n", err)
	}
}

// startProc starts cmd unless the server is stopping, and reaps it in the
// background.
func (s *Server) startProc(cmd *exec.Cmd) (*proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("server stopped")
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	s.procs[p] = struct{}{}
	go func() {
		cmd.Wait()
		s.mu.Lock()
		delete(s.procs, p)
		s.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (s *Server) startDaemon(opts Options) {
	t := s.t
	t.Helper()
	argv := append(append([]string{}, opts.CommandPrefix...),
		s.sshd, "-D", "-f", s.ConfigPath, "-E", s.LogPath)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = s.logFile, s.logFile
	p, err := s.startProc(cmd)
	if err != nil {
		t.Fatalf("sshdtest: starting %q: %v", argv, err)
	}
	done := p.done

	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	// sshd logs "Server listening on ADDR port PORT." right after listen().
	want := fmt.Sprintf("Server listening on %s port %d.", s.Host, s.Port)
	for !strings.Contains(s.Log(), want) {
		select {
		case <-done:
			t.Fatalf("sshdtest: %q exited before listening:\n%s", argv, s.Log())
		case <-ctx.Done():
			t.Fatalf("sshdtest: %q not listening on %s after %v:\n%s", argv, s.Addr, timeout, s.Log())
		case <-tick.C:
		}
	}
	if opts.Ready == nil {
		return
	}
	for {
		err := opts.Ready(ctx)
		if err == nil {
			return
		}
		select {
		case <-done:
			t.Fatalf("sshdtest: %q exited:\n%s", argv, s.Log())
		case <-ctx.Done():
			t.Fatalf("sshdtest: sshd on %s not ready after %v: %v\n%s", s.Addr, timeout, err, s.Log())
		case <-tick.C:
		}
	}
}

// stop closes the listener and kills every sshd started for s together with
// the sessions they started.
func (s *Server) stop() {
	s.mu.Lock()
	s.closed = true
	procs := make([]*proc, 0, len(s.procs))
	for p := range s.procs {
		procs = append(procs, p)
	}
	s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
	}
	for _, p := range procs {
		select {
		case <-p.done:
		default:
			proctree.Kill(p.cmd.Process.Pid)
		}
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			s.t.Errorf("sshdtest: sshd pid %d did not exit after SIGKILL", p.cmd.Process.Pid)
		}
	}
	s.logFile.Close()
}

// Log returns the sshd log so far (for failure messages).
func (s *Server) Log() string {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", s.LogPath, err)
	}
	return string(b)
}

// AllowHost adds alias to the known_hosts file with this server's host key
// (for any port), so that ssh with StrictHostKeyChecking=yes accepts the
// server under that name — e.g. an instance id reached via a ProxyCommand.
// Command and SCPCommand call it for their host.
func (s *Server) AllowHost(alias string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.knownHost[alias] {
		return
	}
	f, err := os.OpenFile(s.KnownHostsPath, os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		_, err = fmt.Fprintf(f, "%s,[%s]:* %s\n", alias, alias, s.HostPublicKey)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		// Not fatal here: this may run outside the test goroutine; the ssh
		// command will fail host key verification and say so.
		fmt.Fprintf(os.Stderr, "sshdtest: writing %s: %v\n", s.KnownHostsPath, err)
		return
	}
	s.knownHost[alias] = true
}

// clientArgs are the options every ssh and scp invocation gets: no user or
// system configuration, only the generated key, strict host key checking
// against KnownHostsPath, no prompts.
func (s *Server) clientArgs() []string {
	return []string{
		"-F", "/dev/null",
		"-i", s.UserKeyPath,
		"-o", "IdentitiesOnly=yes",
		"-o", "IdentityAgent=none",
		"-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + s.KnownHostsPath,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "UpdateHostKeys=no",
		"-o", "LogLevel=ERROR",
		"-o", "ConnectTimeout=15",
		"-o", "User=" + s.User,
	}
}

// SSHArgs returns ssh options for connecting directly to Addr, followed by
// extra (typically the destination Host and a remote command):
//
//	exec.Command("ssh", srv.SSHArgs(srv.Host, "true")...)
//
// The options are: -F /dev/null, -i UserKeyPath, IdentitiesOnly=yes,
// BatchMode=yes, StrictHostKeyChecking=yes, UserKnownHostsFile=KnownHostsPath,
// LogLevel=ERROR, User=User and Port=Port. Being -o options, they work for
// scp too.
func (s *Server) SSHArgs(extra ...string) []string {
	args := append(s.clientArgs(), "-o", "Port="+strconv.Itoa(s.Port))
	return append(args, extra...)
}

// destArgs returns the options and destination for host through
// proxyCommand (see Command).
func (s *Server) destArgs(proxyCommand, host string) (opts []string, dest string) {
	if proxyCommand != "" {
		if host == "" {
			host = s.Host
		}
		s.AllowHost(host)
		// Port stays 22 (what %p expands to), as for a real instance.
		return append(s.clientArgs(), "-o", "ProxyCommand="+proxyCommand), host
	}
	opts = s.SSHArgs()
	if host == "" || host == s.Host {
		return opts, s.Host
	}
	// Connect to Addr under the name host; the known_hosts lookup uses the
	// real address, which is always allowed.
	return append(opts, "-o", "HostName="+s.Host), host
}

// Command returns an ssh command that runs remoteCmd on the server (ssh
// joins its words with spaces for the login shell; with no remoteCmd it
// asks for a shell).
//
// With proxyCommand empty, ssh connects directly to Addr; host, if given, is
// only the name ssh shows (%h/%n). Otherwise ssh reaches the server through
// `-o ProxyCommand=proxyCommand` with host as the destination (e.g.
// proxyCommand "postern ec2-instance-connect open-tunnel --instance-id %h"
// and host "i-0123456789abcdef0"); host is added to the known hosts first.
// The caller sets Stdin, Stdout, Env etc. as needed.
func (s *Server) Command(ctx context.Context, proxyCommand, host string, remoteCmd ...string) *exec.Cmd {
	opts, dest := s.destArgs(proxyCommand, host)
	args := append(opts, "--", dest)
	args = append(args, remoteCmd...)
	return exec.CommandContext(ctx, s.sshPath, args...)
}

// SCPCommand returns an scp command; proxyCommand and host are as for
// Command. Each operand starting with ':' names a path on the server and is
// rewritten to "host:path"; other operands are local paths. For example
// SCPCommand(ctx, "", "", "local.bin", ":/tmp/remote.bin") uploads.
func (s *Server) SCPCommand(ctx context.Context, proxyCommand, host string, operands ...string) *exec.Cmd {
	opts, dest := s.destArgs(proxyCommand, host)
	if strings.Contains(dest, ":") {
		dest = "[" + dest + "]"
	}
	args := append(opts, "-q", "--")
	for _, o := range operands {
		if strings.HasPrefix(o, ":") {
			o = dest + o
		}
		args = append(args, o)
	}
	return exec.CommandContext(ctx, s.scpPath, args...)
}

// SafeExecutable copies the executable at src into a new directory under
// /run whose every path component is owned by root and writable only by its
// owner, and returns the copy's path. sshd refuses to run an
// AuthorizedKeysCommand from anywhere else (so not from /tmp, which is world
// writable). The copy is mode 0755, so an AuthorizedKeysCommandUser such as
// nobody can run it; it is removed at cleanup. It needs root.
func SafeExecutable(t testing.TB, src string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("sshdtest: SafeExecutable needs root (sshd requires a root-owned path for AuthorizedKeysCommand)")
	}
	const base = "/run"
	if err := checkSafePath(base); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	dir, err := os.MkdirTemp(base, "sshdtest-")
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	defer in.Close()
	dst := filepath.Join(dir, filepath.Base(src))
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("sshdtest: copying %s: %v", src, err)
	}
	if err := os.Chmod(dst, 0o755); err != nil { // not subject to umask
		t.Fatalf("sshdtest: %v", err)
	}
	return dst
}

// checkSafePath applies sshd's rule for AuthorizedKeysCommand paths to dir
// and its parents: owned by root, not writable by group or others.
func checkSafePath(dir string) error {
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("%s (mode %v) is not a root-owned directory writable only by root, as sshd requires", p, fi.Mode())
		}
		if p == "/" {
			return nil
		}
	}
}
