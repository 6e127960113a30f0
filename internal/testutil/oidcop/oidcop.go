// Package oidcop starts a real OpenID provider for tests: the program in
// tools/oidc-provider (zitadel/oidc's OpenID-certified provider library,
// through its example provider), built once per test binary, on a
// loopback port of its own with a self-signed certificate, with the
// clients and users the test asks for.
//
// It also acts as the person in front of a browser: IDToken runs the
// authorization-code flow with PKCE over plain HTTP (the provider's own
// login page filled in and submitted, redirects followed to a loopback
// redirect URI, the code exchanged), SignIn does the browser part for an
// authorization URL some other program produced, and DeviceApprove enters
// a device flow's user code and signs in on the provider's own pages.
//
// It does not verify tokens (internal/server/oidcverify does) and it
// fakes nothing: every token comes from the provider's token endpoint.
package oidcop

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/ci"
	"github.com/postern/postern/internal/testutil/syncbuf"
)

// Provider is a running OpenID provider.
type Provider struct {
	// Issuer is https://127.0.0.1:PORT (no trailing slash), the "iss" of
	// its tokens and the base of its discovery document.
	Issuer string
	// CACert is the provider's self-signed TLS certificate.
	CACert *x509.Certificate
	// Thumbprint is the SHA-1 of CACert in lower-case hex: the top (and
	// only) certificate of the chain the provider presents, as AWS
	// computes an OIDC provider's thumbprint.
	Thumbprint string
	// Alg is the ID-token signing algorithm (RS256 or ES256).
	Alg string

	opts     Options
	bin      string
	dir      string
	listener *net.TCPListener
	lnFile   *os.File
	certPath string
	keyPath  string
	cfgPath  string

	clientOnce sync.Once
	client     *http.Client

	mu     sync.Mutex // guards cmd, waitc, stderr, keyID
	cmd    *exec.Cmd
	waitc  chan error
	stderr *syncbuf.Buffer
	keyID  string
}

// Options configure a provider.
type Options struct {
	// Alg is RS256 (default) or ES256.
	Alg string
	// IDTokenLifetime is how long ID tokens are valid (default one hour;
	// whole seconds).
	IDTokenLifetime time.Duration
	Clients         []Client
	Users           []User
}

// Client is an OAuth client registered at the provider.
type Client struct {
	ID string
	// Secret makes a confidential client (HTTP Basic at the token
	// endpoint); empty: a public client.
	Secret string
	// RedirectURIs for the code flow. A native client's loopback URI
	// (http://127.0.0.1/callback) matches any port.
	RedirectURIs []string
	// Device allows the device-authorization grant.
	Device bool
	// Native makes a native application (public, PKCE, loopback
	// redirects).
	Native bool
}

// User is a person who can sign in.
type User struct {
	Subject, Username, Password, Email string
	// Claims are added to the user's ID tokens (for example
	// "https://aws.amazon.com/tags" or "amr"). Claims the provider sets
	// itself win: after a password sign-in "amr" is ["pwd"].
	Claims map[string]any
}

// Start builds (once per test binary) and starts a provider with opts,
// and stops it when the test ends. Outside CI a failed build skips the
// test; under CI it fails it.
func Start(t testing.TB, opts Options) *Provider {
	t.Helper()
	bin, err := build()
	if err != nil {
		ci.Need(t, "oidcop: cannot build tools/oidc-provider: %v", err)
	}
	if opts.Alg == "" {
		opts.Alg = "RS256"
	}
	dir := t.TempDir()
	p := &Provider{
		Alg:      opts.Alg,
		opts:     opts,
		bin:      bin,
		dir:      dir,
		certPath: filepath.Join(dir, "op-cert.pem"),
		keyPath:  filepath.Join(dir, "op-key.pem"),
		cfgPath:  filepath.Join(dir, "op.json"),
	}
	if err := p.writeConfig(); err != nil {
		t.Fatalf("oidcop: %v", err)
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("oidcop: listen: %v", err)
	}
	p.listener = ln
	p.lnFile, err = ln.File()
	if err != nil {
		ln.Close()
		t.Fatalf("oidcop: listener file: %v", err)
	}
	t.Cleanup(func() {
		if p.client != nil {
			p.client.CloseIdleConnections()
		}
		p.stop()
		p.lnFile.Close()
		p.listener.Close()
		if t.Failed() {
			p.mu.Lock()
			if p.stderr != nil {
				t.Logf("oidc-provider log:\n%s", p.stderr.String())
			}
			p.mu.Unlock()
		}
	})
	p.start(t)

	pemBytes, err := os.ReadFile(p.certPath)
	if err != nil {
		t.Fatalf("oidcop: %v", err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatalf("oidcop: %s holds no PEM block", p.certPath)
	}
	p.CACert, err = x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("oidcop: certificate: %v", err)
	}
	sum := sha1.Sum(p.CACert.Raw)
	p.Thumbprint = hex.EncodeToString(sum[:])
	return p
}

// Restart stops the provider and starts it again on the same address and
// certificate with a new signing key: the old key leaves the JWKS (a key
// rotation). Sessions, codes and device authorizations are forgotten.
func (p *Provider) Restart(t testing.TB) {
	t.Helper()
	old := p.KeyID()
	p.stop()
	p.start(t)
	if p.KeyID() == old {
		t.Fatalf("oidcop: restart kept key id %s", old)
	}
}

// KeyID is the "kid" of the provider's current signing key.
func (p *Provider) KeyID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keyID
}

// CertPEMPath is the file holding CACert in PEM form.
func (p *Provider) CertPEMPath() string { return p.certPath }

