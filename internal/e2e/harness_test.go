// Package e2e runs the real postern binary as a new user would: it builds
// it once, starts `postern server` on a loopback port chosen by the kernel,
// and drives it with the postern CLI and the AWS SDK for Go v2, configured
// only through the files the server writes.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/testutil/hostenv"
	"github.com/postern/postern/internal/testutil/pgtest"
)

var binPath string

func TestMain(m *testing.M) {
	// The tests' environment is their own, before postern is built: a
	// developer's or CI host's AWS settings, proxies (the AWS CLI and
	// botocore send even loopback calls through HTTPS_PROXY unless
	// NO_PROXY names it), POSTERN_SSH, NODE_OPTIONS, locale, umask (a
	// helper config the sshd's AuthorizedKeysCommandUser could not read)
	// and ~/.aws must not change what the tests see.
	restoreEnv := hostenv.Isolate()
	dir, err := os.MkdirTemp("", "postern-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "postern")
	// Static, as the release and internal/testutil/posternbin build it:
	// the tests run the binary users run (Go's own resolver and user
	// lookups), and the build shares the go build cache with posternbin's
	// builds and `make vet` (also CGO_ENABLED=0) instead of compiling the
	// dependency tree once more with cgo.
	build := exec.Command("go", "build", "-o", binPath, "github.com/postern/postern/cmd/postern")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building postern:", err)
		os.Exit(1)
	}
	// pgtest.Run is m.Run that also stops the PostgreSQL server the
	// replica tests start.
	code := pgtest.Run(m)
	os.RemoveAll(dir)
	restoreEnv()
	os.Exit(code)
}

// serverProc is a running `postern server`.
type serverProc struct {
	t       *testing.T
	dataDir string
	url     string
	cmd     *exec.Cmd
	done    chan struct{}
	mu      sync.Mutex // guards out
	out     bytes.Buffer
	exitErr error
}