// HTTPClient returns the provider's client: it trusts the provider's
// certificate (and nothing else) and has a timeout. The same client is
// returned each time; its idle connections close when the test ends.
func (p *Provider) HTTPClient() *http.Client {
	p.clientOnce.Do(func() {
		pool := x509.NewCertPool()
		pool.AddCert(p.CACert)
		p.client = &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
				ForceAttemptHTTP2: true,
			},
		}
	})
	return p.client
}

// start launches the program on the held listener and waits for its
// ready line.
func (p *Provider) start(t testing.TB) {
	t.Helper()
	stderr := &syncbuf.Buffer{}
	cmd := exec.Command(p.bin, "-config", p.cfgPath, "-tls-cert", p.certPath, "-tls-key", p.keyPath, "-listen-fd", "3")
	cmd.ExtraFiles = []*os.File{p.lnFile}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("oidcop: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("oidcop: start %s: %v", p.bin, err)
	}
	waitc := make(chan error, 1)
	linec := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		linec <- line
		io.Copy(io.Discard, stdout)
		waitc <- cmd.Wait()
	}()
	p.mu.Lock()
	p.cmd, p.waitc, p.stderr = cmd, waitc, stderr
	p.mu.Unlock()

	var line string
	select {
	case line = <-linec:
	case <-time.After(60 * time.Second):
		t.Fatalf("oidcop: no ready line within 60s; log:\n%s", stderr.String())
	}
	var ready struct{ Addr, Issuer, Alg, Kid string }
	if err := json.Unmarshal([]byte(line), &ready); err != nil || ready.Issuer == "" {
		t.Fatalf("oidcop: ready line %q: %v; log:\n%s", line, err, stderr.String())
	}
	if p.Issuer != "" && p.Issuer != ready.Issuer {
		t.Fatalf("oidcop: issuer changed from %s to %s", p.Issuer, ready.Issuer)
	}
	if ready.Addr != p.listener.Addr().String() {
		t.Fatalf("oidcop: provider serves %s, not the held listener %s", ready.Addr, p.listener.Addr())
	}
	p.Issuer = ready.Issuer
	p.mu.Lock()
	p.keyID = ready.Kid
	p.mu.Unlock()
}

// stop ends the running program: SIGTERM, then SIGKILL after 10s.
func (p *Provider) stop() {
	p.mu.Lock()
	cmd, waitc := p.cmd, p.waitc
	p.cmd, p.waitc = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-waitc:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-waitc
	}
}

func (p *Provider) writeConfig() error {
	type clientJSON struct {
		ID           string   `json:"id"`
		Secret       string   `json:"secret,omitempty"`
		RedirectURIs []string `json:"redirect_uris,omitempty"`
		Device       bool     `json:"device,omitempty"`
		Native       bool     `json:"native,omitempty"`
	}
	type userJSON struct {
		Subject  string         `json:"subject"`
		Username string         `json:"username"`
		Password string         `json:"password"`
		Email    string         `json:"email,omitempty"`
		Claims   map[string]any `json:"claims,omitempty"`
	}
	cfg := struct {
		Alg      string       `json:"alg"`
		Lifetime int          `json:"id_token_lifetime_seconds,omitempty"`
		Clients  []clientJSON `json:"clients"`
		Users    []userJSON   `json:"users"`
	}{Alg: p.opts.Alg, Lifetime: int(p.opts.IDTokenLifetime / time.Second)}
	for _, c := range p.opts.Clients {
		cfg.Clients = append(cfg.Clients, clientJSON(c))
	}
	for _, u := range p.opts.Users {
		cfg.Users = append(cfg.Users, userJSON(u))
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return os.WriteFile(p.cfgPath, data, 0o600)
}

func (p *Provider) clientSpec(id string) (Client, bool) {
	for _, c := range p.opts.Clients {
		if c.ID == id {
			return c, true
		}
	}
	return Client{}, false
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// build compiles tools/oidc-provider once per test binary into a
// directory named by a hash of its sources under the system's temporary
// directory, so that test binaries built from the same sources share it;
// the binary is written under a temporary name and renamed into place.
func build() (string, error) {
	buildOnce.Do(func() { buildBin, buildErr = doBuild() })
	return buildBin, buildErr
}

func doBuild() (string, error) {
	src, err := toolDir()
	if err != nil {
		return "", err
	}
	hash, err := sourceHash(src)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(os.TempDir(), "postern-oidc-provider-"+strconv.Itoa(os.Getuid()), hash[:16])
	bin := filepath.Join(dir, "oidc-provider")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "oidc-provider-*.tmp")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// go test puts its own Go's bin directory first on PATH.
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp.Name(), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build in %s: %v\n%s", src, err, out)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// toolDir finds tools/oidc-provider from this source file, or from the
// working directory's module root.
func toolDir() (string, error) {
	var candidates []string
	if _, file, _, ok := runtime.Caller(0); ok {
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", "..", "..", "tools", "oidc-provider"))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			candidates = append(candidates, filepath.Join(d, "tools", "oidc-provider"))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(c, "go.mod")); err == nil {
			return filepath.Clean(c), nil
		}
	}
	return "", errors.New("tools/oidc-provider not found above the working directory")
}

// sourceHash hashes the tool module's go.mod, go.sum and Go files.
func sourceHash(dir string) (string, error) {
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if n := d.Name(); strings.HasSuffix(n, ".go") || n == "go.mod" || n == "go.sum" {
			names = append(names, path)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	h := sha256.New()
	fmt.Fprintf(h, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(dir, n)
		fmt.Fprintf(h, "%s %d\n", rel, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