// startServer starts `postern server` on dataDir with a kernel-chosen port
// and waits for its "running on" line. Later --listen flags in extra
// override the default one.
func startServer(t *testing.T, dataDir string, extra ...string) *serverProc {
	t.Helper()
	p, err := tryStartServer(t, dataDir, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startServerWithEcho starts an echo target on loopback and a server on a
// fresh data directory that allows tunnels to port 22 and to the echo's
// port; it returns the server and the echo's port.
func startServerWithEcho(t *testing.T) (*serverProc, int) {
	t.Helper()
	echoPort := echoServer(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	writeServerConfig(t, dataDir, fmt.Sprintf("version: 1\ntunnel:\n  ports: [\"22\", \"%d\"]\n", echoPort))
	return startServer(t, dataDir), echoPort
}

// tryStartServer is startServer returning an error (with the server's
// output) instead of failing t, for callers that retry, e.g. when a fixed
// port they picked was taken in the meantime.
func tryStartServer(t *testing.T, dataDir string, extra ...string) (*serverProc, error) {
	t.Helper()
	return tryStartServerOn(t, dataDir, nil, extra...)
}

// startServerOn is startServer serving the reserved ports lns (the first
// is the main one), which the server inherits (--listen-fd) and the test
// keeps: no other process can take them, not even while the server
// restarts.
func startServerOn(t *testing.T, dataDir string, lns []*reservedPort, extra ...string) *serverProc {
	t.Helper()
	p, err := tryStartServerOn(t, dataDir, lns, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tryStartServerOn is startServerOn returning an error.
func tryStartServerOn(t *testing.T, dataDir string, lns []*reservedPort, extra ...string) (*serverProc, error) {
	t.Helper()
	args := append([]string{"server", "--data-dir", dataDir, "--listen", "127.0.0.1:0"}, extra...)
	var files []*os.File
	var fds []string
	for i, ln := range lns {
		files = append(files, ln.file)
		fds = append(fds, strconv.Itoa(3+i)) // ExtraFiles start at 3
	}
	if len(fds) > 0 {
		args = append(args, "--listen-fd", strings.Join(fds, ","))
	}
	cmd := exec.Command(binPath, args...)
	cmd.ExtraFiles = files
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &serverProc{t: t, dataDir: dataDir, cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{p: p}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		url := ""
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
			if rest, ok := strings.CutPrefix(line, "Postern is running on "); ok {
				url = strings.Fields(rest)[0]
			}
			// The welcome text ends with the command to try first.
			if url != "" && strings.TrimSpace(line) == "postern sts get-caller-identity" {
				ready <- url
				url = ""
			}
		}
		p.exitErr = cmd.Wait()
		close(p.done)
	}()
	select {
	case p.url = <-ready:
	case <-p.done:
		return nil, fmt.Errorf("server exited before it was ready: %v\n%s", p.exitErr, p.output())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-p.done
		return nil, fmt.Errorf("server not ready after 60s:\n%s", p.output())
	}
	t.Cleanup(func() { p.stop() })
	return p, nil
}

type lockedWriter struct{ p *serverProc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

func (p *serverProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// stop sends SIGTERM and waits for a clean exit.
func (p *serverProc) stop() error {
	select {
	case <-p.done:
		return p.exitErr
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("server did not stop within 30s")
	}
	return p.exitErr
}

// env returns the three variables the README tells users to set.
func (p *serverProc) env() []string {
	return []string{
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(p.dataDir, "credentials"),
		"AWS_CONFIG_FILE=" + filepath.Join(p.dataDir, "config"),
		"AWS_PROFILE=postern",
	}
}

// cli runs the postern binary with the server's client environment.
func (p *serverProc) cli(t *testing.T, extraEnv []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(cleanEnv(), p.env()...)
	cmd.Env = append(cmd.Env, extraEnv...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run postern %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// cleanEnv is the test's environment without AWS_* variables, so a
// developer's own AWS setup cannot leak in.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			out = append(out, kv)
		}
	}
	return out
}

// adminConfig loads an aws.Config exactly as an SDK user would: from the
// shared files the server wrote, profile postern.
func (p *serverProc) adminConfig(t *testing.T) aws.Config {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(),
		awsconfig.WithSharedConfigFiles([]string{filepath.Join(p.dataDir, "config")}),
		awsconfig.WithSharedCredentialsFiles([]string{filepath.Join(p.dataDir, "credentials")}),
		awsconfig.WithSharedConfigProfile("postern"),
	)
	if err != nil {
		t.Fatalf("load shared config: %v", err)
	}
	return cfg
}

// adminAccount returns the admin configuration of p and its account id
// (from GetCallerIdentity).
func (p *serverProc) adminAccount(t *testing.T) (aws.Config, string) {
	t.Helper()
	admin := p.adminConfig(t)
	who, err := sts.NewFromConfig(admin).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	return admin, *who.Account
}

// withCreds returns a copy of base signing with other credentials.
func withCreds(base aws.Config, akid, secret, token string) aws.Config {
	c := base.Copy()
	c.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(akid, secret, token))
	return c
}

func readAll(t *testing.T, r io.Reader) string {
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startBareServer starts a server without the one-machine local network
// (agent.embedded: false), for tests that count what they create.
func startBareServer(t *testing.T, dataDir string) *serverProc {
	t.Helper()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "postern.yaml"), []byte("version: 1\nagent:\n  embedded: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServer(t, dataDir)
}

// reservedPort is a listening socket the test holds for a server it runs:
// the port is never free between reserving it and the server's (or its
// restart's) use, so no other process can take it.
type reservedPort struct {
	addr string   // ip:port
	file *os.File // the socket, passed to the server
}

// reservePort listens on ip with a kernel-chosen port; the socket stays
// open until the test ends.
func reservePort(t *testing.T, ip netip.Addr) *reservedPort {
	t.Helper()
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.File()
	ln.Close() // f holds the socket
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &reservedPort{addr: ln.Addr().String(), file: f}
}

// release closes the test's copy of the socket: once the server that
// inherited it exits, the port refuses connections (and is free).
func (r *reservedPort) release() { r.file.Close() }
